"""Just enough DER reading for what cryptography does not expose.

Two needs: telling trailing data apart from a malformed response (cryptography rejects
both with the same error), and the raw subjectPublicKey bits that CertID and ResponderID
key hashes are computed over (RFC 6960 4.1.1, 4.2.1).
"""

from __future__ import annotations

import base64
import binascii

from .errors import InputError


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Read one definite-length TLV at ``offset``; return (tag, content_start, content_end)."""
    if offset + 2 > len(data):
        raise DerError(f"truncated TLV header at offset {offset}")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError(f"multi-byte tag at offset {offset} is not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError(f"indefinite length at offset {offset} is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > len(data):
            raise DerError(f"bad length of length {count} at offset {offset}")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError(f"TLV at offset {offset} claims {length} bytes, only {len(data) - pos} present")
    return tag, pos, end


def outer_length(data: bytes) -> int:
    """Total length in bytes of the first TLV of ``data`` (raises DerError if unreadable)."""
    tag, _start, end = read_tlv(data, 0)
    if tag != 0x30:
        raise DerError(f"expected a SEQUENCE (0x30), found tag 0x{tag:02x}")
    return end


def subject_public_key_bits(spki_der: bytes) -> bytes:
    """The BIT STRING contents (without the unused-bits byte) of a SubjectPublicKeyInfo."""
    tag, start, end = read_tlv(spki_der, 0)
    if tag != 0x30:
        raise DerError("SubjectPublicKeyInfo is not a SEQUENCE")
    _alg_tag, _alg_start, alg_end = read_tlv(spki_der, start)
    bit_tag, bit_start, bit_end = read_tlv(spki_der, alg_end)
    if bit_tag != 0x03 or bit_end > end or bit_start >= bit_end:
        raise DerError("SubjectPublicKeyInfo has no subjectPublicKey BIT STRING")
    return spki_der[bit_start + 1 : bit_end]


def from_base64(text: str | bytes, *, what: str = "content") -> bytes:
    """DER bytes from base64 text (how staples travel through Ansible); InputError naming ``what`` otherwise."""
    if not isinstance(text, (str, bytes)):
        raise InputError(f"{what} must be base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what}: not base64 ({exc}), first characters {text[:16]!r}") from None
