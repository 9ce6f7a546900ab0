import sys

from streaming_kafka.inventory_consumer.app import main

sys.exit(main())
