"""Documentation stays in step with the code."""

from __future__ import annotations

import re

import pytest
from ocsp_staple.policy import PROBLEM_CODES

from ..conftest import REPO

pytestmark = pytest.mark.node  # core only: also runs on Debian's python3-cryptography


def test_every_problem_code_is_documented_and_nothing_else() -> None:
    text = (REPO / "docs" / "PROBLEM_CODES.md").read_text().split("## Effective expiry")[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    assert documented == set(PROBLEM_CODES)
