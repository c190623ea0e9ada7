"""``python -m agent``: the ``fleetwatch-agent`` command."""

import sys

from agent.cli import main

sys.exit(main())
