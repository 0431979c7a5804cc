"""Test PKI and OCSP response factory (cryptography builders).

Used by the test suite, the fault-injecting test responder and the local demo. It makes
CAs, leaves, delegated responder certificates and OCSP responses of every shape the
policy must judge. Nothing here is used on the production path (fetch, store, deploy,
check), and nothing here reads a private key that it did not create, except
:func:`load_key` which the test responder uses for the demo PKI it was given.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from ocsp_staple.certs import cert_id_hash as _cert_id_hash

PrivateKey = Any  # rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def new_key(key_type: str = "ec") -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"key type {key_type!r} is not one of rsa, ec")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    *,
    start: _dt.datetime,
    end: _dt.datetime,
    serial: int | None = None,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def make_ca(
    common_name: str, *, now: _dt.datetime, key_type: str = "ec", days: int = 3650, parent: Issued | None = None
) -> Issued:
    """A CA certificate, self-signed or issued by ``parent``."""
    key = new_key(key_type)
    issuer_name = parent.cert.subject if parent else _name(common_name)
    signing_key = parent.key if parent else key
    builder = _builder(
        _name(common_name), issuer_name, key, start=now - _dt.timedelta(days=1), end=now + _dt.timedelta(days=days)
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


def make_leaf(
    ca: Issued,
    common_name: str,
    *,
    now: _dt.datetime,
    ocsp_url: str | None = "http://127.0.0.1:8880/",
    must_staple: bool = False,
    serial: int | None = None,
    key_type: str = "ec",
    days: int = 90,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
) -> Issued:
    key = new_key(key_type)
    start = not_before or now - _dt.timedelta(days=1)
    end = not_after or now + _dt.timedelta(days=days)
    builder = _builder(_name(common_name), ca.cert.subject, key, start=start, end=end, serial=serial)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]
            ),
            critical=False,
        )
    if must_staple:
        builder = builder.add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def make_responder(
    ca: Issued,
    common_name: str,
    *,
    now: _dt.datetime,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    eku: bool = True,
    nocheck: bool = True,
    key_type: str = "ec",
    signed_by: Issued | None = None,
    issuer_name: x509.Name | None = None,
) -> Issued:
    """A delegated OCSP responder certificate issued by ``ca``.

    ``signed_by`` / ``issuer_name`` forge impostors: a certificate that names ``ca`` as
    issuer but is signed by another key, or one issued by another CA entirely.
    """
    key = new_key(key_type)
    start = not_before or now - _dt.timedelta(days=1)
    end = not_after or now + _dt.timedelta(days=90)
    signer = signed_by or ca
    builder = _builder(_name(common_name), issuer_name or signer.cert.subject, key, start=start, end=end)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    if nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    return Issued(builder.sign(signer.key, hashes.SHA256()), key)


def make_response(
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    signer: Issued,
    *,
    this_update: _dt.datetime,
    next_update: _dt.datetime | None,
    status: str = "good",
    revocation_time: _dt.datetime | None = None,
    cert_id_hash: str = "sha1",
    include_signer: bool | None = None,
    responder_id: str = "hash",
    produced_at: _dt.datetime | None = None,
) -> bytes:
    """A signed, successful DER OCSPResponse for ``leaf`` (``produced_at`` defaults to thisUpdate)."""
    del produced_at  # cryptography sets producedAt to the signing time; kept for call symmetry
    cert_status = {
        "good": ocsp.OCSPCertStatus.GOOD,
        "revoked": ocsp.OCSPCertStatus.REVOKED,
        "unknown": ocsp.OCSPCertStatus.UNKNOWN,
    }[status]
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=issuer,
        algorithm=_cert_id_hash(cert_id_hash),
        cert_status=cert_status,
        this_update=this_update,
        next_update=next_update,
        revocation_time=(revocation_time or this_update) if status == "revoked" else None,
        revocation_reason=x509.ReasonFlags.key_compromise if status == "revoked" else None,
    )
    encoding = ocsp.OCSPResponderEncoding.HASH if responder_id == "hash" else ocsp.OCSPResponderEncoding.NAME
    builder = builder.responder_id(encoding, signer.cert)
    delegated = signer.cert != issuer
    if include_signer if include_signer is not None else delegated:
        builder = builder.certificates([signer.cert])
    algorithm = None if _is_eddsa(signer.key) else hashes.SHA256()
    return builder.sign(signer.key, algorithm).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def _is_eddsa(key: PrivateKey) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    return isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))


#: The unsuccessful responseStatus values as the bytes a responder sends (tryLater = 30 03 0a 01 03).
UNSUCCESSFUL = {
    "malformed_request": 1,
    "internal_error": 2,
    "try_later": 3,
    "sig_required": 5,
    "unauthorized": 6,
}


def unsuccessful(code: str) -> bytes:
    return bytes([0x30, 0x03, 0x0A, 0x01, UNSUCCESSFUL[code]])


def flip_signature_bit(der: bytes) -> bytes:
    """The same response with one bit of its signature value flipped (everything else intact)."""
    signature = ocsp.load_der_ocsp_response(der).signature
    at = der.rfind(signature) + len(signature) - 1
    return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]


def write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_key(path: str) -> PrivateKey:
    """Load an unencrypted PEM private key (the test responder's signing key)."""
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


def load_issued(cert_path: str, key_path: str) -> Issued:
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return Issued(cert, load_key(key_path))
