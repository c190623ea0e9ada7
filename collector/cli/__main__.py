"""``python -m collector.cli``: the ``fleetwatch`` command."""

import sys

from collector.cli import main

sys.exit(main())
