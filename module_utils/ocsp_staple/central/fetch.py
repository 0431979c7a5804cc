"""Asking an OCSP responder: HTTP POST (or RFC 5019 GET) through ``requests``.

A failed fetch is an *outcome*, not an exception: :meth:`Fetcher.fetch` always returns a
:class:`FetchResult` whose ``reason`` is ``ok`` or a stable code (``timeout``,
``connection_error``, ``http_500``, ``oversized``, ``content_type``, ``deadline``, ...),
so a misbehaving responder shows up in the store's state and never aborts a run.

``requests`` is imported lazily (inside :class:`Fetcher`), so importing this module costs
nothing on a cache node that never fetches.

Time limits: every attempt ends by ``min(now + timeout, deadline)`` (monotonic clock).
Connecting and each socket read are bounded by the time left; the body is read in small
pieces, checking the clock and the size cap after each, and a watchdog shuts the socket
down at the attempt's end, so a responder that trickles its body byte by byte (slow loris)
cannot hold an attempt past its end.

Compressed bodies: the fetcher advertises ``Accept-Encoding: gzip, deflate`` and decodes
exactly those (see :class:`_Decoder`), incrementally, with the size cap applied to the
*decoded* body as well as to the bytes on the wire: a zip bomb stops at the cap.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..spec import check_url

OCSP_REQUEST_TYPE = "application/ocsp-request"
OCSP_RESPONSE_TYPE = "application/ocsp-response"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_SIZE = 64 * 1024
_CHUNK = 16 * 1024

#: Reason codes of fetch outcomes (besides ``http_<status>``), with what they mean.
FETCH_REASONS: dict[str, str] = {
    "ok": "HTTP 200 with an application/ocsp-response body within the size cap",
    "timeout": "the responder did not answer (connect, headers or body) before the attempt's end",
    "deadline": "no time was left in the run's deadline for this attempt",
    "connection_error": "the connection failed (refused, reset, DNS, TLS, proxy)",
    "http_<status>": "the responder answered with an HTTP status other than 200 (redirects included)",
    "oversized": "the body is larger than the size cap (default 64 KiB)",
    "content_type": "the body is not application/ocsp-response (an HTML error page, for instance)",
    "content_encoding": "a Content-Encoding other than gzip or deflate, or a body that does not decode as declared",
}
#: What the fetcher advertises, and so decodes (:class:`_Decoder`); nothing else is accepted.
ACCEPT_ENCODING = "gzip, deflate"


def get_url(url: str, request_der: bytes) -> str:
    """The RFC 5019 GET URL: the base64 request, URL-encoded, appended after a slash."""
    encoded = urllib.parse.quote(base64.b64encode(request_der).decode("ascii"), safe="")
    return url + encoded if url.endswith("/") else f"{url}/{encoded}"


@dataclass(frozen=True)
class FetchOptions:
    """How to ask: method, limits, proxy and redirects."""

    timeout: float = DEFAULT_TIMEOUT
    max_size: int = DEFAULT_MAX_SIZE
    method: str = "POST"
    proxy: str | None = None
    follow_redirects: bool = False
    trust_env: bool = True
    pool_size: int = 10

    def __post_init__(self) -> None:
        if self.method not in ("POST", "GET"):
            raise InputError(f"fetch method {self.method!r} is not one of POST, GET")
        if self.timeout <= 0:
            raise InputError(f"fetch timeout must be positive, got {self.timeout!r}")
        if self.max_size <= 0:
            raise InputError(f"fetch size cap must be positive, got {self.max_size!r}")
        if self.proxy:
            check_url(self.proxy, what="proxy")


@dataclass
class FetchResult:
    """One attempt: ``reason`` is ``ok`` or a failure code; ``body`` is set only when ok."""

    url: str
    reason: str
    message: str
    body: bytes | None = None
    http_status: int | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


class Fetcher:
    """Fetches OCSP responses with one ``requests.Session`` per responder URL (connection reuse).

    Thread-safe: the concurrent refresh shares one Fetcher; each Session's connection pool
    holds ``options.pool_size`` connections.
    """

    def __init__(self, options: FetchOptions | None = None, *, monotonic: Callable[[], float] = time.monotonic):
        self.options = options or FetchOptions()
        self._monotonic = monotonic
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def session(self, url: str) -> Any:
        with self._lock:
            session = self._sessions.get(url)
            if session is None:
                import requests
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                # The environment (proxies, no_proxy, CA bundle) is read once per responder here rather
                # than on every request: requests' per-request lookups cost more than the OCSP work.
                session.trust_env = False
                if self.options.trust_env:
                    session.proxies = requests.utils.get_environ_proxies(url)
                    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                    if bundle:
                        session.verify = bundle
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.options.pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers["User-Agent"] = "ocsp-staple"
                # Decode what we advertise, no more. Compression gains little on a 1-2 KiB DER answer, but
                # responders behind CDNs and web servers compress whatever the client accepts (and some
                # compress regardless): decoding gzip and deflate is cheap, bounded by the size cap on the
                # decoded body (_Decoder), while advertising identity only would still leave those answers
                # undecodable. requests' default would also advertise br/zstd when their packages happen to
                # be installed; the body is read raw (for the slow-loris and size bounds), so it is pinned here.
                session.headers["Accept-Encoding"] = ACCEPT_ENCODING
                if self.options.proxy:
                    session.proxies = {"http": self.options.proxy, "https": self.options.proxy}
                self._sessions[url] = session
            return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str, request_der: bytes, *, deadline: float | None = None) -> FetchResult:
        """One attempt against ``url``; ``deadline`` is a monotonic time the attempt must not pass."""
        import requests

        check_url(url)
        opts = self.options
        start = self._monotonic()
        end = start + opts.timeout if deadline is None else min(start + opts.timeout, deadline)
        left = end - start
        if left <= 0.05:
            return FetchResult(url, "deadline", f"{url}: no time left in the run's deadline for another attempt")

        def result(reason: str, message: str, **kw: Any) -> FetchResult:
            return FetchResult(url, reason, f"{url}: {message}", elapsed=self._monotonic() - start, **kw)

        session = self.session(url)
        if opts.method == "GET":
            call: dict[str, Any] = {"method": "GET", "url": get_url(url, request_der)}
        else:
            call = {
                "method": "POST",
                "url": url,
                "data": request_der,
                "headers": {"Content-Type": OCSP_REQUEST_TYPE},
            }
        try:
            response = session.request(
                **call,
                timeout=(left, left),
                stream=True,
                allow_redirects=opts.follow_redirects,
            )
        except requests.Timeout:
            return result("timeout", f"no answer within {left:.1f} s")
        except (requests.ConnectionError, requests.RequestException) as exc:
            return result("connection_error", f"connection failed: {_short(exc)}")
        with contextlib.closing(response):
            if response.status_code != 200:
                where = response.headers.get("Location")
                extra = f" (redirect to {where} not followed)" if where and not opts.follow_redirects else ""
                return result(
                    f"http_{response.status_code}",
                    f"HTTP {response.status_code} {response.reason or ''}".rstrip() + extra,
                    http_status=response.status_code,
                )
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type and content_type != OCSP_RESPONSE_TYPE:
                return result(
                    "content_type",
                    f"Content-Type {content_type!r} instead of {OCSP_RESPONSE_TYPE}",
                    http_status=200,
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > opts.max_size:
                return result(
                    "oversized",
                    f"body of {int(declared)} bytes exceeds the cap of {opts.max_size} bytes",
                    http_status=200,
                )
            return self._read_body(response, end=end, result=result)

    def _read_body(self, response: Any, *, end: float, result: Callable[..., FetchResult]) -> FetchResult:
        """Read the body in pieces, checking the clock and the size caps (wire and decoded) after each."""
        import requests

        cap = self.options.max_size
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        try:
            decoder = _Decoder(encoding, cap)
        except _EncodingError as exc:
            return result("content_encoding", str(exc), http_status=200)
        chunks: list[bytes] = []
        size = 0
        watchdog: threading.Timer | None = None
        raw = response.raw
        try:
            while True:
                if size and watchdog is None:
                    # The body did not come in one piece: from now on a timer guards the attempt's end.
                    watchdog = threading.Timer(max(0.0, end - self._monotonic()), _shutdown, (response,))
                    watchdog.daemon = True
                    watchdog.start()
                if self._monotonic() >= end:
                    return result("timeout", f"body not complete before the attempt's end ({size} bytes read)")
                try:
                    chunk = raw.read1(_CHUNK) if hasattr(raw, "read1") else raw.read(_CHUNK)
                except (OSError, ValueError, requests.RequestException, _urllib3_errors()) as exc:
                    if self._monotonic() >= end - 0.01:
                        return result("timeout", f"body not complete before the attempt's end ({size} bytes read)")
                    return result("connection_error", f"reading the body failed after {size} bytes: {_short(exc)}")
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    return result("oversized", f"body exceeds the cap of {cap} bytes", http_status=200)
                try:
                    chunks.append(decoder.feed(chunk))
                except _Oversized:
                    return result(
                        "oversized", f"{encoding} body decodes to more than the cap of {cap} bytes", http_status=200
                    )
                except _EncodingError as exc:
                    return result("content_encoding", str(exc), http_status=200)
            try:
                decoder.finish()
            except _EncodingError as exc:
                return result("content_encoding", str(exc), http_status=200)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        body = b"".join(chunks)
        wire = f" ({encoding}, {size} bytes on the wire)" if decoder.encoding else ""
        return result("ok", f"HTTP 200, {len(body)} bytes{wire}", body=body, http_status=200)


class _EncodingError(Exception):
    """The Content-Encoding is not one advertised, or the body does not decode as it says."""


class _Oversized(Exception):
    """The decoded body passed the size cap."""


class _Decoder:
    """Incremental decoding of a gzip or deflate body, never producing more than ``cap`` + 1 bytes.

    Each piece is inflated with ``max_length`` set to the room left under the cap, so a zip bomb
    costs at most the cap in memory, not its decoded size. ``deflate`` is the zlib format by
    RFC 9110; raw deflate (sent by some servers) is recognised by its missing zlib header.
    """

    def __init__(self, encoding: str, cap: int) -> None:
        self.cap = cap
        self.size = 0
        self._inflater: Any = None
        if encoding in ("", "identity"):
            self.encoding = ""
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self.encoding = "deflate" if encoding == "deflate" else "gzip"
        else:
            raise _EncodingError(f"Content-Encoding {encoding!r} was not asked for (accepted: {ACCEPT_ENCODING})")

    def feed(self, data: bytes) -> bytes:
        if not self.encoding:
            return data
        if self._inflater is None:
            if self.encoding == "gzip":
                wbits = 16 + zlib.MAX_WBITS
            else:  # a zlib header: CM 8 and a header checksum divisible by 31
                zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
                wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
            self._inflater = zlib.decompressobj(wbits)
        out: list[bytes] = []
        try:
            while data:
                if self._inflater.eof:
                    raise _EncodingError(f"{self.encoding} body: data after the end of the compressed stream")
                piece = self._inflater.decompress(data, self.cap + 1 - self.size)
                self.size += len(piece)
                if self.size > self.cap:
                    raise _Oversized
                out.append(piece)
                data = self._inflater.unconsumed_tail or self._inflater.unused_data
        except zlib.error as exc:
            raise _EncodingError(f"Content-Encoding {self.encoding} but the body does not decode: {exc}") from None
        return b"".join(out)

    def finish(self) -> None:
        if self.encoding and (self._inflater is None or not self._inflater.eof):
            raise _EncodingError(f"Content-Encoding {self.encoding} but the compressed body is truncated or empty")


def _urllib3_errors() -> type[Exception]:
    from urllib3.exceptions import HTTPError

    return HTTPError


def _shutdown(response: Any) -> None:
    """Watchdog: shut the response's socket down so a blocked read returns at once."""
    import socket

    connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    inner = text.rsplit("Caused by ", 1)[-1] if "Caused by " in text else text
    return (inner[:157] + "...") if len(inner) > 160 else inner
