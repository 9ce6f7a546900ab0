import sys

from streaming_kafka.dashboard.app import main

sys.exit(main())
