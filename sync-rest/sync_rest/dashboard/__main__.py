import sys

from sync_rest.dashboard.app import main

sys.exit(main())
