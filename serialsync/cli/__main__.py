"""`python -m serialsync.cli ...`, as `serialsync ...`."""

import sys

from . import main

sys.exit(main())
