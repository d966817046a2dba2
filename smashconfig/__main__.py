"""``python -m smashconfig``."""

import sys

from smashconfig.cli import main

sys.exit(main())
