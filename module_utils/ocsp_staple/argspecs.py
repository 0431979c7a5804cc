"""The argument_spec pieces the Ansible modules (library/) share, each documented once by the doc
fragment named beside it (doc_fragments/ocsp_staple.py). Ground layer, plain data, no imports:
a node module ships nothing more for it. The central modules' ``certificates`` entries are
spec.CERTIFICATE_OPTIONS (fragment ``ocsp_staple.certificates``).
"""

from __future__ import annotations

from typing import Any

#: The option key of a response's assumed lifetime without nextUpdate: module-wide (POLICY) and per
#: certificate (spec.CERTIFICATE_OPTIONS, node checks and deploy entries).
LIFETIME = "assume_lifetime_without_next_update"

#: The certificate pair a staple is judged against (fragment ``ocsp_staple``, with POLICY).
PAIR: dict[str, dict[str, Any]] = {
    "certificate": {"type": "path", "required": True},
    "issuer": {"type": "path"},
    "name": {"type": "str"},
}

#: The thresholds of the validation policy (fragment ``ocsp_staple.policy``).
POLICY: dict[str, dict[str, Any]] = {
    "min_remaining": {"type": "str", "default": "4h"},
    "clock_skew": {"type": "str", "default": "5m"},
    LIFETIME: {"type": "str"},
}

#: The central store directory (fragment ``ocsp_staple.store``).
STORE: dict[str, dict[str, Any]] = {
    "store": {"type": "path", "required": True},
}

#: How the central modules ask the CA, judge its answers and report (fragment ``ocsp_staple.fetch``).
FETCH: dict[str, dict[str, Any]] = {
    "timeout": {"type": "str", "default": "10s"},
    "deadline": {"type": "str", "default": "120s"},
    "critical_remaining": {"type": "str", "default": "6h"},
    "proxy": {"type": "str"},
    "metrics_path": {"type": "path"},
}

#: A change to the central store: where, who, for which certificates and why (fragment ``ocsp_staple.audit``).
AUDIT: dict[str, dict[str, Any]] = {
    **STORE,
    "names": {"type": "list", "elements": "str"},
    "reason": {"type": "str"},
    "who": {"type": "str"},
}

#: Owner, group and mode of the staple files a node module writes (fragment ``ocsp_staple.files``).
FILES: dict[str, dict[str, Any]] = {
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "str", "default": "0644"},
}
