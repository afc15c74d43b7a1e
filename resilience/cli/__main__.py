"""``python -m resilience.cli``: the same command as the installed ``resilience`` script."""

import sys

from resilience.cli.main import main

sys.exit(main())
