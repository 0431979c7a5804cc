"""What the library does not tell of a BasicOCSPResponse (RFC 6960 4.2.1), read from the DER.

The signatureAlgorithm parameters (RSASSA-PSS-params, RFC 4055 3.1) and which extensions
are critical, at response level and per SingleResponse, whatever the library version
understands. Raises :class:`DerError` for bytes that are not that structure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .der import DerError, read_tlv

RSASSA_PSS = "1.2.840.113549.1.1.10"
MGF1 = "1.2.840.113549.1.1.8"
SHA1 = "1.3.14.3.2.26"

Extension = tuple[str, bool]  # (dotted OID, critical)


@dataclass(frozen=True)
class ResponseParts:
    signature_oid: str
    signature_params: bytes | None  # the parameters' DER, None when absent
    response_extensions: list[Extension]
    single_extensions: list[list[Extension]]  # one list per SingleResponse, in DER order


@dataclass(frozen=True)
class PssParams:
    hash_oid: str
    mgf_oid: str
    mgf_hash_oid: str | None
    salt_length: int
    trailer_field: int


def items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The TLVs (tag, content_start, content_end) that exactly fill ``data[start:end]``."""
    out = []
    while start < end:
        tag, content_start, content_end = read_tlv(data, start)
        if content_end > end:
            raise DerError(f"TLV at offset {start} overruns its enclosing value")
        out.append((tag, content_start, content_end))
        start = content_end
    return out


def oid_text(content: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's contents."""
    if not content or content[-1] & 0x80:
        raise DerError("empty or truncated OBJECT IDENTIFIER")
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def _sequence(data: bytes, start: int, end: int, what: str) -> list[tuple[int, int, int]]:
    parts = items(data, start, end)
    if len(parts) != 1 or parts[0][0] != 0x30:
        raise DerError(f"{what} is not one SEQUENCE")
    return items(data, parts[0][1], parts[0][2])


def _algorithm(data: bytes, start: int, end: int, what: str) -> tuple[str, bytes | None]:
    fields = _sequence(data, start, end, what)
    if not fields or fields[0][0] != 0x06 or len(fields) > 2:
        raise DerError(f"{what} is not an AlgorithmIdentifier")
    params = data[fields[0][2] : fields[1][2]] if len(fields) == 2 else None  # TLVs are contiguous
    return oid_text(data[fields[0][1] : fields[0][2]]), params


def _extensions(data: bytes, start: int, end: int, what: str) -> list[Extension]:
    out = []
    for _tag, ext_start, ext_end in _sequence(data, start, end, what):
        fields = items(data, ext_start, ext_end)
        if not fields or fields[0][0] != 0x06:
            raise DerError(f"an extension of {what} has no OID")
        critical = len(fields) == 3 and fields[1][0] == 0x01 and data[fields[1][1] : fields[1][2]] != b"\x00"
        out.append((oid_text(data[fields[0][1] : fields[0][2]]), critical))
    return out


def response_parts(data: bytes) -> ResponseParts:
    """Signature algorithm and extensions of the BasicOCSPResponse inside OCSPResponse ``data``."""
    outer = _sequence(data, 0, len(data), "OCSPResponse")
    if len(outer) != 2 or outer[1][0] != 0xA0:
        raise DerError("OCSPResponse has no responseBytes")
    response_bytes = _sequence(data, outer[1][1], outer[1][2], "responseBytes")
    if len(response_bytes) != 2 or response_bytes[1][0] != 0x04:
        raise DerError("responseBytes is not responseType + OCTET STRING")
    basic = data[response_bytes[1][1] : response_bytes[1][2]]
    fields = _sequence(basic, 0, len(basic), "BasicOCSPResponse")
    if len(fields) < 3:
        raise DerError("BasicOCSPResponse lacks tbsResponseData, signatureAlgorithm or signature")
    signature_oid, params = _algorithm(basic, fields[0][2], fields[1][2], "signatureAlgorithm")
    tbs = items(basic, fields[0][1], fields[0][2])
    tags = [tag for tag, _s, _e in tbs]
    if 0x18 not in tags or 0x30 not in tags[tags.index(0x18) :]:
        raise DerError("tbsResponseData has no producedAt or responses")
    at = tags.index(0x30, tags.index(0x18))
    response_extensions: list[Extension] = []
    for tag, start, end in tbs[at + 1 :]:
        if tag == 0xA1:
            response_extensions = _extensions(basic, start, end, "responseExtensions")
    singles = []
    for _tag, start, end in items(basic, tbs[at][1], tbs[at][2]):
        single = items(basic, start, end)
        single_tags = [tag for tag, _s, _e in single]
        found: list[Extension] = []
        if 0x18 in single_tags:
            for tag, ext_start, ext_end in single[single_tags.index(0x18) + 1 :]:
                if tag == 0xA1:
                    found = _extensions(basic, ext_start, ext_end, "singleExtensions")
        singles.append(found)
    return ResponseParts(signature_oid, params, response_extensions, singles)


def pss_params(params: bytes | None) -> PssParams:
    """RSASSA-PSS-params with RFC 4055's defaults (SHA-1, MGF1 with SHA-1, salt 20, trailer 1)."""
    if params is None or params == b"\x05\x00":
        raise DerError("RSASSA-PSS without parameters")
    hash_oid, mgf_oid, salt, trailer = SHA1, MGF1, 20, 1
    mgf_hash: str | None = SHA1
    for tag, start, end in _sequence(params, 0, len(params), "RSASSA-PSS-params"):
        if tag == 0xA0:
            hash_oid, _params = _algorithm(params, start, end, "hashAlgorithm")
        elif tag == 0xA1:
            mgf_oid, mgf_params = _algorithm(params, start, end, "maskGenAlgorithm")
            mgf_hash = _algorithm(mgf_params, 0, len(mgf_params), "MGF1 hash")[0] if mgf_params else None
        elif tag in (0xA2, 0xA3):
            value = items(params, start, end)
            if len(value) != 1 or value[0][0] != 0x02 or not 0 < value[0][2] - value[0][1] <= 4:
                raise DerError("RSASSA-PSS-params saltLength/trailerField is not a small INTEGER")
            number = int.from_bytes(params[value[0][1] : value[0][2]], "big", signed=True)
            salt, trailer = (number, trailer) if tag == 0xA2 else (salt, number)
        else:
            raise DerError(f"RSASSA-PSS-params has an unknown field tag 0x{tag:02x}")
    return PssParams(hash_oid, mgf_oid, mgf_hash, salt, trailer)
