"""What a TLS client sees: connect, request the OCSP staple, return the served bytes.

A real TLS handshake (pyOpenSSL, imported lazily: only this module needs it) with the
``status_request`` extension. The served staple is returned as bytes, exactly as sent, or
None when the server stapled nothing, together with the certificates the server presented,
so the caller can judge the staple with :func:`policy.validate` and compare it with the
deployed file.

This client does **not** verify the server certificate (no trust store, no hostname
check): its purpose is to look at staples, including those of servers with test or
expired certificates. Never use it to send or trust data.

Works with Debian 12's python3-openssl 23.0 and the pinned pyOpenSSL. A timeout bounds
the whole exchange: the TCP connect and every wait of the handshake.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the module needs no cryptography to import
    from cryptography import x509

from ..certs import CertPair, pair_from_certificates
from ..errors import FetchError

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Served:
    """The outcome of one handshake: the staple (None when none was stapled) and the certificates."""

    host: str
    port: int
    servername: str | None
    staple: bytes | None
    leaf: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)
    protocol: str = ""

    @property
    def endpoint(self) -> str:
        return format_endpoint(self.host, self.port)

    def pair(self, issuer: list[x509.Certificate] | None = None) -> CertPair:
        """The served leaf with its issuer: ``issuer`` when given, else the served chain's next certificate."""
        source = f"certificate served by {self.endpoint}"
        return pair_from_certificates(
            [self.leaf, *self.chain], issuer, source=source, issuer_source="issuer file" if issuer else ""
        )


def format_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def fetch_served_staple(
    host: str,
    port: int,
    *,
    servername: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Served:
    """Handshake with ``host:port`` (SNI ``servername``), requesting the OCSP staple.

    Returns :class:`Served`. Raises :class:`FetchError` with one line naming
    ``host:port`` and the problem: name resolution, connection refused, timeout,
    handshake failure, no certificate presented.
    """
    try:
        from OpenSSL import SSL
    except ImportError:
        raise FetchError("live TLS check needs pyOpenSSL (python3-openssl on Debian/Ubuntu)") from None

    endpoint = format_endpoint(host, port)
    deadline = time.monotonic() + timeout
    received: list[bytes] = []

    def on_ocsp(_conn: Any, ocsp_data: bytes, _data: Any) -> bool:
        received.append(bytes(ocsp_data))
        return True  # accept: judging the staple is the caller's job, not the handshake's

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE, lambda *_args: True)
    context.set_ocsp_client_callback(on_ocsp)

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise FetchError(f"{endpoint}: connection timed out after {timeout:g} s") from None
    except socket.gaierror as exc:
        raise FetchError(f"{endpoint}: cannot resolve host: {exc.strerror or exc}") from None
    except ConnectionRefusedError:
        raise FetchError(f"{endpoint}: connection refused") from None
    except OSError as exc:
        raise FetchError(f"{endpoint}: cannot connect: {exc.strerror or exc}") from None
    try:
        conn = SSL.Connection(context, sock)
        if servername:
            conn.set_tlsext_host_name(servername.encode("idna"))
        conn.request_ocsp()
        conn.set_connect_state()
        sock.setblocking(False)
        _handshake(conn, sock, deadline=deadline, endpoint=endpoint, timeout=timeout, ssl_module=SSL)
        peer = conn.get_peer_certificate()
        if peer is None:
            raise FetchError(f"{endpoint}: server presented no certificate")
        chain = [c.to_cryptography() for c in (conn.get_peer_cert_chain() or [])]
        leaf = peer.to_cryptography()
        rest = chain[1:] if chain and chain[0] == leaf else chain
        protocol = str(conn.get_protocol_version_name())
        with contextlib.suppress(SSL.Error, OSError):
            conn.shutdown()
    finally:
        sock.close()
    staple = received[0] if received and received[0] else None
    return Served(host, port, servername, staple, leaf, rest, protocol)


def _handshake(
    conn: Any, sock: socket.socket, *, deadline: float, endpoint: str, timeout: float, ssl_module: Any
) -> None:
    """Drive the handshake on a non-blocking socket, waiting with select() until ``deadline``."""
    ssl = ssl_module
    while True:
        try:
            conn.do_handshake()
            return
        except ssl.WantReadError:
            wait_read = True
        except ssl.WantWriteError:
            wait_read = False
        except ssl.SysCallError as exc:
            # (-1, 'Unexpected EOF') when the peer hangs up, else (errno, strerror).
            closed = not exc.args or exc.args[0] in (-1, 0)
            code = exc.args[0] if exc.args else 0
            detail = "connection closed by the server" if closed else f"{os.strerror(code)} ({exc.args[-1]})"
            raise FetchError(f"{endpoint}: TLS handshake failed: {detail}") from None
        except ssl.Error as exc:
            raise FetchError(f"{endpoint}: TLS handshake failed: {_ssl_error_text(exc)}") from None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"{endpoint}: TLS handshake timed out after {timeout:g} s")
        waits = ([sock], []) if wait_read else ([], [sock])
        readable, writable, _errors = select.select(*waits, [], remaining)
        if not readable and not writable:
            raise FetchError(f"{endpoint}: TLS handshake timed out after {timeout:g} s")


def _ssl_error_text(exc: Exception) -> str:
    """OpenSSL's error queue as one short line (the reason strings)."""
    reasons = []
    for entry in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(entry, tuple) and entry:
            reasons.append(str(entry[-1]))
    return ", ".join(reasons) or str(exc) or type(exc).__name__
