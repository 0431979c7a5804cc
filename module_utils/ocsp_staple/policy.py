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

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509 import ocsp

from .certs import (
    CertId,
    CertPair,
    CertProfile,
    is_signed_by,
    iso,
    profile,
    subject_text,
    verify_signature,
)
from .compat import require_aware, utc
from .der import DerError, outer_length

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
    "unsupported_cert_id_hash": "the CertID uses a hash algorithm other than SHA-1 or SHA-256",
    "revoked": "certStatus revoked - an alarm, the certificate must be replaced",
    "unknown_status": "certStatus unknown - the responder does not know the certificate",
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

_RESPONSE_STATUS_NAMES = {status: status.name.lower() for status in ocsp.OCSPResponseStatus}
_CERT_STATUS_NAMES = {status: status.name.lower() for status in ocsp.OCSPCertStatus}
_STATUS_CODES = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "malformed_request",
    ocsp.OCSPResponseStatus.INTERNAL_ERROR: "internal_error",
    ocsp.OCSPResponseStatus.TRY_LATER: "try_later",
    ocsp.OCSPResponseStatus.SIG_REQUIRED: "sig_required",
    ocsp.OCSPResponseStatus.UNAUTHORIZED: "unauthorized",
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


def _describe_responder_id(response: ocsp.OCSPResponse) -> str:
    by_name = response.responder_name
    if by_name is not None:
        return f"byName {by_name.rfc4514_string()}"
    by_key = response.responder_key_hash
    return f"byKey {by_key.hex() if by_key else '?'}"


def _find_signer(response: ocsp.OCSPResponse, pair: CertPair) -> list[x509.Certificate]:
    """Certificates the ResponderID designates: the issuer and/or included certificates."""
    by_name = response.responder_name
    by_key = response.responder_key_hash
    name_der = by_name.public_bytes() if by_name is not None else None

    def matches(facts: CertProfile) -> bool:
        if name_der is not None:
            return facts.subject_der == name_der
        return facts.key_sha1 == by_key

    candidates = [pair.issuer] if matches(pair.issuer_profile) else []
    for included in response.certificates:
        if included != pair.issuer and matches(profile(included)):
            candidates.append(included)
    return candidates


def validate(
    data: bytes,
    pair: CertPair,
    *,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    name: str | None = None,
) -> Verdict:
    """Apply every check of the policy to ``data`` for ``pair``'s leaf at time ``now``."""
    now = require_aware(now)
    problems: list[Problem] = []
    facts = Facts(size=len(data))

    def problem(code: str, message: str) -> None:
        problems.append(Problem(code, f"staple for {name or pair.subject}: {message}"))

    def verdict() -> Verdict:
        return Verdict(valid=not problems, problems=problems, facts=facts)

    # 1. DER OCSPResponse, no trailing data.
    if not data:
        problem("empty", "the response is empty (0 bytes)")
        return verdict()
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
            return verdict()
        if end == len(data):
            problem("malformed", f"not a DER OCSPResponse ({len(data)} bytes): {load_error}")
            return verdict()
        problem("trailing_data", f"{len(data) - end} bytes follow the {end}-byte DER OCSPResponse")
        try:
            response = ocsp.load_der_ocsp_response(data[:end])
        except ValueError as exc2:
            problem("malformed", f"not a DER OCSPResponse ({end} bytes before the trailing data): {exc2}")
            return verdict()

    # 2. responseStatus.
    status = response.response_status
    facts.response_status = _RESPONSE_STATUS_NAMES[status]
    if status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        code = _STATUS_CODES.get(status, "malformed")
        problem(code, f"responder answered {status.name} ({status.value}) instead of a response")
        return verdict()

    facts.produced_at = utc(response, "produced_at")

    # 3. A SingleResponse whose CertID matches the leaf.
    single = None
    seen: list[str] = []
    try:
        singles = list(response.responses)
    except (ValueError, UnsupportedAlgorithm):  # pragma: no cover - defensive
        singles = []
    for candidate in singles:
        try:
            algorithm = candidate.hash_algorithm.name
        except UnsupportedAlgorithm:
            problem(
                "unsupported_cert_id_hash", "a SingleResponse uses a CertID hash algorithm other than SHA-1/SHA-256"
            )
            continue
        if algorithm not in ("sha1", "sha256"):
            problem("unsupported_cert_id_hash", f"a SingleResponse uses CertID hash {algorithm}")
            continue
        expected = pair.cert_id(algorithm)
        if (
            candidate.serial_number == expected.serial_number
            and candidate.issuer_name_hash == expected.issuer_name_hash
            and candidate.issuer_key_hash == expected.issuer_key_hash
        ):
            single = candidate
            facts.cert_id = expected
            break
        seen.append(f"serial {candidate.serial_number:X} under key hash {candidate.issuer_key_hash.hex()[:16]}")
    if single is None:
        expected = pair.cert_id()
        problem(
            "cert_id_mismatch",
            f"no answer for serial {expected.serial_number:X} of issuer {subject_text(pair.issuer)} "
            f"(key hash {expected.issuer_key_hash.hex()[:16]}); the response answers for "
            f"{'; '.join(seen) or 'nothing usable'}",
        )
        first = singles[0] if singles else None
    else:
        first = single

    # 4. certStatus good.
    if first is not None:
        cert_status = first.certificate_status
        facts.status = _CERT_STATUS_NAMES[cert_status]
        facts.this_update = utc(first, "this_update")
        facts.next_update = utc(first, "next_update")
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

    # 5. Signature by the issuer or a delegated responder it issued and signed.
    candidates = _find_signer(response, pair)
    try:
        hash_algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        hash_algorithm = None
    signer = None
    for candidate_signer in candidates:
        if verify_signature(
            profile(candidate_signer).public_key,
            response.signature,
            response.tbs_response_bytes,
            hash_algorithm,
            response.signature_algorithm_oid,
        ):
            signer = candidate_signer
            break
    if signer is None:
        if candidates:
            problem(
                "bad_signature",
                f"signature does not verify with the key of {subject_text(candidates[0])} "
                f"(responder {_describe_responder_id(response)})",
            )
        else:
            problem(
                "untrusted_signer",
                f"signer ({_describe_responder_id(response)}) is neither issuer {subject_text(pair.issuer)} "
                "nor a responder certificate included in the response",
            )
    else:
        signer_facts = profile(signer)
        facts.signer = signer_facts.subject
        facts.signer_not_after = signer_end = signer_facts.not_after
        delegated = signer != pair.issuer
        facts.signer_delegated = delegated
        if delegated:
            if not is_signed_by(signer, pair.issuer, cert_profile=signer_facts, issuer_profile=pair.issuer_profile):
                problem(
                    "untrusted_signer",
                    f"responder certificate {facts.signer} (issued by {signer.issuer.rfc4514_string()}) "
                    f"was not issued and signed by issuer {subject_text(pair.issuer)}",
                )
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
            before = (
                f", before nextUpdate {iso(facts.next_update)}"
                if facts.next_update and signer_end < facts.next_update
                else ""
            )
            problem(
                "signer_expires_too_soon",
                f"signer certificate {facts.signer} expires {iso(signer_end)} "
                f"(in {human_duration((signer_end - now).total_seconds())}){before}; "
                f"at least {human_duration(min_remaining)} required",
            )

    # 7. thisUpdate / nextUpdate sanity.
    if facts.this_update is not None and facts.this_update > now + _dt.timedelta(seconds=clock_skew):
        problem(
            "this_update_in_future",
            f"thisUpdate {iso(facts.this_update)} is {human_duration((facts.this_update - now).total_seconds())} "
            f"in the future (clock skew allowed: {human_duration(clock_skew)})",
        )
    if first is not None and facts.next_update is None:
        problem("next_update_missing", "nextUpdate is absent: the response has no end of validity to staple against")
    elif facts.next_update is not None and facts.this_update is not None and facts.next_update <= facts.this_update:
        problem(
            "next_update_before_this_update",
            f"nextUpdate {iso(facts.next_update)} is not after thisUpdate {iso(facts.this_update)}",
        )

    # 8. Effective expiry = min(nextUpdate, signer notAfter), at least min_remaining away.
    ends = [t for t in (facts.next_update, facts.signer_not_after) if t is not None]
    if facts.next_update is not None:
        facts.expires_at = min(ends)
        facts.remaining_seconds = int((facts.expires_at - now).total_seconds())
        until_next = (facts.next_update - now).total_seconds()
        if until_next <= 0:
            problem("expired", f"nextUpdate {iso(facts.next_update)} passed {human_duration(-until_next)} ago")
        elif until_next < min_remaining:
            problem(
                "expires_too_soon",
                f"nextUpdate {iso(facts.next_update)} is in {human_duration(until_next)}; "
                f"at least {human_duration(min_remaining)} required",
            )
    return verdict()
