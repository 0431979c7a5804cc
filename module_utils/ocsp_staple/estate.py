"""Estates: several clusters with their own certificate lists, and the role's variables.

Ground layer, used by the role's filters on the controller (``filter_plugins/ocsp_estate.py``);
no module ships it. :func:`union_certificates` is the one rule for what the central host works
for when every node has its own list; :func:`unknown_variables` names a misspelt role variable.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import InputError
from .names import check_name

#: The entry keys that say which certificate a name means on the central host (what it fetches for).
CENTRAL_KEYS = ("name", "certificate", "issuer", "responder_url", "assume_lifetime_without_next_update")


def union_certificates(lists: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The certificates the central host works for: the union of every host's list, by name.

    ``lists`` maps a source (a host of ``ocsp_nodes``, or ``ocsp_stapling_central_certificates``)
    to its ``ocsp_stapling_certificates``. Each result entry keeps only :data:`CENTRAL_KEYS`, in
    the order first seen. One name must mean one certificate: two sources that give the same
    name a different value of another central key (``certificate``, ``issuer``, ...) are refused in one error
    that names both sources and both values (per-node paths such as ``node_certificate`` may differ).
    """
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    conflicts: dict[str, str] = {}
    for source, certificates in lists.items():
        if certificates is None:
            continue
        if not isinstance(certificates, Sequence) or isinstance(certificates, (str, bytes)):
            raise InputError(f"{source}: ocsp_stapling_certificates must be a list, got {type(certificates).__name__}")
        for entry in certificates:
            if not isinstance(entry, Mapping):
                raise InputError(f"{source}: ocsp_stapling_certificates entry must be a dict, got {entry!r}")
            name = check_name(entry.get("name"))
            central = {key: entry[key] for key in CENTRAL_KEYS if entry.get(key) not in (None, "")}
            if name not in seen:
                seen[name] = (source, central)
                continue
            first_source, first = seen[name]
            differs = [key for key in CENTRAL_KEYS[1:] if first.get(key) != central.get(key)]
            if differs and name not in conflicts:
                what = " and ".join(
                    f"{key} {first.get(key)!r} on {first_source} but {central.get(key)!r} on {source}"
                    for key in differs
                )
                conflicts[name] = f"certificate name {name!r} means two certificates: {what}"
    if conflicts:
        raise InputError(
            "; ".join(conflicts.values()) + " (one name must be one certificate everywhere: rename one of them, "
            "or set ocsp_stapling_central_certificates)"
        )
    return [entry for _source, entry in seen.values()]


def unknown_variables(names: Iterable[str], known: Iterable[str], *, prefix: str = "ocsp_stapling_") -> list[str]:
    """One line per ``prefix*`` name in ``names`` that is not in ``known``, naming the closest known one."""
    known_set = set(known)
    lines = []
    for name in sorted(set(names)):
        if not name.startswith(prefix) or name in known_set:
            continue
        # Compared without the prefix every name shares, else any two names look alike.
        tails = sorted(k[len(prefix) :] for k in known_set if k.startswith(prefix))
        close = difflib.get_close_matches(name[len(prefix) :], tails, n=1, cutoff=0.6)
        hint = f"did you mean {prefix}{close[0]}?" if close else "no role variable is close to it"
        lines.append(f"unknown variable {name}: the ocsp_stapling role has no such variable; {hint}")
    return lines
