"""`python -m serialsync`: the same command line as the `serialsync` script."""

import sys

from .cli import main

sys.exit(main())
