"""Responses the cryptography builders cannot make: what real CAs and responders send (issue 10).

A small DER tree (:class:`Node`, :func:`parse`) edits a response that :mod:`testbed.forge`
built, then :func:`resign` signs the edited tbsResponseData again with the signer's key, so
the result is a correctly signed response of the wanted shape: RSASSA-PSS signatures with
explicit parameters, critical or unknown extensions at response and SingleResponse level,
several SingleResponses (one with a CertID hash the library does not know), ResponderID
names in another string type or case, included certificates the library cannot read,
CertIDs hashed with SHA-384/SHA-512. The fuzzer (:mod:`testbed.fuzz`) uses the same tree.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from testbed.forge import Issued, PrivateKey

SEQUENCE, OCTET_STRING, OID, INTEGER, BOOLEAN, BIT_STRING, NULL = 0x30, 0x04, 0x06, 0x02, 0x01, 0x03, 0x05
RSASSA_PSS = "1.2.840.113549.1.1.10"
MGF1 = "1.2.840.113549.1.1.8"
HASH_OIDS = {
    "sha1": "1.3.14.3.2.26",
    "sha224": "2.16.840.1.101.3.4.2.4",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}


class DerParseError(ValueError):
    pass


@dataclass
class Node:
    """One DER TLV: primitive ``value``, or ``children`` (constructed, or an OCTET STRING that holds DER)."""

    tag: int
    value: bytes = b""
    children: list[Node] | None = None
    encapsulated: bool = False

    def content(self) -> bytes:
        if self.children is None:
            return self.value
        return b"".join(child.encode() for child in self.children)

    def encode(self) -> bytes:
        return tlv(self.tag, self.content())

    def __getitem__(self, index: int) -> Node:
        if self.children is None:
            raise IndexError(f"tag 0x{self.tag:02x} has no children")
        return self.children[index]


def length_octets(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length_octets(len(content)) + content


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    if pos + 2 > len(data):
        raise DerParseError("truncated header")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise DerParseError("multi-byte tag")
    start = pos + 2
    if first < 0x80:
        length = first
    elif first == 0x80 or first & 0x7F > 4:
        raise DerParseError("unsupported length")
    else:
        count = first & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > len(data):
        raise DerParseError("overrun")
    return tag, start, start + length


def parse_all(data: bytes, *, open_octets: bool = True) -> list[Node]:
    nodes, pos = [], 0
    while pos < len(data):
        tag, start, end = _read(data, pos)
        content = data[start:end]
        node = Node(tag, content)
        if tag & 0x20:
            node.children = parse_all(content, open_octets=open_octets)
        elif open_octets and tag == OCTET_STRING and content[:1] == b"\x30":
            try:
                inner = parse_all(content, open_octets=open_octets)
            except DerParseError:
                inner = []
            if len(inner) == 1 and inner[0].encode() == content:
                node.children, node.encapsulated = inner, True
        nodes.append(node)
        pos = end
    return nodes


def parse(data: bytes, *, open_octets: bool = True) -> Node:
    nodes = parse_all(data, open_octets=open_octets)
    if len(nodes) != 1:
        raise DerParseError(f"{len(nodes)} top-level TLVs")
    return nodes[0]


def opaque(data: bytes) -> Node:
    """One TLV kept as its bytes (its inside is not parsed): a certificate copied as it is."""
    tag, start, end = _read(data, 0)
    if end != len(data):
        raise DerParseError("bytes after the TLV")
    return Node(tag, data[start:end])


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk, rest = [arc & 0x7F], arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


def integer(value: int) -> bytes:
    return tlv(INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def algorithm_identifier(dotted: str, params: bytes | None = b"\x05\x00") -> bytes:
    return tlv(SEQUENCE, oid(dotted) + (params or b""))


def extension(dotted: str, value: bytes, *, critical: bool) -> Node:
    """An Extension node (the OCTET STRING holds ``value``)."""
    return parse(tlv(SEQUENCE, oid(dotted) + (tlv(BOOLEAN, b"\xff") if critical else b"") + tlv(OCTET_STRING, value)))


# --- where things are in an OCSPResponse tree ------------------------------------------------


def basic_of(root: Node) -> Node:
    """The BasicOCSPResponse node of an OCSPResponse tree (children: tbs, signatureAlgorithm, signature, [0] certs)."""
    return root[1][0][1][0]


def tbs_fields(basic: Node) -> list[Node]:
    children = basic[0].children
    if children is None:
        raise DerParseError("tbsResponseData is not constructed")
    return children


def responses_node(basic: Node) -> Node:
    fields = tbs_fields(basic)
    at = next(i for i, node in enumerate(fields) if node.tag == 0x18)
    return fields[at + 1]


# --- signing -----------------------------------------------------------------------------------


def sign_bytes(key: PrivateKey, data: bytes, *, pss: tuple[str, str, int] | None = None) -> bytes:
    if pss is not None:
        digest, mgf_digest, salt = (_hash(pss[0]), _hash(pss[1]), pss[2])
        return key.sign(data, padding.PSS(mgf=padding.MGF1(mgf_digest), salt_length=salt), digest)  # type: ignore[no-any-return]
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data)  # type: ignore[no-any-return]


def _hash(name: str) -> hashes.HashAlgorithm:
    classes: dict[str, type[hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1,
        "sha224": hashes.SHA224,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }
    return classes[name]()


def resign(der: bytes, key: PrivateKey, edit: Callable[[Node], None] | None = None) -> bytes:
    """``der`` with ``edit`` applied to its BasicOCSPResponse node, tbsResponseData signed again by ``key``."""
    root = parse(der)
    basic = basic_of(root)
    if edit is not None:
        edit(basic)
    signature = sign_bytes(key, basic[0].encode())
    assert basic.children is not None
    basic.children[2] = Node(BIT_STRING, b"\x00" + signature)
    return root.encode()


def pss_params(digest: str = "sha256", mgf_digest: str | None = None, salt: int = 32) -> bytes:
    """RSASSA-PSS-params DER (RFC 4055), defaults omitted as DER requires."""
    mgf_digest = mgf_digest or digest
    fields = b""
    if digest != "sha1":
        fields += tlv(0xA0, algorithm_identifier(HASH_OIDS[digest]))
    if mgf_digest != "sha1":
        fields += tlv(0xA1, algorithm_identifier(MGF1, algorithm_identifier(HASH_OIDS[mgf_digest])))
    if salt != 20:
        fields += tlv(0xA2, integer(salt))
    return tlv(SEQUENCE, fields)


def pss_signed(
    der: bytes,
    key: rsa.RSAPrivateKey,
    *,
    digest: str = "sha256",
    mgf_digest: str | None = None,
    salt: int = 32,
    params: bytes | None = None,
) -> bytes:
    """``der`` signed again with RSASSA-PSS; ``params`` overrides the encoded RSASSA-PSS-params (lies included)."""
    root = parse(der)
    basic = basic_of(root)
    assert basic.children is not None
    encoded = params if params is not None else pss_params(digest, mgf_digest, salt)
    basic.children[1] = parse(algorithm_identifier(RSASSA_PSS, encoded))
    signature = sign_bytes(key, basic[0].encode(), pss=(digest, mgf_digest or digest, salt))
    basic.children[2] = Node(BIT_STRING, b"\x00" + signature)
    return root.encode()


# --- shapes real responders send ------------------------------------------------------------


def with_response_extension(der: bytes, key: PrivateKey, ext: Node) -> bytes:
    """A responseExtensions entry added (the field created when absent), signed again."""

    def edit(basic: Node) -> None:
        fields = tbs_fields(basic)
        last = fields[-1]
        if last.tag == 0xA1 and fields.index(last) > fields.index(responses_node(basic)):
            assert last.children is not None
            last[0].children = [*(last[0].children or []), ext]
        else:
            fields.append(Node(0xA1, children=[Node(SEQUENCE, children=[ext])]))

    return resign(der, key, edit)


def with_single_extension(der: bytes, key: PrivateKey, ext: Node, *, index: int = 0) -> bytes:
    """A singleExtensions entry added to SingleResponse ``index``, signed again."""

    def edit(basic: Node) -> None:
        single = responses_node(basic)[index]
        assert single.children is not None
        last = single.children[-1]
        if last.tag == 0xA1 and len(single.children) > 3:
            last[0].children = [*(last[0].children or []), ext]
        else:
            single.children.append(Node(0xA1, children=[Node(SEQUENCE, children=[ext])]))

    return resign(der, key, edit)


def with_singles_before(der: bytes, key: PrivateKey, others: list[bytes], *, hash_oid: str | None = None) -> bytes:
    """The SingleResponses of the responses ``others`` placed before this one's; ``hash_oid`` rewrites their
    CertID hash algorithm (an OID the library does not know: the entry becomes unreadable to it)."""

    def edit(basic: Node) -> None:
        extra = []
        for other in others:
            single = responses_node(basic_of(parse(other)))[0]
            if hash_oid is not None:
                single[0][0].children = [parse(oid(hash_oid)), Node(NULL)]
            extra.append(single)
        singles = responses_node(basic)
        singles.children = [*extra, *(singles.children or [])]

    return resign(der, key, edit)


def with_included(der: bytes, certs: list[bytes]) -> bytes:
    """``certs`` (DER) appended to the response's unsigned certs field: the signature stays valid."""
    root = parse(der)
    basic = basic_of(root)
    assert basic.children is not None
    added = [opaque(cert) for cert in certs]
    if len(basic.children) > 3:
        basic[3][0].children = [*(basic[3][0].children or []), *added]
    else:
        basic.children.append(Node(0xA0, children=[Node(SEQUENCE, children=added)]))
    return root.encode()


def unreadable_key_cert(cert: x509.Certificate, *, algorithm: str = "1.2.3.4.5.6.7") -> bytes:
    """``cert``'s DER with its public key algorithm replaced by an OID no library knows (signature now broken)."""
    root = parse(cert.public_bytes(serialization.Encoding.DER), open_octets=False)
    tbs = root[0]
    assert tbs.children is not None
    spki_at = next(
        i
        for i, node in enumerate(tbs.children)
        if node.tag == SEQUENCE and node.children and node[0].tag == SEQUENCE and node.children[-1].tag == BIT_STRING
    )
    tbs[spki_at][0].children = [parse(oid(algorithm)), Node(NULL)]
    return root.encode()


def duplicate_extension_cert(cert: x509.Certificate) -> bytes:
    """``cert``'s DER with its first extension listed twice (RFC 5280 4.2 forbids it; libraries refuse it)."""
    root = parse(cert.public_bytes(serialization.Encoding.DER), open_octets=False)
    tbs = root[0]
    assert tbs.children is not None
    extensions = next(node for node in tbs.children if node.tag == 0xA3)[0]
    assert extensions.children is not None
    extensions.children.append(extensions.children[0])
    return root.encode()


def name_as(
    name: x509.Name, *, string_type: str = "PrintableString", transform: Callable[[str], str] = str
) -> x509.Name:
    """``name`` with every value re-encoded as ``string_type`` (and passed through ``transform``: case, spaces)."""
    kind = getattr(_ASN1Type, string_type)
    return x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(a.oid, transform(str(a.value)), kind) for a in rdn])
            for rdn in name.rdns
        ]
    )


def with_responder_name(der: bytes, key: PrivateKey, name: x509.Name) -> bytes:
    """The ResponderID set to byName ``name`` (in its own encoding), signed again."""

    def edit(basic: Node) -> None:
        fields = tbs_fields(basic)
        at = 1 if fields[0].tag == 0xA0 else 0
        fields[at] = Node(0xA1, children=[parse(name.public_bytes(), open_octets=False)])

    return resign(der, key, edit)


def cert_id_hash_response(
    leaf: x509.Certificate,
    issuer: Issued,
    digest: hashes.HashAlgorithm,
    *,
    this_update: _dt.datetime,
    next_update: _dt.datetime | None,
) -> bytes:
    """A response signed by the issuer whose CertID is hashed with ``digest`` (SHA-224/384/512 too)."""
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=issuer.cert,
        algorithm=digest,
        cert_status=ocsp.OCSPCertStatus.GOOD,
        this_update=this_update,
        next_update=next_update,
        revocation_time=None,
        revocation_reason=None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def delegate_with_issuer_name(ca: Issued, issuer_name: x509.Name, *, now: _dt.datetime, key_type: str = "ec") -> Issued:
    """A responder certificate signed by ``ca``'s key whose issuer field is ``issuer_name`` (another encoding)."""
    from testbed import forge

    return forge.make_responder(ca, "Test CA OCSP Responder", now=now, key_type=key_type, issuer_name=issuer_name)


def common_name(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])


def with_signature_algorithm(der: bytes, algorithm: bytes) -> bytes:
    """``der`` with its signatureAlgorithm replaced by the AlgorithmIdentifier DER ``algorithm`` (not signed again)."""
    root = parse(der)
    basic = basic_of(root)
    assert basic.children is not None
    basic.children[1] = parse(algorithm)
    return root.encode()


def with_revocation_reason(der: bytes, key: PrivateKey, code: int) -> bytes:
    """A revoked response whose CRLReason is ``code`` (RFC 5280 defines 0-10 without 7), signed again."""

    def edit(basic: Node) -> None:
        revoked = responses_node(basic)[0][1]
        assert revoked.children is not None
        revoked.children[-1] = Node(0xA0, children=[Node(0x0A, bytes([code]))])

    return resign(der, key, edit)


def leaf_with_issuer_name(ca: Issued, issuer_name: x509.Name, *, now: _dt.datetime) -> Issued:
    """A leaf signed by ``ca``'s key whose issuer field is ``issuer_name`` (``ca``'s name in another encoding)."""
    from testbed import forge

    key = forge.new_key("ec")
    builder = (
        x509.CertificateBuilder()
        .subject_name(common_name("www.example.org"))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=90))
    )
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)
