"""Loading a leaf and its issuer: chain files, mismatches, not-a-CA, garbage — one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocsp_staple.aia import is_must_staple, ocsp_request, ocsp_urls
from ocsp_staple.certs import load_pair, load_pair_from_pem
from ocsp_staple.errors import CertificateError

from testbed import forge, forge_interop

from ..conftest import Pki

pytestmark = pytest.mark.node  # core only: also runs on Debian's python3-cryptography


def test_leaf_and_issuer_files(pki: Pki, pki_files: dict[str, str]) -> None:
    pair = load_pair(pki_files["leaf"], pki_files["ca"])
    assert pair.leaf == pki.leaf.cert
    assert pair.issuer == pki.ca.cert
    assert ocsp_urls(pair.leaf) == ["http://127.0.0.1:8880/"]
    assert is_must_staple(pair.leaf) is False


def test_chain_file_with_issuer_after_leaf(pki: Pki, pki_files: dict[str, str]) -> None:
    pair = load_pair(pki_files["chain"])
    assert pair.issuer == pki.ca.cert


def test_must_staple_and_no_ocsp_url(pki: Pki) -> None:
    leaf = forge.make_leaf(pki.ca, "ms.example.org", now=pki.now, must_staple=True, ocsp_url=None)
    pair = load_pair_from_pem(leaf.pem, pki.ca.pem)
    assert is_must_staple(pair.leaf) is True
    assert ocsp_urls(pair.leaf) == []


def test_sha256_request_is_der(pki: Pki) -> None:
    from cryptography.x509 import ocsp

    request = ocsp.load_der_ocsp_request(ocsp_request(pki.pair, "sha256"))
    assert request.serial_number == pki.leaf.cert.serial_number
    assert request.hash_algorithm.name == "sha256"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda p, d: load_pair(str(d / "missing.pem"), None),
            r"^certificate file .*/missing.pem: cannot read: No such file or directory$",
            id="missing-file",
        ),
        pytest.param(
            lambda p, d: load_pair(_write(d / "garbage.pem", b"hello world\n"), None),
            r"^certificate file .*/garbage.pem: no PEM certificate found \(file starts with 'hello world'\)$",
            id="pem-garbage",
        ),
        pytest.param(
            lambda p, d: load_pair(_write(d / "leaf.pem", p.leaf.pem), _write(d / "other.pem", p.other_ca.pem)),
            r"^issuer file .*/other.pem \(CN=Other CA\) did not issue certificate file .*/leaf.pem "
            r"\(CN=www.example.org\): the leaf names its issuer CN=Test CA$",
            id="leaf-and-issuer-do-not-match",
        ),
        pytest.param(
            lambda p, d: load_pair(
                _write(d / "leaf.pem", p.leaf.pem), _write(d / "fake.pem", forge.make_ca("Test CA", now=p.now).pem)
            ),
            r"^issuer file .*/fake.pem \(CN=Test CA\) did not sign certificate file .*/leaf.pem "
            r"\(CN=www.example.org\): same name, different key$",
            id="same-name-issuer-other-key",
        ),
        pytest.param(
            lambda p, d: load_pair(_write(d / "leaf.pem", p.leaf.pem), None),
            r"^certificate file .*/leaf.pem: holds only the leaf CN=www.example.org and no issuer file was given",
            id="no-issuer",
        ),
        pytest.param(
            lambda p, d: load_pair(_write(d / "l2.pem", _leaf_of_leaf(p).pem), _write(d / "leaf.pem", p.leaf.pem)),
            r"^issuer file .*/leaf.pem \(CN=www.example.org\) is not a CA certificate",
            id="issuer-not-a-ca",
        ),
    ],
)
def test_bad_certificate_input_is_one_line(make: object, message: str, pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match=message) as info:
        make(pki, tmp_path)  # type: ignore[operator]
    assert "\n" not in str(info.value)


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _leaf_of_leaf(pki: Pki) -> forge.Issued:
    """A certificate 'issued' by the leaf (which is not a CA)."""
    return forge.make_leaf(forge.Issued(pki.leaf.cert, pki.leaf.key), "sub.example.org", now=pki.now)


@pytest.mark.parametrize("transform", [str, str.upper], ids=["printable-string", "printable-string-upper-case"])
def test_issuer_name_in_another_encoding_pairs_by_rfc5280_rules(transform: object, pki: Pki) -> None:
    """RFC 5280 7.1: names match after RFC 4518 preparation, whatever the string type (issue 10, item 6)."""
    issuer_name = forge_interop.name_as(pki.ca.cert.subject, transform=transform)  # type: ignore[arg-type]
    leaf = forge_interop.leaf_with_issuer_name(pki.ca, issuer_name, now=pki.now)
    assert leaf.cert.issuer.public_bytes() != pki.ca.cert.subject.public_bytes()
    pair = load_pair_from_pem(leaf.pem, pki.ca.pem)
    assert pair.issuer == pki.ca.cert


def test_issuer_of_another_name_is_still_refused(pki: Pki) -> None:
    leaf = forge_interop.leaf_with_issuer_name(pki.ca, forge_interop.common_name("Test CB"), now=pki.now)
    with pytest.raises(CertificateError, match="did not issue"):
        load_pair_from_pem(leaf.pem, pki.ca.pem)
