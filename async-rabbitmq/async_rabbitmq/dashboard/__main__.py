import sys

from async_rabbitmq.dashboard.app import main

sys.exit(main())
