"""Issue 10: what real CAs and responders send, judged as RFC 6960 says (items 1, 2, 4, 5, 6, 8, 9).

Responses come from testbed.forge_interop (correctly signed responses of shapes the builders
cannot make) and from the real CA responses of the ``cryptography_vectors`` package.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from ocsp_staple.certs import CertPair, same_name
from ocsp_staple.cli import main
from ocsp_staple.monitor.check import closest_limit
from ocsp_staple.policy import name_difference, validate

from testbed import forge, fuzz
from testbed import forge_interop as fi

from ..conftest import Pki

pytestmark = pytest.mark.node  # core only: also runs on Debian's python3-cryptography

H = dt.timedelta(hours=1)
NONCE = "1.3.6.1.5.5.7.48.1.2"
ARCHIVE_CUTOFF = "1.3.6.1.5.5.7.48.1.6"
CRL_REASON = "2.5.29.21"
SCT_LIST = "1.3.6.1.4.1.11129.2.4.5"
GENERALIZED_TIME = fi.tlv(0x18, b"20260101000000Z")


def codes(data: bytes, p: Pki, **kw: object) -> list[str]:
    return validate(data, p.pair, now=p.now, **kw).codes  # type: ignore[arg-type]


def only_message(data: bytes, p: Pki) -> str:
    (problem,) = validate(data, p.pair, now=p.now).problems
    return problem.message


# --- item 1: the unsigned certs field never crashes validation ------------------------------------

UNREADABLE: dict[str, Callable[[x509.Certificate], bytes]] = {
    "unknown-key-algorithm": fi.unreadable_key_cert,
    "duplicate-extension": fi.duplicate_extension_cert,
}


@pytest.mark.parametrize("make_cert", UNREADABLE.values(), ids=list(UNREADABLE))
@pytest.mark.parametrize("signer", ["issuer", "delegated"])
def test_unreadable_included_certificate_is_a_named_problem(
    make_cert: Callable[[x509.Certificate], bytes], signer: str, pki: Pki
) -> None:
    base = pki.response(pki.responder if signer == "delegated" else None)
    data = fi.with_included(base, [make_cert(pki.responder.cert)])
    assert codes(base, pki) == []  # the signature still verifies: only the unsigned field changed
    verdict = validate(data, pki.pair, now=pki.now)
    assert verdict.codes == ["unreadable_certificate"]
    assert verdict.problems[0].message.startswith("staple for CN=www.example.org: certificate #")
    assert verdict.facts.signer is not None  # every other check still ran


@pytest.fixture
def unreadable_staple(pki: Pki, pki_files: dict[str, str], tmp_path: Path) -> list[str]:
    staple = tmp_path / "staple.der"
    staple.write_bytes(fi.with_included(pki.response(), [fi.unreadable_key_cert(pki.responder.cert)]))
    return [str(staple), "--cert", pki_files["leaf"], "--issuer", pki_files["ca"], "--now", pki.now.isoformat()]


def test_show_gives_the_verdict_for_an_unreadable_included_certificate(
    unreadable_staple: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", *unreadable_staple]) == 1
    out = capsys.readouterr()
    assert "INVALID" in out.out
    assert "problem unreadable_certificate" in out.out
    assert "Traceback" not in out.out + out.err


def test_check_file_is_critical_for_an_unreadable_included_certificate(
    unreadable_staple: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--file", *unreadable_staple]) == 2
    assert capsys.readouterr().out.startswith("CRITICAL: staple for CN=www.example.org: certificate #1 ")


def test_a_part_the_library_refuses_is_malformed_naming_the_part(pki: Pki) -> None:
    revoked = pki.response(status="revoked", revocation_time=pki.now - 2 * H)
    message = only_message(fi.with_revocation_reason(revoked, pki.ca.key, 33), pki)
    assert "the certStatus, thisUpdate or nextUpdate of the SingleResponse cannot be read (" in message
    assert codes(fi.with_revocation_reason(revoked, pki.ca.key, 1), pki) == ["revoked"]


# --- item 2: RSASSA-PSS signed responses ------------------------------------------------------

PSS_ACCEPTED = {
    "sha256-salt32": {"digest": "sha256", "salt": 32},
    "sha384-salt48": {"digest": "sha384", "salt": 48},
    "sha512-mgf1-sha1-salt0": {"digest": "sha512", "mgf_digest": "sha1", "salt": 0},
    "all-defaults-sha1-salt20": {"digest": "sha1", "salt": 20},
}


@pytest.mark.parametrize("params", PSS_ACCEPTED.values(), ids=list(PSS_ACCEPTED))
def test_pss_signed_response_is_accepted(params: dict[str, object], rsa_pki: Pki) -> None:
    assert codes(fi.pss_signed(rsa_pki.response(), rsa_pki.ca.key, **params), rsa_pki) == []  # type: ignore[arg-type]


def test_pss_signed_by_a_delegated_responder_is_accepted(rsa_pki: Pki) -> None:
    assert codes(fi.pss_signed(rsa_pki.response(rsa_pki.responder), rsa_pki.responder.key), rsa_pki) == []


MD5 = "1.2.840.113549.2.5"
PSS_REJECTED: dict[str, tuple[bytes, str]] = {
    "parameters-say-salt-20-signature-uses-32": (fi.pss_params("sha256", "sha256", 20), "bad_signature"),
    "parameters-say-sha384-signature-uses-sha256": (fi.pss_params("sha384", "sha256", 32), "bad_signature"),
    "md5-hash": (fi.tlv(0x30, fi.tlv(0xA0, fi.algorithm_identifier(MD5))), "unsupported_signature_algorithm"),
    "mask-generation-not-mgf1": (
        fi.tlv(0x30, fi.tlv(0xA1, fi.algorithm_identifier("1.2.3.4", fi.algorithm_identifier(fi.HASH_OIDS["sha256"])))),
        "unsupported_signature_algorithm",
    ),
    "trailer-field-2": (fi.tlv(0x30, fi.tlv(0xA3, fi.integer(2))), "unsupported_signature_algorithm"),
    "parameters-absent": (b"", "unsupported_signature_algorithm"),
}
#: Parameters cryptography 50 already refuses when it loads the response (38 leaves them to the policy).
PSS_REFUSED = {"parameters-null": b"\x05\x00", "parameters-not-rsassa-pss-params": b"\x30\x03\x02\x01\x05"}


@pytest.mark.parametrize(("params", "code"), PSS_REJECTED.values(), ids=list(PSS_REJECTED))
def test_pss_parameters_that_do_not_verify_or_are_unsupported(params: bytes, code: str, rsa_pki: Pki) -> None:
    data = fi.pss_signed(rsa_pki.response(), rsa_pki.ca.key, digest="sha256", salt=32, params=params)
    assert codes(data, rsa_pki) == [code]


@pytest.mark.parametrize("params", PSS_REFUSED.values(), ids=list(PSS_REFUSED))
def test_pss_parameters_that_are_not_rsassa_pss_params(params: bytes, rsa_pki: Pki) -> None:
    data = fi.pss_signed(rsa_pki.response(), rsa_pki.ca.key, digest="sha256", salt=32, params=params)
    assert codes(data, rsa_pki) in (["malformed"], ["unsupported_signature_algorithm"])


def test_pss_signature_with_a_flipped_bit_is_bad(rsa_pki: Pki) -> None:
    data = forge.flip_signature_bit(fi.pss_signed(rsa_pki.response(), rsa_pki.ca.key))
    assert codes(data, rsa_pki) == ["bad_signature"]


# --- item 4: critical extensions ----------------------------------------------------------------

RESPONSE_EXTENSIONS: dict[str, tuple[str, bytes, bool, list[str]]] = {
    "unknown-critical": ("1.3.6.1.4.1.99999.1", b"\x05\x00", True, ["unknown_critical_extension"]),
    "unknown-non-critical": ("1.3.6.1.4.1.99999.1", b"\x05\x00", False, []),
    "nonce-non-critical": (NONCE, fi.tlv(0x04, b"0123456789abcdef"), False, []),
    "nonce-critical": (NONCE, fi.tlv(0x04, b"0123456789abcdef"), True, []),
    "archive-cutoff-critical": (ARCHIVE_CUTOFF, GENERALIZED_TIME, True, []),
}
SINGLE_EXTENSIONS: dict[str, tuple[str, bytes, bool, list[str]]] = {
    "unknown-critical": ("1.3.6.1.4.1.99999.2", b"\x05\x00", True, ["unknown_critical_extension"]),
    "unknown-non-critical": ("1.3.6.1.4.1.99999.2", b"\x05\x00", False, []),
    "crl-reason-non-critical": (CRL_REASON, b"\x0a\x01\x00", False, []),
    "crl-reason-critical": (CRL_REASON, b"\x0a\x01\x00", True, []),
    "sct-list-non-critical": (SCT_LIST, fi.tlv(0x04, b"\x00\x00"), False, []),
    "archive-cutoff-critical": (ARCHIVE_CUTOFF, GENERALIZED_TIME, True, []),
}


@pytest.mark.parametrize(
    ("oid", "value", "critical", "expected"), RESPONSE_EXTENSIONS.values(), ids=list(RESPONSE_EXTENSIONS)
)
def test_response_extensions(oid: str, value: bytes, critical: bool, expected: list[str], pki: Pki) -> None:
    data = fi.with_response_extension(pki.response(), pki.ca.key, fi.extension(oid, value, critical=critical))
    assert codes(data, pki) == expected


@pytest.mark.parametrize(
    ("oid", "value", "critical", "expected"), SINGLE_EXTENSIONS.values(), ids=list(SINGLE_EXTENSIONS)
)
def test_single_extensions(oid: str, value: bytes, critical: bool, expected: list[str], pki: Pki) -> None:
    data = fi.with_single_extension(pki.response(), pki.ca.key, fi.extension(oid, value, critical=critical))
    assert codes(data, pki) == expected


def test_unknown_critical_extension_message_names_the_oid_and_where(pki: Pki) -> None:
    ext = fi.extension("1.3.6.1.4.1.99999.2", b"\x05\x00", critical=True)
    message = only_message(fi.with_single_extension(pki.response(), pki.ca.key, ext), pki)
    assert message.endswith(
        "SingleResponse for serial 1234ABCD carries unrecognised critical extension 1.3.6.1.4.1.99999.2"
    )


def test_critical_extension_of_another_certificates_entry_does_not_count(pki: Pki) -> None:
    other = pki.response(leaf=forge.make_leaf(pki.ca, "other.example.org", now=pki.now))
    two = fi.with_singles_before(pki.response(), pki.ca.key, [other])
    ext = fi.extension("1.3.6.1.4.1.99999.2", b"\x05\x00", critical=True)
    assert codes(fi.with_single_extension(two, pki.ca.key, ext, index=0), pki) == []
    assert codes(fi.with_single_extension(two, pki.ca.key, ext, index=1), pki) == ["unknown_critical_extension"]


# --- item 5: only the leaf's entry counts ---------------------------------------------------------

UNKNOWN_HASH = "1.3.14.3.2.26.17"  # the OID of the real vector resp-unknown-hash-alg.der


@pytest.mark.parametrize("hash_oid", [UNKNOWN_HASH, None], ids=["unknown-hash", "sha1"])
@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_another_certificates_entry_placed_first_does_not_sink_the_staple(
    hash_oid: str | None, key_type: str, pki: Pki, rsa_pki: Pki
) -> None:
    p = pki if key_type == "ec" else rsa_pki
    others = [p.response(leaf=forge.make_leaf(p.ca, f"o{i}.example.org", now=p.now)) for i in range(2)]
    data = fi.with_singles_before(p.response(), p.ca.key, others, hash_oid=hash_oid)
    assert len(list(ocsp.load_der_ocsp_response(data).responses)) == 3
    verdict = validate(data, p.pair, now=p.now)
    assert verdict.codes == []
    assert verdict.facts.cert_id is not None
    assert verdict.facts.cert_id.serial_number == 0x1234ABCD


def test_only_entries_with_an_unknown_hash_say_so(pki: Pki) -> None:
    with_unknown = fi.with_singles_before(pki.response(), pki.ca.key, [pki.response()], hash_oid=UNKNOWN_HASH)

    def drop_last(basic: fi.Node) -> None:
        entries = fi.responses_node(basic)
        entries.children = (entries.children or [])[:1]

    verdict = validate(fi.resign(with_unknown, pki.ca.key, drop_last), pki.pair, now=pki.now)
    assert verdict.codes == ["unsupported_cert_id_hash"]
    assert "(CertID hash OID unknown to the library)" in verdict.problems[0].message


# --- item 6: names compared as RFC 5280 7.1 says ----------------------------------------------------


def _spaced_upper(text: str) -> str:
    return "  " + text.upper().replace(" ", "   ") + " "


@pytest.mark.parametrize("transform", [str, str.upper, _spaced_upper], ids=["same-text", "upper-case", "spaces"])
@pytest.mark.parametrize("string_type", ["PrintableString", "UTF8String", "BMPString"])
def test_responder_id_by_name_in_another_string_type_case_or_spacing(
    transform: Callable[[str], str], string_type: str, pki: Pki
) -> None:
    name = fi.name_as(pki.ca.cert.subject, string_type=string_type, transform=transform)
    assert codes(fi.with_responder_name(pki.response(), pki.ca.key, name), pki) == []


def test_delegate_whose_issuer_name_is_encoded_differently_is_trusted(pki: Pki) -> None:
    issuer_name = fi.name_as(pki.ca.cert.subject, transform=str.upper)
    assert issuer_name.public_bytes() != pki.ca.cert.subject.public_bytes()
    assert codes(pki.response(fi.delegate_with_issuer_name(pki.ca, issuer_name, now=pki.now)), pki) == []


def test_responder_name_that_differs_says_what_differs(pki: Pki) -> None:
    message = only_message(fi.with_responder_name(pki.response(), pki.ca.key, fi.common_name("Test CB")), pki)
    assert message.endswith(
        "signer byName CN=Test CB is neither issuer CN=Test CA (RDN #1 CN 'Test CB' vs 'Test CA') "
        "nor a responder certificate included in the response"
    )


def test_look_alike_responder_name_is_told_apart(pki: Pki) -> None:
    look_alike = fi.common_name("Test C\u0410")  # CYRILLIC CAPITAL LETTER A
    message = only_message(fi.with_responder_name(pki.response(), pki.ca.key, look_alike), pki)
    assert "(RDN #1 CN 'Test C\\u0410' vs 'Test CA')" in message


def test_same_name_impostor_delegate_message_does_not_repeat_the_name(pki: Pki) -> None:
    impostor = forge.make_responder(
        pki.ca, "Test CA OCSP Responder", now=pki.now, signed_by=forge.make_ca("Test CA", now=pki.now)
    )
    message = only_message(pki.response(impostor), pki)
    assert message.endswith(
        "responder certificate CN=Test CA OCSP Responder names issuer CN=Test CA but is not signed by its key "
        "(same name, different key)"
    )


def test_delegate_of_another_ca_message_says_what_differs(pki: Pki) -> None:
    message = only_message(pki.response(forge.make_responder(pki.other_ca, "R", now=pki.now)), pki)
    assert message.endswith(
        "responder certificate CN=R was issued by CN=Other CA, not by issuer CN=Test CA "
        "(RDN #1 CN 'Other CA' vs 'Test CA')"
    )


NAME_PAIRS = [
    ("Test CA", "test ca", True),
    ("Test  CA ", "Test CA", True),
    ("Straße", "STRASSE", True),  # full case folding
    ("Test CA", "Test CB", False),
    ("Test CA", "TestCA", False),
]


@pytest.mark.parametrize(("a", "b", "same"), NAME_PAIRS)
def test_same_name_rules(a: str, b: str, same: bool) -> None:
    name_a = fi.name_as(fi.common_name(a), string_type="UTF8String")
    name_b = fi.name_as(fi.common_name(b), string_type="PrintableString" if b.isascii() else "UTF8String")
    assert same_name(name_a, name_b) is same
    if not same:
        assert name_difference(name_a, name_b) == f"RDN #1 CN {a!r} (UTF8String) vs {b!r} (PrintableString)"


# --- item 8: any CertID hash the library supports ----------------------------------------------------


@pytest.mark.parametrize("digest", [hashes.SHA224(), hashes.SHA384(), hashes.SHA512()], ids=lambda d: d.name)
@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_cert_id_hashed_with_sha2_family_is_matched(
    digest: hashes.HashAlgorithm, key_type: str, pki: Pki, rsa_pki: Pki
) -> None:
    p = pki if key_type == "ec" else rsa_pki
    data = fi.cert_id_hash_response(p.leaf.cert, p.ca, digest, this_update=p.now - H, next_update=p.now + 48 * H)
    verdict = validate(data, p.pair, now=p.now)
    assert verdict.codes == []
    assert verdict.as_dict()["cert_id"]["hash_algorithm"] == digest.name


def test_sha384_cert_id_of_another_certificate_is_a_mismatch(pki: Pki) -> None:
    other = forge.make_leaf(pki.ca, "other.example.org", now=pki.now)
    data = fi.cert_id_hash_response(
        other.cert, pki.ca, hashes.SHA384(), this_update=pki.now - H, next_update=pki.now + 48 * H
    )
    assert codes(data, pki) == ["cert_id_mismatch"]


# --- item 9 (policy half): no nextUpdate ---------------------------------------------------------------


def test_no_next_update_is_refused_by_default(pki: Pki) -> None:
    data = pki.response(next_update=None)
    assert codes(data, pki) == ["next_update_missing"]
    assert "assume_lifetime_without_next_update" in only_message(data, pki)


def test_assume_lifetime_ends_the_window_at_this_update_plus_it(pki: Pki) -> None:
    verdict = validate(pki.response(next_update=None), pki.pair, now=pki.now, assume_lifetime=86400)
    assert verdict.valid
    facts = verdict.as_dict()
    assert facts["this_update"] == "2026-03-01T11:00:00Z"
    assert facts["next_update"] == "2026-03-02T11:00:00Z"
    assert facts["expires_at"] == "2026-03-02T11:00:00Z"
    assert facts["assumed_lifetime"] == 86400
    assert "assumed end 2026-03-02T11:00:00Z" in closest_limit(verdict, "www")


def test_assumed_window_is_named_in_every_message(pki: Pki) -> None:
    data = pki.response(next_update=None, this_update=pki.now - 2 * H)
    (expired,) = validate(data, pki.pair, now=pki.now, assume_lifetime=3600).problems
    assert expired.code == "expired"
    assert (
        "assumed end 2026-03-01T11:00:00Z (thisUpdate + 60 min; the response has no nextUpdate) passed"
        in expired.message
    )
    (soon,) = validate(data, pki.pair, now=pki.now, assume_lifetime=5 * 3600).problems
    assert soon.code == "expires_too_soon"
    assert "assumed end 2026-03-01T15:00:00Z (thisUpdate + 5 h" in soon.message
    signer = forge.make_responder(pki.ca, "R", now=pki.now, not_after=pki.now + H)
    problems = validate(pki.response(signer, next_update=None), pki.pair, now=pki.now, assume_lifetime=86400).problems
    assert [p.code for p in problems] == ["signer_expires_too_soon"]
    assert "before assumed end 2026-03-02T11:00:00Z (thisUpdate + 24 h" in problems[0].message


def test_assume_lifetime_leaves_a_response_with_next_update_alone(pki: Pki) -> None:
    verdict = validate(pki.response(), pki.pair, now=pki.now, assume_lifetime=3600)
    assert verdict.valid
    assert verdict.facts.assumed_lifetime is None
    assert verdict.as_dict()["next_update"] == "2026-03-08T11:00:00Z"


@pytest.mark.parametrize("bad", [0, -5, True])
def test_assume_lifetime_must_be_positive(bad: int, pki: Pki) -> None:
    with pytest.raises(ValueError, match="assume_lifetime"):
        validate(pki.response(), pki.pair, now=pki.now, assume_lifetime=bad)


# --- real CA responses (cryptography_vectors) --------------------------------------------------------


@pytest.fixture(scope="module")
def vectors() -> Path:
    if Path(sys.prefix).name == ".venv":  # the venv that installs requirements-dev.txt: missing is a failure
        import cryptography_vectors
    else:
        cryptography_vectors = pytest.importorskip("cryptography_vectors")
    return Path(cryptography_vectors.__file__).parent / "x509"


def test_real_lets_encrypt_response_is_valid_on_its_day(vectors: Path) -> None:
    data = (vectors / "ocsp" / fuzz.LE_RESPONSE).read_bytes()
    issuer = x509.load_pem_x509_certificate((vectors / fuzz.LE_ISSUER).read_bytes())
    serial = ocsp.load_der_ocsp_response(data).serial_number
    day = fuzz.LE_NOW
    leaf = forge.make_leaf(forge.make_ca("stand-in", now=day), "le", now=day, serial=serial).cert
    pair = CertPair(leaf, issuer, "vector")
    verdict = validate(data, pair, now=day)
    assert verdict.codes == []
    assert verdict.facts.signer == "CN=Let's Encrypt Authority X3,O=Let's Encrypt,C=US"
    assert validate(forge.flip_signature_bit(data), pair, now=day).codes == ["bad_signature"]
    assert validate(data, pair, now=day + 7 * 24 * H).codes == ["expired"]


EXPECTED_VECTOR_CODES = {
    # against this suite's test leaf: every successful one answers for another certificate
    "resp-unknown-hash-alg.der": {"unsupported_cert_id_hash"},
    "resp-invalid-signature-oid.der": {"unsupported_signature_algorithm"},
    "resp-unauthorized.der": {"unauthorized"},
    "resp-unknown-response-status.der": {"malformed"},
    "resp-response-type-unknown-oid.der": {"malformed"},
    "resp-successful-no-response-bytes.der": {"malformed"},
    "resp-invalid-version.der": {"malformed"},
}


def test_every_real_vector_gets_a_verdict_with_named_problems(vectors: Path, pki: Pki) -> None:
    files = sorted((vectors / "ocsp").glob("*resp*.der"))
    assert len(files) >= 15
    for path in files:
        verdict = validate(path.read_bytes(), pki.pair, now=pki.now)
        assert not verdict.valid, path.name
        assert verdict.problems, path.name
        assert "unknown_critical_extension" not in verdict.codes, path.name  # their extensions are non-critical
        assert EXPECTED_VECTOR_CODES.get(path.name, set()) <= set(verdict.codes), (path.name, verdict.codes)


def test_every_real_certificate_in_the_certs_field_gets_a_verdict(vectors: Path, pki: Pki) -> None:
    """Item 1, the general rule: whatever certificate rides in the unsigned certs field of a good response,
    the verdict is valid, unreadable_certificate, or malformed (the library refuses the whole response)."""
    seen: dict[tuple[str, ...], int] = {}
    base = pki.response()
    for where, der in fuzz.vector_certificates(vectors):
        try:
            data = fi.with_included(base, [der])
        except fi.DerParseError:
            continue  # not one DER TLV: nothing a response could carry
        verdict = validate(data, pki.pair, now=pki.now)
        assert verdict.codes in ([], ["unreadable_certificate"], ["malformed"]), (where, verdict.codes)
        seen[tuple(verdict.codes)] = seen.get(tuple(verdict.codes), 0) + 1
    assert sum(seen.values()) >= 300
    assert seen.get(("unreadable_certificate",), 0) >= 5, seen  # cryptography 50: 21 of 580
