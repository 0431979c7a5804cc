"""The validation policy, scenario by scenario: response in, exact problem codes out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from ocsp_staple.certs import CertPair
from ocsp_staple.policy import PROBLEM_CODES, validate

from testbed import forge, forge_interop

from ..conftest import Pki

pytestmark = pytest.mark.node  # core only: also runs on Debian's python3-cryptography

H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)

Scenario = Callable[[Pki], bytes]


def delegated(pki: Pki, **kw: object) -> forge.Issued:
    return forge.make_responder(pki.ca, "Test CA OCSP Responder", now=pki.now, **kw)  # type: ignore[arg-type]


ACCEPT: dict[str, Scenario] = {
    "issuer-signed": lambda p: p.response(),
    "issuer-signed-responder-id-by-name": lambda p: p.response(responder_id="name"),
    "delegated-signer": lambda p: p.response(p.responder),
    "delegated-signer-by-name": lambda p: p.response(p.responder, responder_id="name"),
    "delegated-signer-without-nocheck": lambda p: p.response(delegated(p, nocheck=False)),
    "sha256-cert-id": lambda p: p.response(cert_id_hash="sha256"),
    "this-update-2-min-in-future": lambda p: p.response(this_update=p.now + 2 * MIN),
    "twelve-hour-window": lambda p: p.response(this_update=p.now, next_update=p.now + 12 * H),
    "signer-expires-after-min-remaining-but-before-next-update": lambda p: p.response(
        delegated(p, not_after=p.now + 30 * H)
    ),
}

REJECT: dict[str, tuple[Scenario, set[str]]] = {
    # The 2015-08-20 incident, by name.
    "incident-try-later-5-bytes": (lambda p: bytes.fromhex("3003 0a01 03"), {"try_later"}),
    "incident-12h-window-signer-expires-in-50-min": (
        lambda p: p.response(delegated(p, not_after=p.now + 50 * MIN), this_update=p.now, next_update=p.now + 12 * H),
        {"signer_expires_too_soon"},
    ),
    "incident-signer-already-expired": (
        lambda p: p.response(delegated(p, not_after=p.now - 10 * MIN), this_update=p.now, next_update=p.now + 12 * H),
        {"signer_expired"},
    ),
    # Parsing.
    "empty-file": (lambda p: b"", {"empty"}),
    "html-error-page": (lambda p: b"<html><body>503 Service Unavailable</body></html>", {"malformed"}),
    "garbage": (lambda p: bytes(range(7, 200)), {"malformed"}),
    "truncated": (lambda p: p.response()[:-20], {"malformed"}),
    "trailing-bytes": (lambda p: p.response() + b"\x00\x00junk", {"trailing_data"}),
    # responseStatus.
    "malformed-request": (lambda p: forge.unsuccessful("malformed_request"), {"malformed_request"}),
    "internal-error": (lambda p: forge.unsuccessful("internal_error"), {"internal_error"}),
    "sig-required": (lambda p: forge.unsuccessful("sig_required"), {"sig_required"}),
    "unauthorized": (lambda p: forge.unsuccessful("unauthorized"), {"unauthorized"}),
    # CertID.
    "another-serial-same-ca": (
        lambda p: p.response(leaf=forge.make_leaf(p.ca, "other.example.org", now=p.now)),
        {"cert_id_mismatch"},
    ),
    "same-serial-another-ca": (
        lambda p: p.response(
            p.other_ca,
            leaf=forge.make_leaf(p.other_ca, "www.example.org", now=p.now, serial=p.leaf.cert.serial_number),
            issuer=p.other_ca,
        ),
        {"cert_id_mismatch", "untrusted_signer"},
    ),
    # certStatus.
    "revoked": (lambda p: p.response(status="revoked", revocation_time=p.now - 2 * H), {"revoked"}),
    "unknown": (lambda p: p.response(status="unknown"), {"unknown_status"}),
    # Signature and signer.
    "flipped-signature-bit": (lambda p: forge.flip_signature_bit(p.response()), {"bad_signature"}),
    "flipped-signature-bit-delegated": (lambda p: forge.flip_signature_bit(p.response(p.responder)), {"bad_signature"}),
    "signed-by-another-ca": (lambda p: p.response(p.other_ca), {"untrusted_signer", "signer_missing_ocsp_eku"}),
    "signed-by-another-ca-not-included": (lambda p: p.response(p.other_ca, include_signer=False), {"untrusted_signer"}),
    "signer-issued-by-another-ca": (
        lambda p: p.response(forge.make_responder(p.other_ca, "Test CA OCSP Responder", now=p.now)),
        {"untrusted_signer"},
    ),
    "same-name-impostor-of-the-ca": (
        lambda p: p.response(forge.make_ca("Test CA", now=p.now), include_signer=True, responder_id="name"),
        {"untrusted_signer", "signer_missing_ocsp_eku"},
    ),
    "same-name-impostor-delegate": (
        lambda p: p.response(
            forge.make_responder(
                p.ca, "Test CA OCSP Responder", now=p.now, signed_by=forge.make_ca("Test CA", now=p.now)
            ),
            responder_id="name",
        ),
        {"untrusted_signer"},
    ),
    "delegate-not-included": (lambda p: p.response(p.responder, include_signer=False), {"untrusted_signer"}),
    "delegate-without-ocsp-eku": (lambda p: p.response(delegated(p, eku=False)), {"signer_missing_ocsp_eku"}),
    "signer-not-yet-valid": (
        lambda p: p.response(delegated(p, not_before=p.now + 2 * H)),
        {"signer_not_yet_valid"},
    ),
    # Time window.
    "this-update-10-min-in-future": (lambda p: p.response(this_update=p.now + 10 * MIN), {"this_update_in_future"}),
    "next-update-missing": (lambda p: p.response(next_update=None), {"next_update_missing"}),
    "next-update-before-this-update": (
        lambda p: p.response(this_update=p.now - 2 * H, next_update=p.now - 3 * H),
        {"next_update_before_this_update", "expired"},
    ),
    "stale-next-update-passed": (
        lambda p: p.response(this_update=p.now - 8 * 24 * H, next_update=p.now - H),
        {"expired"},
    ),
    "expires-in-3-hours": (
        lambda p: p.response(this_update=p.now - 9 * H, next_update=p.now + 3 * H),
        {"expires_too_soon"},
    ),
    # Issue 10 (more in test_interop_policy.py).
    "unreadable-certificate-in-the-unsigned-certs-field": (
        lambda p: forge_interop.with_included(p.response(), [forge_interop.unreadable_key_cert(p.responder.cert)]),
        {"unreadable_certificate"},
    ),
    "unknown-critical-response-extension": (
        lambda p: forge_interop.with_response_extension(
            p.response(), p.ca.key, forge_interop.extension("1.3.6.1.4.1.99999.1", b"\x05\x00", critical=True)
        ),
        {"unknown_critical_extension"},
    ),
    "md2-signature-algorithm": (
        lambda p: forge_interop.with_signature_algorithm(
            p.response(), forge_interop.algorithm_identifier("1.2.840.113549.1.1.2")
        ),
        {"unsupported_signature_algorithm"},
    ),
}


@pytest.mark.parametrize("scenario", ACCEPT.values(), ids=list(ACCEPT))
@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_accepts(scenario: Scenario, key_type: str, pki: Pki, rsa_pki: Pki) -> None:
    p = pki if key_type == "ec" else rsa_pki
    verdict = validate(scenario(p), p.pair, now=p.now)
    assert verdict.problems == []
    assert verdict.valid is True
    assert verdict.facts.status == "good"


@pytest.mark.parametrize(("scenario", "codes"), REJECT.values(), ids=list(REJECT))
def test_rejects_with_exact_codes(scenario: Scenario, codes: set[str], pki: Pki) -> None:
    verdict = validate(scenario(pki), pki.pair, now=pki.now)
    assert verdict.valid is False
    assert set(verdict.codes) == codes, [p.message for p in verdict.problems]
    for problem in verdict.problems:
        assert problem.message.startswith("staple for ")
        assert "\n" not in problem.message


def test_every_problem_code_has_a_scenario() -> None:
    produced = set().union(*(codes for _s, codes in REJECT.values()))
    # unsupported_cert_id_hash needs a response built with a hash cryptography cannot build.
    assert set(PROBLEM_CODES) - produced == {"unsupported_cert_id_hash"}


def test_reports_every_problem_not_just_the_first(pki: Pki) -> None:
    bad = (
        pki.response(
            delegated(pki, eku=False, not_after=pki.now - H),
            status="revoked",
            this_update=pki.now - 9 * 24 * H,
            next_update=pki.now - 2 * 24 * H,
        )
        + b"xx"
    )
    verdict = validate(bad, pki.pair, now=pki.now)
    assert set(verdict.codes) == {"trailing_data", "revoked", "signer_missing_ocsp_eku", "signer_expired", "expired"}


def test_incident_message_names_signer_and_next_update(pki: Pki) -> None:
    signer = delegated(pki, not_after=pki.now + 47 * MIN)
    data = pki.response(signer, this_update=pki.now, next_update=pki.now + 12 * H)
    verdict = validate(data, pki.pair, now=pki.now, name="www.example.org")
    (problem,) = verdict.problems
    assert problem.message == (
        "staple for www.example.org: signer certificate CN=Test CA OCSP Responder expires 2026-03-01T12:47:00Z "
        "(in 47 min), before nextUpdate 2026-03-02T00:00:00Z; at least 4 h required"
    )
    assert verdict.facts.expires_at == pki.now + 47 * MIN
    assert verdict.facts.remaining_seconds == 47 * 60


def test_effective_expiry_is_the_earlier_of_next_update_and_signer(pki: Pki) -> None:
    signer = delegated(pki, not_after=pki.now + 30 * H)
    verdict = validate(pki.response(signer), pki.pair, now=pki.now)
    assert verdict.valid
    assert verdict.facts.expires_at == pki.now + 30 * H
    assert verdict.facts.signer_delegated is True
    assert verdict.facts.signer == "CN=Test CA OCSP Responder"


def test_facts_of_a_good_staple(pki: Pki) -> None:
    this = pki.now - H
    verdict = validate(pki.response(this_update=this, cert_id_hash="sha256"), pki.pair, now=pki.now)
    facts = verdict.as_dict()
    assert facts["this_update"] == "2026-03-01T11:00:00Z"
    assert facts["next_update"] == "2026-03-08T11:00:00Z"
    assert facts["expires_at"] == "2026-03-08T11:00:00Z"
    assert facts["remaining_seconds"] == 7 * 86400 - 3600
    assert facts["signer"] == "CN=Test CA"
    assert facts["signer_delegated"] is False
    assert facts["cert_id"]["hash_algorithm"] == "sha256"
    assert facts["cert_id"]["serial_number"] == "1234ABCD"


def test_min_remaining_and_clock_skew_are_parameters(pki: Pki) -> None:
    data = pki.response(this_update=pki.now + 10 * MIN, next_update=pki.now + 3 * H)
    assert set(validate(data, pki.pair, now=pki.now).codes) == {"this_update_in_future", "expires_too_soon"}
    assert validate(data, pki.pair, now=pki.now, min_remaining=3600, clock_skew=900).valid


def test_staple_for_another_leaf_pair_is_rejected(pki: Pki) -> None:
    other = forge.make_leaf(pki.ca, "api.example.org", now=pki.now)
    verdict = validate(pki.response(), CertPair(other.cert, pki.ca.cert, "other"), now=pki.now)
    assert verdict.codes == ["cert_id_mismatch"]


def test_naive_now_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate(pki.response(), pki.pair, now=dt.datetime(2026, 3, 1))
