"""Durations as operators type them: ``4h``, ``90m``, ``1d12h``, ``300`` (thresholds: monitor/check.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .argspecs import LIFETIME
from .errors import InputError

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(min|s|m|h|d|w)")


def parse_duration(value: str | int | float, *, what: str = "duration") -> int:
    """Seconds in ``value``: a number of seconds or a sequence like ``1d12h``, ``45m``, ``30s``."""
    if isinstance(value, bool):
        raise InputError(f"{what}: expected a duration like 4h or 300, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise InputError(f"{what}: must not be negative, got {value!r}")
        return int(value)
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+", text):
        return int(text)
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if text[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos == 0 or text[pos:].strip():
        raise InputError(f"{what}: expected a duration like 4h, 90m, 1d12h or seconds, got {value!r}")
    return int(total)


def assumed_lifetime(own: str | int | None, default: int | None, *, what: str) -> int | None:
    """Seconds of ``assume_lifetime_without_next_update`` for one certificate (policy.validate's
    ``assume_lifetime``): its own setting when given (``0`` turns it off for that certificate),
    else ``default`` (the run's or the role's); None: a response without nextUpdate is refused.

    The one rule, for the central refresh and freeze, the node's re-validation and the checks.
    """
    if own is None or own == "":
        return default
    return parse_duration(own, what=what) or None


def policy_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """policy.validate's thresholds from the modules' shared options (argspecs.POLICY), in seconds:
    ``min_remaining``, ``clock_skew`` and ``assume_lifetime`` (None: off)."""
    return {
        "min_remaining": parse_duration(params["min_remaining"], what="min_remaining"),
        "clock_skew": parse_duration(params["clock_skew"], what="clock_skew"),
        "assume_lifetime": assumed_lifetime(
            params.get(LIFETIME), None, what=LIFETIME
        ),
    }
