import sys

from async_rabbitmq.order_service.app import main

sys.exit(main())
