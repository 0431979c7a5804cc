"""``python -m ocsp_staple`` runs the CLI (nodes without the console script use this)."""

from .cli import main

if __name__ == "__main__":  # importing it (ansible-test's import sanity test does) runs nothing
    raise SystemExit(main())
