"""Jinja filters over the ocsp_staple core, for the role's templates and conditions.

Thin wrappers: every decision is made by the core (certs.py, policy.validate). Filters run
on the controller, where Ansible does not import the repository's ``module_utils`` (it only
ships it to targets), so this file puts ``<repo>/module_utils`` on ``sys.path`` and imports
the package ``ocsp_staple`` from there: the same copy of the code the modules use.

- ``pem | ocsp_urls`` -> list of the leaf's AIA OCSP URLs (empty: no OCSP, stapling off)
- ``pem | ocsp_must_staple`` -> bool (TLS Feature status_request)
- ``staple_b64 | ocsp_staple_verdict(cert_pem, issuer_pem=None, min_remaining='4h')`` -> the
  verdict dict of ``policy.validate`` (valid, problems, codes and every fact)
- ``certificates | ocsp_stapling_plan(slurped_pems, store_certificates, enabled=, force_disable_must_staple=)``
  -> ``{name: {stapled, reason}}`` from ``plan.plan`` (refuses unsafe configurations)
- ``who | ocsp_operator`` -> ``who`` when set, else the controller's ``user@host`` (``freeze.operator``:
  SUDO_USER, USER or LOGNAME), for the audit records of the emergency commands

A filter error is an ``AnsibleFilterError`` naming the filter and the input.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import os
import sys
from typing import Any

from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from ocsp_staple import certs, freeze, plan  # noqa: E402
from ocsp_staple.durations import parse_duration  # noqa: E402
from ocsp_staple.errors import OcspStapleError  # noqa: E402
from ocsp_staple.policy import DEFAULT_CLOCK_SKEW, validate  # noqa: E402


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
    return certs.ocsp_urls(_leaf(pem, "ocsp_urls"))


def ocsp_must_staple(pem: Any) -> bool:
    """True when the (first) certificate in ``pem`` carries Must-Staple."""
    return certs.is_must_staple(_leaf(pem, "ocsp_must_staple"))


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
    if not isinstance(staple_b64, (str, bytes)):
        raise AnsibleFilterError(f"{filter_name}: staple must be base64 text, got {type(staple_b64).__name__}")
    try:
        data = base64.b64decode(staple_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError(f"{filter_name}: staple is not base64 ({exc}): starts {staple_b64[:16]!r}") from None
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


def ocsp_stapling_plan(
    certificates: Any,
    pem_results: Any,
    store_certificates: Any,
    *,
    enabled: bool = True,
    force_disable_must_staple: bool = False,
) -> dict[str, Any]:
    """Stapling on/off per certificate, with the reason (``plan.plan`` decides).

    ``pem_results`` are the ``slurp`` results of the certificates (``item.name`` + base64
    ``content``); ``store_certificates`` is ``ocsp_store_info``'s ``certificates`` (``frozen``).
    Refuses, as an AnsibleFilterError, disabling a Must-Staple certificate without force and two
    stapled certificates in one nginx server block.
    """
    filter_name = "ocsp_stapling_plan"
    if not isinstance(certificates, list) or not isinstance(pem_results, list):
        raise AnsibleFilterError(f"{filter_name}: expected lists of certificates and slurp results")
    facts = {}
    for result in pem_results:
        name = result.get("item", {}).get("name")
        try:
            pem = base64.b64decode(result["content"])
        except (KeyError, binascii.Error, ValueError) as exc:
            raise AnsibleFilterError(
                f"{filter_name}: certificate {name}: slurp result has no base64 content ({exc})"
            ) from None
        leaf = _leaf(pem, f"{filter_name}: certificate {name}")
        facts[name] = {"ocsp_urls": certs.ocsp_urls(leaf), "must_staple": certs.is_must_staple(leaf)}
    try:
        return plan.plan(
            certificates,
            facts,
            store_certificates or {},
            enabled=bool(enabled),
            force_disable_must_staple=bool(force_disable_must_staple),
        )
    except OcspStapleError as exc:
        raise AnsibleFilterError(str(exc)) from None


def ocsp_operator(who: Any = None) -> str:
    """``who`` when it is a non-empty string, else the controller's user and host (filters run on the controller)."""
    if isinstance(who, str) and who.strip():
        return who.strip()
    return freeze.local_operator()


def _now(value: str | _dt.datetime | None, filter_name: str) -> _dt.datetime:
    if value is None:
        return _dt.datetime.now(_dt.UTC)
    if isinstance(value, _dt.datetime):
        parsed = value
    else:
        try:
            parsed = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise AnsibleFilterError(
                f"{filter_name}: now must be ISO 8601 like 2026-03-01T12:00Z, got {value!r}"
            ) from None
    if parsed.tzinfo is None:
        raise AnsibleFilterError(f"{filter_name}: now must carry a timezone, got {value!r}")
    return parsed


class FilterModule:
    """ocsp_urls, ocsp_must_staple, ocsp_staple_verdict, ocsp_stapling_plan, ocsp_operator."""

    def filters(self) -> dict[str, Any]:
        return {
            "ocsp_urls": ocsp_urls,
            "ocsp_must_staple": ocsp_must_staple,
            "ocsp_staple_verdict": ocsp_staple_verdict,
            "ocsp_stapling_plan": ocsp_stapling_plan,
            "ocsp_operator": ocsp_operator,
        }
