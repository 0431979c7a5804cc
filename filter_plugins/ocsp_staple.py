"""Jinja filters over the ocsp_staple core, for the role's templates and conditions.

Thin wrappers: every decision is made by the core (certs.py, policy.validate). Filters run
on the controller, where Ansible does not import the repository's ``module_utils`` (it only
ships it to targets), so this file puts ``<repo>/module_utils`` on ``sys.path`` and imports
the package ``ocsp_staple`` from there: the same copy of the code the modules use.

- ``pem | ocsp_urls`` -> list of the leaf's AIA OCSP URLs (empty: no OCSP, stapling off)
- ``pem | ocsp_must_staple`` -> bool (TLS Feature status_request)
- ``staple_b64 | ocsp_staple_verdict(cert_pem, issuer_pem=None, min_remaining='4h')`` -> the
  verdict dict of ``policy.validate`` (valid, problems, codes and every fact)
- ``certificates | ocsp_stapling_node(store_certificates, enabled=, force_disable_must_staple=, staple_dir=,
  snippet_dir=, verify_port=)`` -> the node's plan (``plan.plan``, refuses unsafe configurations) and
  its ocsp_deploy / ocsp_served_info work lists (``plan.node_items``)
- ``who | ocsp_operator`` -> ``who`` when set, else the controller's ``user@host`` (``audit.operator``:
  SUDO_USER, USER or LOGNAME), for the audit records of the emergency commands

A filter error is an ``AnsibleFilterError`` naming the filter and the input.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from typing import Any

from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from ocsp_staple import aia, certs, plan  # noqa: E402
from ocsp_staple.central.audit import local_operator  # noqa: E402
from ocsp_staple.der import from_base64  # noqa: E402
from ocsp_staple.durations import parse_duration  # noqa: E402
from ocsp_staple.errors import OcspStapleError  # noqa: E402
from ocsp_staple.policy import DEFAULT_CLOCK_SKEW, validate  # noqa: E402
from ocsp_staple.times import now_or  # noqa: E402


def _text(value: Any, filter_name: str, what: str) -> str | bytes:
    if isinstance(value, (str, bytes)):
        return value
    raise AnsibleFilterError(f"{filter_name}: {what} must be PEM text, got {type(value).__name__} {str(value)[:40]!r}")


def _leaf(pem: Any, filter_name: str) -> Any:
    text = _text(pem, filter_name, "certificate")
    data = text.encode() if isinstance(text, str) else text
    try:
        return certs.parse_pem_certificates(data, what=f"{filter_name}: certificate PEM")[0]
    except OcspStapleError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ocsp_urls(pem: Any) -> list[str]:
    """The OCSP responder URLs of the (first) certificate in ``pem``."""
    return aia.ocsp_urls(_leaf(pem, "ocsp_urls"))


def ocsp_must_staple(pem: Any) -> bool:
    """True when the (first) certificate in ``pem`` carries Must-Staple."""
    return aia.is_must_staple(_leaf(pem, "ocsp_must_staple"))


def ocsp_staple_verdict(
    staple_b64: Any,
    certificate_pem: Any,
    issuer_pem: Any = None,
    *,
    min_remaining: str | int = "4h",
    clock_skew: str | int = DEFAULT_CLOCK_SKEW,
    name: str | None = None,
    now: str | _dt.datetime | None = None,
) -> dict[str, Any]:
    """The verdict of ``policy.validate`` for a base64 DER staple, as a dict.

    In Jinja: ``staple | ocsp_staple_verdict(cert_pem, issuer_pem, min_remaining='12h')``.

    ``now`` (ISO 8601 or an aware datetime) replaces the controller's clock, for reproducible checks.
    """
    filter_name = "ocsp_staple_verdict"
    try:
        data = from_base64(staple_b64, what=f"{filter_name}: staple")
    except OcspStapleError as exc:
        raise AnsibleFilterError(str(exc)) from None
    cert = _text(certificate_pem, filter_name, "certificate")
    issuer = _text(issuer_pem, filter_name, "issuer") if issuer_pem else None
    try:
        pair = certs.load_pair_from_pem(cert, issuer)
        verdict = validate(
            data,
            pair,
            now=_now(now, filter_name),
            min_remaining=parse_duration(min_remaining, what="min_remaining"),
            clock_skew=parse_duration(clock_skew, what="clock_skew"),
            name=name,
        )
    except OcspStapleError as exc:
        raise AnsibleFilterError(f"{filter_name}: {exc}") from None
    return verdict.as_dict()


def ocsp_stapling_node(
    certificates: Any,
    store_certificates: Any,
    *,
    enabled: bool = True,
    force_disable_must_staple: bool = False,
    staple_dir: str = "/etc/nginx/ocsp",
    snippet_dir: str = "/etc/nginx/snippets",
    verify_port: int = 443,
    held: Any = None,
    server: str = "nginx",
) -> dict[str, Any]:
    """The node's plan and work lists: ``{plan: {name: {stapled, reason}}, deploy: [...], checks: [...]}``.

    ``store_certificates`` is ``ocsp_store_info``'s ``certificates`` read with the certificate
    entries (staple, frozen, disabled, ocsp_urls, must_staple). ``plan.plan`` decides on/off and
    refuses - as an AnsibleFilterError - disabling a Must-Staple certificate without force and a
    shared server block with a stapled certificate; ``plan.node_items`` builds the lists. ``held``:
    the names whose central refresh failed in this run (kept as they are on the node).
    """
    filter_name = "ocsp_stapling_node"
    if not isinstance(certificates, list) or not isinstance(store_certificates, dict):
        raise AnsibleFilterError(f"{filter_name}: expected the certificate list and ocsp_store_info's certificates")
    facts = {}
    for cert in certificates:
        name = cert.get("name") if isinstance(cert, dict) else None
        stored = store_certificates.get(name)
        if not isinstance(stored, dict) or "ocsp_urls" not in stored:
            raise AnsibleFilterError(
                f"{filter_name}: certificate {name!r}: ocsp_store_info has no certificate facts for it "
                "(call it with the certificates option)"
            )
        facts[name] = {"ocsp_urls": stored["ocsp_urls"], "must_staple": stored.get("must_staple", False)}
    try:
        decisions = plan.plan(
            certificates,
            facts,
            store_certificates,
            enabled=bool(enabled),
            force_disable_must_staple=bool(force_disable_must_staple),
            server=str(server),
        )
        return plan.node_items(
            certificates,
            store_certificates,
            decisions,
            staple_dir=str(staple_dir),
            snippet_dir=str(snippet_dir),
            verify_port=int(verify_port),
            held=frozenset(str(name) for name in held or ()),
            server=str(server),
        )
    except (OcspStapleError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(
            f"{filter_name}: {exc}" if not isinstance(exc, OcspStapleError) else str(exc)
        ) from None


def ocsp_operator(who: Any = None) -> str:
    """``who`` when it is a non-empty string, else the controller's user and host (filters run on the controller)."""
    if isinstance(who, str) and who.strip():
        return who.strip()
    return local_operator()


def _now(value: str | _dt.datetime | None, filter_name: str) -> _dt.datetime:
    try:
        return now_or(value, what=f"{filter_name}: now", naive="refuse")
    except OcspStapleError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """ocsp_urls, ocsp_must_staple, ocsp_staple_verdict, ocsp_stapling_node, ocsp_operator (see also ocsp_estate.py)."""

    def filters(self) -> dict[str, Any]:
        return {
            "ocsp_urls": ocsp_urls,
            "ocsp_must_staple": ocsp_must_staple,
            "ocsp_staple_verdict": ocsp_staple_verdict,
            "ocsp_stapling_node": ocsp_stapling_node,
            "ocsp_operator": ocsp_operator,
        }
