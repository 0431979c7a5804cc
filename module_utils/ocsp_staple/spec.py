"""The certificate list and the rules about one entry: URLs, Must-Staple (names: names.py).

Ground layer: the central play (refresh, freeze, switch), the node play (deploy), the
monitoring check and the filters all read a certificate entry through this module, so a
name, a URL and the "Must-Staple without an OCSP URL" case are judged the same everywhere.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .aia import ocsp_urls
from .argspecs import LIFETIME
from .certs import CertPair, iso, load_pair, not_after
from .errors import CertificateError, InputError
from .names import check_name, check_names

#: state.json's ``not_applicable`` for a certificate without an OCSP URL (absent otherwise).
NO_URL = "no OCSP URL in the certificate and no responder_url"


def check_url(url: str, *, what: str = "responder URL") -> str:
    """Return ``url`` when it is an http or https URL with a host; InputError otherwise."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        raise InputError(f"{what} {url!r}: scheme {parsed.scheme or '(none)'!r} is not allowed (only http, https)")
    if not parsed.hostname:
        raise InputError(f"{what} {url!r}: no host")
    return url


def pick_url(override: str | None, ocsp_urls: Sequence[str]) -> str | None:
    """The first URL to ask (:func:`pick_urls`): the entry's ``responder_url`` override, else the first AIA URL."""
    return override or (ocsp_urls[0] if ocsp_urls else None)


def pick_urls(override: str | None, ocsp_urls: Sequence[str]) -> list[str]:
    """The URLs to ask, in order: the ``responder_url`` override alone, else each AIA OCSP URL once."""
    return [override] if override else list(dict.fromkeys(ocsp_urls))


def without_url(name: str, subject: str, *, must_staple: bool) -> tuple[bool, str]:
    """The rule for a certificate with nothing to ask: (failed, message).

    A Must-Staple certificate without an OCSP URL is a failure (hard-fail clients reject it
    without a staple); any other certificate without one is simply not applicable.
    """
    if must_staple:
        return True, (
            f"{name}: Must-Staple certificate {subject} has no OCSP URL and no responder_url: "
            "clients will reject it without a staple"
        )
    return False, f"{name}: {NO_URL}: nothing to staple"


def refuse_disabling_must_staple(name: str, *, must_staple: bool, force: bool) -> None:
    """The rule for switching stapling off: refused for a Must-Staple certificate unless forced
    (hard-fail clients then reject the site). ``plan.decide`` (the role) and ``central.switch``
    (the disable command) both ask it."""
    if must_staple and not force:
        raise InputError(
            f"refusing to disable OCSP stapling for {name}: the certificate is Must-Staple "
            "(TLS Feature status_request), so hard-fail clients will reject the site without a staple; "
            "set ocsp_stapling_force_disable_must_staple=true to proceed anyway"
        )


#: The argument_spec of one ``certificates`` entry (the modules' ``options``; doc fragment
#: ``ocsp_staple.certificates`` documents it).
CERTIFICATE_OPTIONS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "certificate": {"type": "path", "required": True},
    "issuer": {"type": "path"},
    "responder_url": {"type": "str"},
    LIFETIME: {"type": "str"},
}


@dataclass(frozen=True)
class CertificateSpec:
    """One entry of the ``certificates`` list."""

    name: str
    certificate: str
    issuer: str | None = None
    responder_url: str | None = None
    assume_lifetime_without_next_update: str | None = None  # a duration like 1h (central/asker.lifetime_of)


def certificate_record(spec: CertificateSpec | None) -> dict[str, Any] | None:
    """The certificate entry as state.json records it: ``ocsp-staple check --store`` reads the files from it."""
    if spec is None:
        return None
    return {
        "certificate": os.path.abspath(spec.certificate),
        "issuer": os.path.abspath(spec.issuer) if spec.issuer else None,
        "responder_url": spec.responder_url,
        **({LIFETIME: spec.assume_lifetime_without_next_update} if spec.assume_lifetime_without_next_update else {}),
    }


def parse_certificates(items: Any) -> list[CertificateSpec]:
    """Check the ``certificates`` list (dicts with name, certificate, issuer?, responder_url?, LIFETIME?)."""
    if not isinstance(items, list):
        raise InputError(f"certificates: expected a list of {{name, certificate}} entries, got {type(items).__name__}")
    if not items:
        raise InputError("certificates: the list is empty; give at least one {name, certificate} entry")
    specs: list[CertificateSpec] = []
    seen: set[str] = set()
    allowed = set(CERTIFICATE_OPTIONS)
    for index, item in enumerate(items):
        where = f"certificates[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a mapping with name and certificate, got {type(item).__name__}")
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise InputError(f"{where}: unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
        name = check_name(item.get("name"))
        if check_names([name], seen) is not None:
            raise InputError(f"{where}: certificate name {name!r} appears twice")
        certificate = item.get("certificate")
        if not isinstance(certificate, str) or not certificate:
            raise InputError(f"{where} ({name}): 'certificate' (a PEM file path) is required")
        issuer = item.get("issuer") or None
        url = item.get("responder_url") or None
        if url is not None:
            check_url(str(url), what=f"{where} ({name}) responder_url")
        lifetime = str(item[LIFETIME]) if item.get(LIFETIME) not in (None, "") else None
        specs.append(
            CertificateSpec(name, certificate, str(issuer) if issuer else None, str(url) if url else None, lifetime)
        )
    return specs


def load_certificate(spec: CertificateSpec, *, now: _dt.datetime) -> CertPair:
    """The entry's certificate pair; CertificateError when the leaf has expired (nothing to staple)."""
    pair = load_pair(spec.certificate, spec.issuer)
    expired = not_after(pair.leaf)
    if expired <= now:
        # A staple cannot help an expired certificate: clients reject the certificate itself.
        raise CertificateError(
            f"certificate file {spec.certificate}: {pair.subject} expired {iso(expired)}: renew it, nothing to staple"
        )
    return pair


def responder_url(spec: CertificateSpec, pair: CertPair) -> str | None:
    """The first URL to ask for this entry (:func:`pick_url`)."""
    return pick_url(spec.responder_url, ocsp_urls(pair.leaf))


def responder_urls(spec: CertificateSpec, pair: CertPair) -> list[str]:
    """Every URL to ask for this entry, in order (:func:`pick_urls`)."""
    return pick_urls(spec.responder_url, ocsp_urls(pair.leaf))


def load_certificates_file(path: str) -> list[CertificateSpec]:
    """The ``certificates`` list from a YAML or JSON file (a list, or a mapping with ``certificates``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputError(f"certificates file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:
            raise InputError(f"certificates file {path}: not JSON, and PyYAML is not installed to read YAML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"certificates file {path}: neither JSON nor YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict) and "certificates" in data:
        data = data["certificates"]
    return parse_certificates(data)
