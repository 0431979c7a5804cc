"""``python -m ocsp_staple`` runs the CLI (nodes without the console script use this)."""

from .cli import main

raise SystemExit(main())
