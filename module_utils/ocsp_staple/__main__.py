"""``python -m ocsp_staple`` runs the CLI (nodes without the console script use this)."""

import sys

from .cli import main

sys.exit(main())
