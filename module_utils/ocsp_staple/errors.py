"""Operational errors of the core.

A bad OCSP response is *not* an exception: it is a verdict with problems. These
exceptions are for what stops the work itself: an unreadable file, a certificate that is
not PEM, a network failure, a store that cannot be written. Every message is one line
that names the thing, the problem and the value.
"""

from __future__ import annotations


class OcspStapleError(Exception):
    """Base class of every operational error raised by the core."""


class CertificateError(OcspStapleError):
    """A certificate or issuer file is missing, unreadable, not PEM or inconsistent."""


class InputError(OcspStapleError):
    """An argument is malformed (duration, name, URL, option value)."""


class FetchError(OcspStapleError):
    """The responder could not be asked or did not answer with a usable body."""


class StoreError(OcspStapleError):
    """The central store or a staple destination cannot be read or written."""
