"""``python -m graphexec``: the ``graphexec`` command."""

import sys

from .cli import main

sys.exit(main())
