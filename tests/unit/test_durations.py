from __future__ import annotations

import pytest
from ocsp_staple.durations import parse_duration
from ocsp_staple.errors import InputError
from ocsp_staple.monitor.check import Threshold, parse_threshold

pytestmark = pytest.mark.node  # core only: also runs on Debian's python3-cryptography


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300", 300),
        (300, 300),
        ("4h", 14400),
        ("90m", 5400),
        ("45min", 2700),
        ("1d12h", 129600),
        ("2w", 1209600),
        ("1h 30m", 5400),
        ("30s", 30),
    ],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "4x", "h4", "-5", "4h junk", True])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(InputError, match=r"expected a duration|must not be negative"):
        parse_duration(text)  # type: ignore[arg-type]


def test_threshold_percent_resolves_against_window() -> None:
    assert parse_threshold("40%").resolve(43200) == 17280
    assert parse_threshold("6h") == Threshold(seconds=21600)
    with pytest.raises(InputError, match="between 0 and 100"):
        parse_threshold("140%")
