"""``python -m journeys.cli``: the ``journeys`` command."""

import sys

from journeys.cli.main import main

sys.exit(main())
