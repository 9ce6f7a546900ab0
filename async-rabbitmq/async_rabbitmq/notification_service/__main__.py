import sys

from async_rabbitmq.notification_service.app import main

sys.exit(main())
