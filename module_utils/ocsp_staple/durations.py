"""Durations as operators type them: ``4h``, ``90m``, ``1d12h``, ``300`` (thresholds: monitor/check.py)."""

from __future__ import annotations

import re

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
