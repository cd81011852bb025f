import sys

from stepwise_client.cli import main

sys.exit(main())
