"""Test bed: a demo PKI on disk and fleets of real nginx nodes on 127.0.0.1.

Used by the tests, the local demo (``make demo``), molecule and the benchmarks. Nothing
here is used on the production path; the keys it writes are test material.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The repository's core (module_utils/ocsp_staple) is importable as ``ocsp_staple``.
REPO = Path(__file__).resolve().parent.parent
if str(REPO / "module_utils") not in sys.path:
    sys.path.insert(0, str(REPO / "module_utils"))
