"""The validation policy: one function, one verdict (DESIGN.md, "The validation policy").

:func:`validate` never raises for a bad response. It runs every check every time and
reports every problem it finds, each as a stable machine code plus one sentence naming
the values. A check that cannot say yes says no: the verdict is valid only when no
problem was found.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509 import ocsp
except ImportError:  # the modules name a missing or old cryptography first (requires.py)
    pass

from .certs import (
    CertId,
    CertPair,
    CertProfile,
    is_signed_by,
    iso,
    name_key,
    profile,
    same_name,
    subject_text,
    verify_signature,
)
from .compat import require_aware, utc
from .der import DerError, outer_length
from .ocspder import MGF1, RSASSA_PSS, ResponseParts, pss_params, response_parts

DEFAULT_CLOCK_SKEW = 300
DEFAULT_MIN_REMAINING = 4 * 3600

#: Every problem code the policy can report, with what it means (docs/PROBLEM_CODES.md mirrors this).
PROBLEM_CODES: dict[str, str] = {
    "empty": "the staple is empty (0 bytes)",
    "malformed": "the bytes are not a DER OCSPResponse",
    "trailing_data": "bytes follow the DER OCSPResponse",
    "malformed_request": "responseStatus malformedRequest (1)",
    "internal_error": "responseStatus internalError (2)",
    "try_later": "responseStatus tryLater (3) - the 5-byte answer of the 2015 incident",
    "sig_required": "responseStatus sigRequired (5)",
    "unauthorized": "responseStatus unauthorized (6)",
    "cert_id_mismatch": "no SingleResponse matches the certificate's CertID (serial, issuer name hash, key hash)",
    "unsupported_cert_id_hash": "no SingleResponse matches and some use a CertID hash the library cannot compute",
    "revoked": "certStatus revoked - an alarm, the certificate must be replaced",
    "unknown_status": "certStatus unknown - the responder does not know the certificate",
    "unsupported_signature_algorithm": "the signatureAlgorithm (or its RSASSA-PSS parameters) is not one verified here",
    "unknown_critical_extension": "a critical response or SingleResponse extension that is unrecognised (RFC 6960 4.4)",
    "unreadable_certificate": "a certificate of the response's certs field (outside the signature) cannot be read",
    "bad_signature": "the response signature does not verify with the issuer or the included responder certificate",
    "untrusted_signer": "the signer is neither the issuer nor a responder certificate issued and signed by it",
    "signer_missing_ocsp_eku": "the delegated responder certificate lacks EKU id-kp-OCSPSigning",
    "signer_not_yet_valid": "the signer certificate's notBefore is in the future",
    "signer_expired": "the signer certificate's notAfter has passed",
    "signer_expires_too_soon": "the signer certificate expires within min_remaining",
    "this_update_in_future": "thisUpdate is later than now + clock_skew",
    "next_update_missing": "nextUpdate is absent (no end of validity to staple against)",
    "next_update_before_this_update": "nextUpdate is not after thisUpdate",
    "expired": "nextUpdate has passed",
    "expires_too_soon": "nextUpdate is within min_remaining",
}

#: Problem code per unsuccessful responseStatus (the names of cryptography's ``ocsp.OCSPResponseStatus``).
_STATUS_CODES = {
    "MALFORMED_REQUEST": "malformed_request",
    "INTERNAL_ERROR": "internal_error",
    "TRY_LATER": "try_later",
    "SIG_REQUIRED": "sig_required",
    "UNAUTHORIZED": "unauthorized",
}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass(slots=True)
class Facts:
    """What the response says, as far as it could be read. Datetimes are aware UTC."""

    size: int = 0
    response_status: str | None = None
    status: str | None = None
    this_update: _dt.datetime | None = None
    next_update: _dt.datetime | None = None
    produced_at: _dt.datetime | None = None
    revocation_time: _dt.datetime | None = None
    signer: str | None = None
    signer_delegated: bool | None = None
    signer_not_after: _dt.datetime | None = None
    expires_at: _dt.datetime | None = None
    remaining_seconds: int | None = None
    cert_id: CertId | None = None
    #: Seconds after thisUpdate taken as nextUpdate for a response without one (``assume_lifetime``), else None.
    assumed_lifetime: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.__dataclass_fields__:
            value = getattr(self, key)
            if isinstance(value, _dt.datetime):
                value = iso(value)
            elif isinstance(value, CertId):
                value = value.as_dict()
            out[key] = value
        return out


@dataclass(slots=True)
class Verdict:
    valid: bool
    problems: list[Problem] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def summary(self) -> str:
        """One line: the first problem's sentence, or why the staple is good."""
        if self.problems:
            more = f" (+{len(self.problems) - 1} more: {', '.join(self.codes[1:])})" if len(self.problems) > 1 else ""
            return self.problems[0].message + more
        f = self.facts
        return f"good, expires {iso(f.expires_at)} ({human_duration(f.remaining_seconds or 0)} left)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "codes": self.codes,
            **self.facts.as_dict(),
        }


def human_duration(seconds: float) -> str:
    """``47 min``, ``11 h``, ``3 d 4 h`` — for status lines read at 3 a.m."""
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds} s"
    if seconds < 2 * 3600:
        return f"{sign}{seconds // 60} min"
    if seconds < 2 * 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{sign}{hours} h" + (f" {rest // 60} min" if hours < 10 and rest >= 60 else "")
    days, rest = divmod(seconds, 86400)
    return f"{sign}{days} d" + (f" {rest // 3600} h" if rest >= 3600 else "")


#: Extensions this policy recognises (RFC 6960 4.4, RFC 5280 5.3, RFC 6962 3.3): accepted even when critical.
RESPONSE_EXTENSIONS = {
    "1.3.6.1.5.5.7.48.1.2": "nonce",
    "1.3.6.1.5.5.7.48.1.3": "CRL references",
    "1.3.6.1.5.5.7.48.1.6": "archive cutoff",
    "1.3.6.1.5.5.7.48.1.9": "extended revoked definition",
}
SINGLE_EXTENSIONS = {
    "1.3.6.1.5.5.7.48.1.3": "CRL references",
    "1.3.6.1.5.5.7.48.1.6": "archive cutoff",
    "2.5.29.21": "CRL reason",
    "2.5.29.24": "invalidity date",
    "1.3.6.1.4.1.11129.2.4.5": "SCT list",
}
#: RSASSA-PSS hash OIDs, each with its class name in cryptography's ``hashes``.
_PSS_HASHES: dict[str, str] = {
    "1.3.14.3.2.26": "SHA1",
    "2.16.840.1.101.3.4.2.4": "SHA224",
    "2.16.840.1.101.3.4.2.1": "SHA256",
    "2.16.840.1.101.3.4.2.2": "SHA384",
    "2.16.840.1.101.3.4.2.3": "SHA512",
}


def _shown(attribute: x509.NameAttribute[Any], other: x509.NameAttribute[Any]) -> str:
    """The value, non-ASCII escaped (look-alike letters show), with its string type when the two differ."""
    kind, other_kind = (getattr(getattr(a, "_type", None), "name", "?") for a in (attribute, other))
    return ascii(attribute.value) + (f" ({kind})" if kind != other_kind else "")


def name_difference(a: x509.Name, b: x509.Name) -> str:
    """Where ``a`` and ``b`` differ by RFC 5280 7.1 (certs.same_name): ``RDN #1 CN 'Test CB' vs 'Test CA'``."""
    for index, (rdn_a, rdn_b) in enumerate(zip(a.rdns, b.rdns, strict=False)):
        if name_key(x509.Name([rdn_a])) != name_key(x509.Name([rdn_b])):
            (first_a, *more_a), (first_b, *more_b) = list(rdn_a), list(rdn_b)
            if more_a or more_b or first_a.oid != first_b.oid:
                return f"RDN #{index + 1} {rdn_a.rfc4514_string()} vs {rdn_b.rfc4514_string()}"
            label = first_a.rfc4514_string().split("=", 1)[0]
            return f"RDN #{index + 1} {label} {_shown(first_a, first_b)} vs {_shown(first_b, first_a)}"
    return f"{len(a.rdns)} RDNs vs {len(b.rdns)}"


def _describe_responder_id(response: ocsp.OCSPResponse) -> str:
    by_name = response.responder_name
    if by_name is not None:
        return f"byName {by_name.rfc4514_string()}"
    by_key = response.responder_key_hash
    return f"byKey {by_key.hex() if by_key else '?'}"


def _find_signer(
    response: ocsp.OCSPResponse, pair: CertPair, included: list[tuple[x509.Certificate, CertProfile]]
) -> list[x509.Certificate]:
    """Certificates the ResponderID designates: the issuer and/or included certificates (names per RFC 5280 7.1)."""
    by_name = response.responder_name
    by_key = response.responder_key_hash

    def matches(cert: x509.Certificate, facts: CertProfile) -> bool:
        if by_name is not None:
            return same_name(by_name, cert.subject)
        return facts.key_sha1 == by_key

    candidates = [pair.issuer] if matches(pair.issuer, pair.issuer_profile) else []
    return candidates + [cert for cert, facts in included if cert != pair.issuer and matches(cert, facts)]


def _pss(params: bytes | None) -> tuple[padding.PSS, hashes.HashAlgorithm] | str:
    """Padding and hash of an RSASSA-PSS signatureAlgorithm (RFC 4055), or why it is not supported."""
    try:
        p = pss_params(params)
    except DerError as exc:
        return f"RSASSA-PSS parameters unreadable: {exc}"
    digest, mgf_digest = _PSS_HASHES.get(p.hash_oid), _PSS_HASHES.get(p.mgf_hash_oid or "")
    if digest is None:
        return f"RSASSA-PSS hash {p.hash_oid} is not supported"
    if p.mgf_oid != MGF1 or mgf_digest is None:
        return f"RSASSA-PSS mask generation {p.mgf_oid} with hash {p.mgf_hash_oid} is not supported (MGF1, SHA-1/2)"
    if p.trailer_field != 1 or not 0 <= p.salt_length <= 1024:
        return f"RSASSA-PSS saltLength {p.salt_length} / trailerField {p.trailer_field} is not supported"
    mgf = padding.MGF1(getattr(hashes, mgf_digest)())
    return padding.PSS(mgf=mgf, salt_length=p.salt_length), getattr(hashes, digest)()


def _verify(key: Any, response: ocsp.OCSPResponse, pss: tuple[padding.PSS, hashes.HashAlgorithm] | None) -> bool:
    if pss is None:
        return verify_signature(
            key,
            response.signature,
            response.tbs_response_bytes,
            _signature_hash(response),
            response.signature_algorithm_oid,
        )
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(response.signature, response.tbs_response_bytes, *pss)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _signature_hash(response: ocsp.OCSPResponse) -> hashes.HashAlgorithm | None:
    try:
        return response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None


def _cert_id(pair: CertPair, algorithm: hashes.HashAlgorithm) -> CertId | None:
    """The leaf's CertID in ``algorithm`` (any hash the library names and hashlib computes), None otherwise."""
    try:
        return pair.cert_id(algorithm.name)
    except (ValueError, TypeError):  # InputError is a ValueError
        return None


def _critical(extensions: list[tuple[str, bool]], known: dict[str, str]) -> list[str]:
    return [oid for oid, critical in extensions if critical and oid not in known]


def validate(
    data: bytes,
    pair: CertPair,
    *,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    name: str | None = None,
    assume_lifetime: int | None = None,
) -> Verdict:
    """Apply every check of the policy to ``data`` for ``pair``'s leaf at time ``now``.

    ``assume_lifetime`` (seconds, opt-in for private responders): a response without nextUpdate
    is taken to end at thisUpdate + that long, shown as ``next_update`` with ``assumed_lifetime``
    set in the facts and named in every message about the window. None (the default) refuses it.
    Never raises for bad bytes: whatever the library cannot read becomes a problem.
    """
    now = require_aware(now)
    if assume_lifetime is not None and (isinstance(assume_lifetime, bool) or assume_lifetime <= 0):
        raise ValueError(f"assume_lifetime must be a positive number of seconds or None, got {assume_lifetime!r}")
    problems: list[Problem] = []
    facts = Facts(size=len(data))

    def problem(code: str, message: str) -> None:
        problems.append(Problem(code, f"staple for {name or pair.subject}: {message}"))

    reading = ["the response"]  # what _check reads now: named when the library refuses it
    try:
        _check(data, pair, problem, facts, reading, now=now, limits=(min_remaining, clock_skew, assume_lifetime))
    except Exception as exc:  # fail closed: whatever the library cannot read is a problem, never a traceback
        problem("malformed", f"{reading[0]} cannot be read ({type(exc).__name__}: {exc})")
    return Verdict(valid=not problems, problems=problems, facts=facts)


def _next_text(facts: Facts) -> str:
    """``nextUpdate 2026-03-08T11:00:00Z``, or the assumed end of the window and why."""
    if facts.assumed_lifetime is None:
        return f"nextUpdate {iso(facts.next_update)}"
    return (
        f"assumed end {iso(facts.next_update)} (thisUpdate + {human_duration(facts.assumed_lifetime)}; "
        "the response has no nextUpdate)"
    )


def _check(
    data: bytes,
    pair: CertPair,
    problem: Any,
    facts: Facts,
    reading: list[str],
    *,
    now: _dt.datetime,
    limits: tuple[int, int, int | None],
) -> None:
    min_remaining, clock_skew, lifetime = limits
    # 1. DER OCSPResponse, no trailing data.
    if not data:
        problem("empty", "the response is empty (0 bytes)")
        return
    der = data
    try:
        # cryptography rejects trailing bytes too, so the DER framing is only examined on failure.
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        load_error = str(exc)
        try:
            end = outer_length(data)
        except DerError as der_exc:
            head = data[:16]
            shown = head.decode("ascii", "replace") if head[:1] == b"<" else head.hex()
            problem("malformed", f"not a DER OCSPResponse ({der_exc}; {len(data)} bytes starting {shown!r})")
            return
        if end == len(data):
            problem("malformed", f"not a DER OCSPResponse ({len(data)} bytes): {load_error}")
            return
        problem("trailing_data", f"{len(data) - end} bytes follow the {end}-byte DER OCSPResponse")
        der = data[:end]
        try:
            response = ocsp.load_der_ocsp_response(der)
        except ValueError as exc2:
            problem("malformed", f"not a DER OCSPResponse ({end} bytes before the trailing data): {exc2}")
            return

    # 2. responseStatus.
    reading[0] = "the responseStatus"
    status = response.response_status
    facts.response_status = status.name.lower()
    if status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        code = _STATUS_CODES.get(status.name, "malformed")
        problem(code, f"responder answered {status.name} ({status.value}) instead of a response")
        return

    facts.produced_at = utc(response, "produced_at")
    parts: ResponseParts | None = None
    try:
        parts = response_parts(der)
    except DerError as exc:
        problem("malformed", f"the BasicOCSPResponse cannot be read for its extensions and signature algorithm: {exc}")

    # 3. The SingleResponse whose CertID matches the leaf; other entries do not count.
    reading[0] = "the SingleResponses"
    single, index = None, -1
    seen: list[str] = []
    unsupported: list[str] = []
    singles = list(response.responses)
    for position, candidate in enumerate(singles):
        try:
            algorithm = candidate.hash_algorithm
        except UnsupportedAlgorithm:
            unsupported.append(f"serial {candidate.serial_number:X} (CertID hash OID unknown to the library)")
            continue
        expected = _cert_id(pair, algorithm)
        if expected is None:
            unsupported.append(f"serial {candidate.serial_number:X} (CertID hash {algorithm.name})")
            continue
        if (
            candidate.serial_number == expected.serial_number
            and candidate.issuer_name_hash == expected.issuer_name_hash
            and candidate.issuer_key_hash == expected.issuer_key_hash
        ):
            single, index = candidate, position
            facts.cert_id = expected
            break
        seen.append(f"serial {candidate.serial_number:X} under key hash {candidate.issuer_key_hash.hex()[:16]}")
    if single is None:
        expected = pair.cert_id()
        answers = "; ".join(seen + unsupported) or "nothing usable"
        problem(
            "unsupported_cert_id_hash" if unsupported else "cert_id_mismatch",
            f"no answer for serial {expected.serial_number:X} of issuer {subject_text(pair.issuer)} "
            f"(key hash {expected.issuer_key_hash.hex()[:16]}); the response answers for {answers}",
        )
        first = singles[0] if singles else None
    else:
        first = single

    # 3b. Critical extensions this policy does not recognise (RFC 6960 4.4, RFC 5280 4.2): rejected.
    if parts is not None:
        for oid in _critical(parts.response_extensions, RESPONSE_EXTENSIONS):
            problem("unknown_critical_extension", f"the response carries unrecognised critical extension {oid}")
        if single is not None and index < len(parts.single_extensions):
            for oid in _critical(parts.single_extensions[index], SINGLE_EXTENSIONS):
                problem(
                    "unknown_critical_extension",
                    f"the SingleResponse for serial {pair.leaf.serial_number:X} carries unrecognised critical "
                    f"extension {oid}",
                )

    # 4. certStatus good.
    reading[0] = "the certStatus, thisUpdate or nextUpdate of the SingleResponse"
    if first is not None:
        cert_status = first.certificate_status
        facts.status = cert_status.name.lower()
        facts.this_update = utc(first, "this_update")
        facts.next_update = utc(first, "next_update")
        if facts.next_update is None and lifetime is not None and facts.this_update is not None:
            facts.assumed_lifetime = lifetime
            facts.next_update = facts.this_update + _dt.timedelta(seconds=lifetime)
        if single is not None and cert_status == ocsp.OCSPCertStatus.REVOKED:
            facts.revocation_time = utc(first, "revocation_time")
            problem(
                "revoked",
                f"certificate serial {pair.leaf.serial_number:X} is REVOKED since {iso(facts.revocation_time)} "
                f"(reason {first.revocation_reason.name if first.revocation_reason else 'unspecified'}); replace it",
            )
        elif single is not None and cert_status == ocsp.OCSPCertStatus.UNKNOWN:
            problem(
                "unknown_status", f"the responder does not know serial {pair.leaf.serial_number:X} (certStatus unknown)"
            )

    # 5. Signature by the issuer or a delegated responder it issued and signed. Every certificate of
    # the (unsigned) certs field must be readable: clients receive the staple whole.
    reading[0] = "the certs field"
    included: list[tuple[x509.Certificate, CertProfile]] = []
    try:
        listed = list(response.certificates)
    except ValueError as exc:
        problem("unreadable_certificate", f"the certs field of the response cannot be read: {exc}")
        listed = []
    for number, cert in enumerate(listed, 1):
        try:
            included.append((cert, profile(cert)))
        except Exception as exc:  # a key or extension the library refuses
            problem(
                "unreadable_certificate",
                f"certificate #{number} of the response's certs field cannot be read "
                f"({type(exc).__name__}: {exc})",
            )
    reading[0] = "the signature, its algorithm or the ResponderID"
    pss: tuple[padding.PSS, hashes.HashAlgorithm] | None = None
    unsupported_signature = None
    if parts is not None and parts.signature_oid == RSASSA_PSS:
        found = _pss(parts.signature_params)
        if isinstance(found, str):
            unsupported_signature = found
        else:
            pss = found
    elif _signature_hash(response) is None and response.signature_algorithm_oid.dotted_string not in _NO_HASH:
        unsupported_signature = f"signature algorithm {response.signature_algorithm_oid.dotted_string} is not supported"
    candidates = _find_signer(response, pair, included)
    signer = None
    if unsupported_signature is not None:
        problem("unsupported_signature_algorithm", f"{unsupported_signature}; the signature cannot be verified")
    else:
        signer = next((c for c in candidates if _verify(profile(c).public_key, response, pss)), None)
    if signer is None and unsupported_signature is None:
        if candidates:
            problem(
                "bad_signature",
                f"signature does not verify with the key of {subject_text(candidates[0])} "
                f"(responder {_describe_responder_id(response)})",
            )
        else:
            by_name = response.responder_name
            differs = f" ({name_difference(by_name, pair.issuer.subject)})" if by_name is not None else ""
            problem(
                "untrusted_signer",
                f"signer {_describe_responder_id(response)} is neither issuer {subject_text(pair.issuer)}"
                f"{differs} nor a responder certificate included in the response",
            )
    elif signer is not None:
        signer_facts = profile(signer)
        facts.signer = signer_facts.subject
        facts.signer_not_after = signer_end = signer_facts.not_after
        delegated = signer != pair.issuer
        facts.signer_delegated = delegated
        if delegated:
            if not is_signed_by(signer, pair.issuer, cert_profile=signer_facts, issuer_profile=pair.issuer_profile):
                issuer_text = subject_text(pair.issuer)
                if same_name(signer.issuer, pair.issuer.subject):
                    why = f"names issuer {issuer_text} but is not signed by its key (same name, different key)"
                else:
                    differs = name_difference(signer.issuer, pair.issuer.subject)
                    why = f"was issued by {signer.issuer.rfc4514_string()}, not by issuer {issuer_text} ({differs})"
                problem("untrusted_signer", f"responder certificate {facts.signer} {why}")
            if not signer_facts.ocsp_signing:
                problem(
                    "signer_missing_ocsp_eku",
                    f"responder certificate {facts.signer} lacks extended key usage id-kp-OCSPSigning",
                )
        # 6. The signer is valid now and stays valid long enough.
        signer_start = signer_facts.not_before
        if signer_start > now + _dt.timedelta(seconds=clock_skew):
            problem(
                "signer_not_yet_valid",
                f"signer certificate {facts.signer} is not valid before {iso(signer_start)} (now {iso(now)})",
            )
        if signer_end <= now:
            problem(
                "signer_expired",
                f"signer certificate {facts.signer} expired {iso(signer_end)} "
                f"({human_duration((now - signer_end).total_seconds())} ago)",
            )
        elif (signer_end - now).total_seconds() < min_remaining:
            before = f", before {_next_text(facts)}" if facts.next_update and signer_end < facts.next_update else ""
            problem(
                "signer_expires_too_soon",
                f"signer certificate {facts.signer} expires {iso(signer_end)} "
                f"(in {human_duration((signer_end - now).total_seconds())}){before}; "
                f"at least {human_duration(min_remaining)} required",
            )

    # 7. thisUpdate / nextUpdate sanity.
    reading[0] = "the response"
    if facts.this_update is not None and facts.this_update > now + _dt.timedelta(seconds=clock_skew):
        problem(
            "this_update_in_future",
            f"thisUpdate {iso(facts.this_update)} is {human_duration((facts.this_update - now).total_seconds())} "
            f"in the future (clock skew allowed: {human_duration(clock_skew)})",
        )
    if first is not None and facts.next_update is None:
        problem(
            "next_update_missing",
            "nextUpdate is absent: the response has no end of validity to staple against "
            "(opt in per certificate with assume_lifetime_without_next_update)",
        )
    elif facts.next_update is not None and facts.this_update is not None and facts.next_update <= facts.this_update:
        problem(
            "next_update_before_this_update",
            f"{_next_text(facts)} is not after thisUpdate {iso(facts.this_update)}",
        )

    # 8. Effective expiry = min(nextUpdate, signer notAfter), at least min_remaining away.
    ends = [t for t in (facts.next_update, facts.signer_not_after) if t is not None]
    if facts.next_update is not None:
        facts.expires_at = min(ends)
        facts.remaining_seconds = int((facts.expires_at - now).total_seconds())
        until_next = (facts.next_update - now).total_seconds()
        if until_next <= 0:
            problem("expired", f"{_next_text(facts)} passed {human_duration(-until_next)} ago")
        elif until_next < min_remaining:
            problem(
                "expires_too_soon",
                f"{_next_text(facts)} is in {human_duration(until_next)}; "
                f"at least {human_duration(min_remaining)} required",
            )


#: Signature algorithms without a separate hash (EdDSA), and RSASSA-PSS (its hash is in its parameters).
_NO_HASH = {"1.3.101.112", "1.3.101.113", RSASSA_PSS}
