"""Certificate names: one safe path component each, no name listed twice.

Ground layer, and deliberately small: the node's modules ship it, so they judge a name
exactly as the central store does without shipping the rest of the certificate list's rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import InputError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def is_name(value: object) -> bool:
    """True when ``value`` is a valid certificate name (see :func:`check_name`)."""
    return isinstance(value, str) and bool(NAME_PATTERN.fullmatch(value)) and ".." not in value


def check_name(name: object) -> str:
    """A certificate name is one safe path component: ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``, no ``..``."""
    if not is_name(name):
        raise InputError(
            f"certificate name {name!r}: must be 1-128 characters of A-Z a-z 0-9 . _ -, "
            "start with a letter or digit and not contain '..'"
        )
    return name  # type: ignore[return-value]


def check_names(names: Sequence[object], seen: set[str] | None = None) -> tuple[int, str] | None:
    """Check every name (:func:`check_name`); return (index, name) of the first one listed twice, else None.

    The one rule for a certificate list's names; each caller words the duplicate for its input.
    ``seen`` carries the names already accepted across calls, so a caller that checks a list
    entry by entry (and so reports errors in list order) stays linear.
    """
    if seen is None:
        seen = set()
    for index, name in enumerate(names):
        checked = check_name(name)
        if checked in seen:
            return index, checked
        seen.add(checked)
    return None
