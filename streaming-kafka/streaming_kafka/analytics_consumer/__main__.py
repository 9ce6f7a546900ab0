import sys

from streaming_kafka.analytics_consumer.app import main

sys.exit(main())
