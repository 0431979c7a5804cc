"""Certificates: loading a leaf and its issuer, signatures, names, CertID (what a node needs to judge a staple;
the AIA URLs, Must-Staple and the OCSP request are in aia.py).

Works with cryptography 36+ (the oldest a supported distribution ships): no
``load_pem_x509_certificates`` (39+), no ``verify_directly_issued_by`` (40+).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID
except ImportError:  # the modules name a missing or old cryptography first (requires.py)
    pass

from .compat import utc_required
from .der import DerError, subject_public_key_bits
from .errors import CertificateError, InputError

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)

#: CertID hash algorithms this project builds and accepts (RFC 6960 uses SHA-1; RFC 5019 allows SHA-256),
#: each with its class name in cryptography's ``hashes``.
CERT_ID_HASHES: dict[str, str] = {"sha1": "SHA1", "sha256": "SHA256"}


def cert_id_hash(algorithm: str) -> hashes.HashAlgorithm:
    """The hash object of a CertID algorithm of CERT_ID_HASHES (KeyError for any other)."""
    hash_class: type[hashes.HashAlgorithm] = getattr(hashes, CERT_ID_HASHES[algorithm])
    return hash_class()


# Certificates are immutable and hashable (by their DER), so what is derived from one is
# computed once and cached: validating a staple then costs little more than its signature
# checks. One lookup per certificate per validation (hashing a certificate is not free).
@dataclass(frozen=True)
class CertProfile:
    subject: str
    subject_der: bytes
    issuer_der: bytes
    public_key: Any
    not_before: _dt.datetime
    not_after: _dt.datetime
    ocsp_signing: bool
    is_ca: bool
    key_sha1: bytes


@functools.lru_cache(maxsize=1024)
def profile(cert: x509.Certificate) -> CertProfile:
    return CertProfile(
        subject=cert.subject.rfc4514_string(),
        subject_der=cert.subject.public_bytes(),
        issuer_der=cert.issuer.public_bytes(),
        public_key=cert.public_key(),
        not_before=utc_required(cert, "not_valid_before"),
        not_after=utc_required(cert, "not_valid_after"),
        ocsp_signing=_has_ocsp_signing_eku(cert),
        is_ca=_is_ca(cert),
        key_sha1=key_hash(cert, "sha1"),
    )


def subject_text(cert: x509.Certificate) -> str:
    """The subject as an RFC 4514 string, for messages."""
    return profile(cert).subject


def not_after(cert: x509.Certificate) -> _dt.datetime:
    return profile(cert).not_after


def not_before(cert: x509.Certificate) -> _dt.datetime:
    return profile(cert).not_before


def iso(value: _dt.datetime | None) -> str | None:
    """Render an aware datetime as ``2015-08-20T15:12:00Z`` (None stays None)."""
    if value is None:
        return None
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_pem_certificates(data: bytes, *, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in order. ``what`` names the source in errors."""
    blocks = _PEM_CERT.findall(data)
    if not blocks:
        snippet = data[:24].decode("ascii", "replace").strip() or "<empty>"
        raise CertificateError(f"{what}: no PEM certificate found (file starts with {snippet!r})")
    certs = []
    for index, block in enumerate(blocks):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise CertificateError(f"{what}: PEM certificate #{index + 1} does not parse: {exc}") from None
    return certs


def read_pem_file(path: str) -> list[x509.Certificate]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CertificateError(f"certificate file {path}: cannot read: {exc.strerror or exc}") from None
    return parse_pem_certificates(data, what=f"certificate file {path}")


def verify_signature(
    public_key: Any,
    signature: bytes,
    data: bytes,
    hash_algorithm: hashes.HashAlgorithm | None,
    signature_oid: x509.ObjectIdentifier | None = None,
) -> bool:
    """True when ``signature`` over ``data`` verifies with ``public_key``; never raises."""
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            if hash_algorithm is None:
                return False
            if signature_oid == SignatureAlgorithmOID.RSASSA_PSS:
                pad: padding.AsymmetricPadding = padding.PSS(
                    mgf=padding.MGF1(hash_algorithm), salt_length=padding.PSS.AUTO
                )
            else:
                pad = padding.PKCS1v15()
            public_key.verify(signature, data, pad, hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if hash_algorithm is None:
                return False
            public_key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(signature, data)
        elif isinstance(public_key, dsa.DSAPublicKey):
            if hash_algorithm is None:
                return False
            public_key.verify(signature, data, hash_algorithm)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _prepared(value: object) -> object:
    """An attribute value as RFC 4518 prepares it: NFKC, case folded, insignificant spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value.casefold()).split()) if isinstance(value, str) else value


@functools.lru_cache(maxsize=1024)
def name_key(name: x509.Name) -> tuple[frozenset[tuple[str, object]], ...]:
    return tuple(frozenset((a.oid.dotted_string, _prepared(a.value)) for a in rdn) for rdn in name.rdns)


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """Names compared as RFC 5280 7.1 says (RFC 4518 preparation, any string type; RDNs in order), not as DER."""
    return a == b or name_key(a) == name_key(b)


def certificate_hash_algorithm(cert: x509.Certificate) -> hashes.HashAlgorithm | None:
    try:
        return cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None


def is_signed_by(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    cert_profile: CertProfile | None = None,
    issuer_profile: CertProfile | None = None,
) -> bool:
    """True when ``issuer``'s subject is ``cert``'s issuer (RFC 5280 7.1) and its key verifies ``cert``.

    Callers that already hold the profiles pass them (saves a cache lookup each).
    """
    issuer_profile = issuer_profile or profile(issuer)
    if (cert_profile or profile(cert)).issuer_der != issuer_profile.subject_der and not same_name(
        cert.issuer, issuer.subject
    ):
        return False
    return verify_signature(
        issuer_profile.public_key,
        cert.signature,
        cert.tbs_certificate_bytes,
        certificate_hash_algorithm(cert),
        cert.signature_algorithm_oid,
    )


def is_ca(cert: x509.Certificate) -> bool:
    return profile(cert).is_ca


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.ca)


def _has_ocsp_signing_eku(cert: x509.Certificate) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in list(usages)


@functools.lru_cache(maxsize=1024)
def public_key_bits(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        return subject_public_key_bits(spki)
    except DerError as exc:  # pragma: no cover - cryptography always produces valid SPKI
        raise CertificateError(f"certificate {subject_text(cert)}: public key unreadable: {exc}") from None


@functools.lru_cache(maxsize=1024)
def key_hash(cert: x509.Certificate, algorithm: str = "sha1") -> bytes:
    """Hash of the subjectPublicKey bits (CertID issuerKeyHash, ResponderID byKey)."""
    return hashlib.new(algorithm, public_key_bits(cert)).digest()


@functools.lru_cache(maxsize=1024)
def name_hash(cert: x509.Certificate, algorithm: str = "sha1") -> bytes:
    """Hash of the DER subject name (CertID issuerNameHash uses the issuer's subject)."""
    return hashlib.new(algorithm, profile(cert).subject_der).digest()


@dataclass(frozen=True)
class CertId:
    """The CertID of a leaf under its issuer, in one hash algorithm."""

    hash_algorithm: str
    serial_number: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes

    def as_dict(self) -> dict[str, str]:
        return {
            "hash_algorithm": self.hash_algorithm,
            "serial_number": format(self.serial_number, "X"),
            "issuer_name_hash": self.issuer_name_hash.hex(),
            "issuer_key_hash": self.issuer_key_hash.hex(),
        }


@functools.lru_cache(maxsize=1024)
def cert_id(leaf: x509.Certificate, issuer: x509.Certificate, algorithm: str = "sha1") -> CertId:
    """The CertID in ``algorithm``: any hash hashlib computes matches a response (requests use CERT_ID_HASHES)."""
    if algorithm not in CERT_ID_HASHES and algorithm not in hashlib.algorithms_available:
        raise InputError(f"CertID hash algorithm {algorithm!r} is not supported here")
    return CertId(algorithm, leaf.serial_number, name_hash(issuer, algorithm), key_hash(issuer, algorithm))


@dataclass(frozen=True)
class CertPair:
    """A leaf certificate and the certificate of the CA that issued it, both checked."""

    leaf: x509.Certificate
    issuer: x509.Certificate
    source: str

    @property
    def subject(self) -> str:
        return subject_text(self.leaf)

    def cert_id(self, algorithm: str = "sha1") -> CertId:
        cached = self._cert_ids.get(algorithm)
        return cached if cached is not None else cert_id(self.leaf, self.issuer, algorithm)

    @functools.cached_property
    def _cert_ids(self) -> dict[str, CertId]:
        return {algorithm: cert_id(self.leaf, self.issuer, algorithm) for algorithm in CERT_ID_HASHES}

    @functools.cached_property
    def issuer_profile(self) -> CertProfile:
        return profile(self.issuer)


def pair_from_certificates(
    certs: list[x509.Certificate], issuer_certs: list[x509.Certificate] | None, *, source: str, issuer_source: str
) -> CertPair:
    """Check and pair a leaf (first of ``certs``) with its issuer.

    The issuer is the first certificate of ``issuer_certs`` when given, else the second
    certificate of ``certs`` (a chain file: leaf first, then its issuer).
    """
    leaf = certs[0]
    if issuer_certs:
        issuer = issuer_certs[0]
    elif len(certs) > 1:
        issuer = certs[1]
        issuer_source = f"{source} (certificate #2)"
    else:
        raise CertificateError(
            f"{source}: holds only the leaf {subject_text(leaf)} and no issuer file was given "
            "(pass the issuer, or a chain file with the issuer after the leaf)"
        )
    if not same_name(leaf.issuer, issuer.subject):
        raise CertificateError(
            f"issuer {issuer_source} ({subject_text(issuer)}) did not issue {source} ({subject_text(leaf)}): "
            f"the leaf names its issuer {leaf.issuer.rfc4514_string()}"
        )
    if not is_signed_by(leaf, issuer):
        raise CertificateError(
            f"issuer {issuer_source} ({subject_text(issuer)}) did not sign {source} ({subject_text(leaf)}): "
            "same name, different key"
        )
    if not is_ca(issuer):
        raise CertificateError(
            f"issuer {issuer_source} ({subject_text(issuer)}) is not a CA certificate "
            "(basicConstraints CA:TRUE missing)"
        )
    return CertPair(leaf=leaf, issuer=issuer, source=source)


def load_pair(certificate: str, issuer: str | None = None) -> CertPair:
    """Load a leaf (PEM file, may be a chain) and its issuer (PEM file, optional)."""
    certs = read_pem_file(certificate)
    issuer_certs = read_pem_file(issuer) if issuer else None
    return pair_from_certificates(
        certs,
        issuer_certs,
        source=f"certificate file {certificate}",
        issuer_source=f"file {issuer}" if issuer else "",
    )


def load_pair_from_pem(certificate_pem: str | bytes, issuer_pem: str | bytes | None = None) -> CertPair:
    """Like :func:`load_pair` for PEM text (filters and templates hold text, not paths)."""
    cert_bytes = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
    certs = parse_pem_certificates(cert_bytes, what="certificate PEM")
    issuer_certs = None
    if issuer_pem:
        issuer_bytes = issuer_pem.encode() if isinstance(issuer_pem, str) else issuer_pem
        issuer_certs = parse_pem_certificates(issuer_bytes, what="issuer PEM")
    return pair_from_certificates(certs, issuer_certs, source="certificate PEM", issuer_source="issuer PEM")
