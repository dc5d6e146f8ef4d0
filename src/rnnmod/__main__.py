"""``python -m rnnmod`` = the ``rnnmod`` command."""

import sys

from rnnmod.cli import main

sys.exit(main())
