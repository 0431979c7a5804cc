"""What a leaf says about asking for its staple: the AIA OCSP URLs, the Must-Staple flag (TLS
Feature ``status_request``) and the OCSPRequest built for it.

The central host (asking, the Must-Staple-without-URL rule, the disable guard) and the
controller's plan read these. A node re-validating a staple needs none of it, so it lives
beside certs.py rather than in it: every node module ships certs.py.
"""

from __future__ import annotations

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import AuthorityInformationAccessOID
except ImportError:  # the modules name a missing or old cryptography first (requires.py)
    pass

from .certs import CERT_ID_HASHES, CertPair, cert_id_hash
from .errors import InputError


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URLs of the AIA extension, in certificate order (may be empty)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            urls.append(desc.access_location.value)
    return urls


def is_must_staple(cert: x509.Certificate) -> bool:
    """True when the certificate carries the TLS Feature extension with ``status_request``."""
    try:
        features = cert.extensions.get_extension_for_class(x509.TLSFeature).value
    except x509.ExtensionNotFound:
        return False
    return x509.TLSFeatureType.status_request in list(features)


def ocsp_request(pair: CertPair, algorithm: str = "sha1") -> bytes:
    """A DER OCSPRequest for the pair's leaf (no nonce: staples are cached and shared)."""
    return build_ocsp_request(pair.leaf, pair.issuer, algorithm)


def build_ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate, algorithm: str = "sha1") -> bytes:
    if algorithm not in CERT_ID_HASHES:
        raise InputError(f"CertID hash algorithm {algorithm!r} is not supported (use sha1 or sha256)")
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, cert_id_hash(algorithm))
    return builder.build().public_bytes(serialization.Encoding.DER)
