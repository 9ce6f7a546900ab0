import sys

from async_rabbitmq.inventory_service.app import main

sys.exit(main())
