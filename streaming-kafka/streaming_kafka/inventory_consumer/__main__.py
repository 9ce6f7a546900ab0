import sys

from common.errors import exit_status
from streaming_kafka.inventory_consumer.app import main

sys.exit(exit_status(main))
