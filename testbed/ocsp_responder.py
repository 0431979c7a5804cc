"""A fault-injecting OCSP responder for tests, molecule, the demo and drills (``python -m testbed.responder serve``).

Binds 127.0.0.1 only. Answers POST (``application/ocsp-request``) and RFC 5019 GET requests
for any serial number of its CA: ``good`` unless the serial is listed as revoked, signed by
the CA key itself or by a delegated responder certificate + key. A *fault* replaces the
good answer; it is chosen per request from the behaviour in force:

* ``fault``: one fault for every request (``good`` = no fault);
* ``sequence``: a list of faults served in turn (deterministic alternation for tests);
* ``mix``: ``{fault: rate}``, rates summing to at most 1, the rest good, drawn with a
  seeded RNG when ``seed`` is given.

The behaviour can be switched at runtime: in-process with :meth:`TestResponder.configure`,
or with a ``--control FILE`` holding JSON (``fault``, ``sequence``, ``mix``, ``seed``,
``latency``, ``validity``, ``revoked``, ``encoding``, ``no_next_update``) that is re-read whenever its mtime changes.
``GET /_stats`` returns the requests and faults served as JSON, so tests can assert
that no request was sent.

Faults (:data:`FAULTS`): responseStatus tryLater / internalError / unauthorized, HTTP 500 /
503, a hang without an answer (timeout), a body trickled byte by byte (slow_body), random
bytes, an HTML page with 200, an oversized body, a delegated signer that is expired or
expires in minutes, a signer that expires long before nextUpdate (short_lived: valid but
short), nextUpdate in the past (stale), revoked, unknown, another certificate's response,
a bad signature.

Encodings (:data:`ENCODINGS`, ``encoding`` in the behaviour, ``--encoding``): how an OCSP body
goes on the wire - as is, gzip or deflate compressed with a truthful Content-Encoding, or one
of the lies (a Content-Encoding the body does not have, a compressed body without one, an
encoding nobody asked for) or a gzip bomb.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import functools
import gzip
import json
import os
import random
import socket
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from ocsp_staple.certs import key_hash, read_pem_file
from ocsp_staple.durations import parse_duration
from ocsp_staple.errors import InputError

from . import forge

FAULTS: dict[str, str] = {
    "good": "a good, valid response (no fault)",
    "try_later": "responseStatus tryLater (the 5 bytes 30 03 0a 01 03)",
    "internal_error": "responseStatus internalError",
    "unauthorized": "responseStatus unauthorized",
    "http_500": "HTTP 500 with a text body",
    "http_503": "HTTP 503 with a text body",
    "timeout": "no answer: the connection hangs until the client gives up",
    "slow_body": "a good response trickled one byte at a time (slow loris)",
    "garbage": "random bytes as application/ocsp-response",
    "html": "an HTML error page with HTTP 200",
    "oversized": "128 KiB of body, no Content-Length, streamed until close",
    "expired_signer": "signed by a delegated responder certificate that expired an hour ago",
    "signer_expiring": "signed by a delegated responder certificate that expires in 10 minutes",
    "short_lived": "valid, but the delegated signer expires after a quarter of the validity window",
    "stale": "nextUpdate a day in the past",
    "revoked": "certStatus revoked",
    "unknown": "certStatus unknown",
    "wrong_cert": "a response for another serial number (another certificate's response)",
    "bad_signature": "a good response with one signature bit flipped",
}
ENCODINGS: dict[str, str] = {
    "identity": "the body as is, no Content-Encoding (default)",
    "gzip": "gzip-compressed, Content-Encoding: gzip",
    "deflate": "zlib-wrapped deflate (RFC 9110), Content-Encoding: deflate",
    "raw_deflate": "raw deflate without the zlib wrapper (some servers), Content-Encoding: deflate",
    "false_gzip": "the body as is, but Content-Encoding: gzip (a lie)",
    "unlabelled_gzip": "gzip-compressed without a Content-Encoding (the other lie)",
    "br": "the body as is with Content-Encoding: br (an encoding the client did not ask for)",
    "gzip_bomb": "48 MiB of zeros gzip-compressed to about 48 KiB, Content-Encoding: gzip",
}
BOMB_SIZE = 48 * 1024 * 1024
ALLOWED_HOSTS = ("127.0.0.1",)
MAX_REQUEST = 64 * 1024
Clock = Callable[[], _dt.datetime]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def parse_latency(value: str | float | int) -> float:
    """Seconds as a number, ``50ms`` or a duration like ``2s``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise InputError(f"latency: must not be negative, got {value!r}")
        return float(value)
    text = str(value).strip().lower()
    try:
        if text.endswith("ms"):
            return float(text[:-2]) / 1000
        return float(text)
    except ValueError:
        return float(parse_duration(text, what="latency"))


def parse_mix(value: str | dict[str, Any]) -> dict[str, float]:
    """``try_later=0.3,garbage=0.2`` or a mapping: fault rates summing to at most 1."""
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
        for part in filter(None, (p.strip() for p in str(value).split(","))):
            key, sep, rate = part.partition("=")
            if not sep:
                raise InputError(f"mix: expected fault=rate pairs like try_later=0.3, got {part!r}")
            items.append((key.strip(), rate.strip()))
    mix: dict[str, float] = {}
    for key, rate in items:
        check_fault(key, what="mix")
        try:
            mix[key] = float(rate)
        except (TypeError, ValueError):
            raise InputError(f"mix: rate of {key} must be a number between 0 and 1, got {rate!r}") from None
        if not 0 <= mix[key] <= 1:
            raise InputError(f"mix: rate of {key} must be between 0 and 1, got {rate!r}")
    if sum(mix.values()) > 1.000001:
        raise InputError(f"mix: rates add up to {sum(mix.values()):g}, more than 1")
    return mix


def check_encoding(name: object) -> str:
    if not isinstance(name, str) or name not in ENCODINGS:
        raise InputError(f"encoding: unknown encoding {name!r} (known: {', '.join(ENCODINGS)})")
    return name


def encode(body: bytes, encoding: str) -> tuple[bytes, str | None]:
    """``body`` as ``encoding`` puts it on the wire, with the Content-Encoding header to send (None: none)."""
    if encoding == "gzip_bomb":
        return _bomb(), "gzip"
    if encoding in ("gzip", "unlabelled_gzip"):
        return gzip.compress(body, mtime=0), "gzip" if encoding == "gzip" else None
    if encoding == "deflate":
        return zlib.compress(body), "deflate"
    if encoding == "raw_deflate":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(body) + packer.flush(), "deflate"
    if encoding == "false_gzip":
        return body, "gzip"
    if encoding == "br":
        return body, "br"
    return body, None


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9, mtime=0)


def check_fault(name: object, *, what: str = "fault") -> str:
    if not isinstance(name, str) or name not in FAULTS:
        raise InputError(f"{what}: unknown fault {name!r} (known: {', '.join(FAULTS)})")
    return name


@dataclass(frozen=True)
class Behaviour:
    """What the responder serves: one fault, a sequence, or a random mix; plus latency and validity."""

    fault: str = "good"
    sequence: tuple[str, ...] = ()
    mix: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    latency: float = 0.0
    validity: int = 7 * 86400
    revoked: frozenset[int] = frozenset()
    encoding: str = "identity"
    no_next_update: bool = False  # answers without nextUpdate (openssl ocsp without -ndays)

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Behaviour) -> Behaviour:
        allowed = {"fault", "sequence", "mix", "seed", "latency", "validity", "revoked", "encoding", "no_next_update"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise InputError(f"control: unknown keys {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
        changes: dict[str, Any] = {"fault": "good", "sequence": (), "mix": {}}
        if "fault" in data:
            changes["fault"] = check_fault(data["fault"])
        if "sequence" in data:
            changes["sequence"] = tuple(check_fault(f, what="sequence") for f in data["sequence"])
        if "mix" in data:
            changes["mix"] = parse_mix(data["mix"])
        if "seed" in data:
            changes["seed"] = None if data["seed"] is None else int(data["seed"])
        if "latency" in data:
            changes["latency"] = parse_latency(data["latency"])
        if "validity" in data:
            changes["validity"] = parse_duration(data["validity"], what="validity")
        if "revoked" in data:
            changes["revoked"] = frozenset(_serial(s) for s in data["revoked"])
        if "encoding" in data:
            changes["encoding"] = check_encoding(data["encoding"])
        if "no_next_update" in data:
            changes["no_next_update"] = bool(data["no_next_update"])
        return replace(base, **changes)


def _serial(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().removeprefix("0x").replace(":", "")
    try:
        return int(text, 16)
    except ValueError:
        raise InputError(f"revoked: serial numbers are hexadecimal, got {value!r}") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    responder: TestResponder

    def process_request(self, request: Any, client_address: Any) -> None:
        self.responder.track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.responder.track(request, False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout during a hang or a slow body) resets the connection:
        # that is the fault working as intended, not an error worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class TestResponder:
    """The responder, in-process (``start()``/``stop()``/``url``) or behind ``python -m testbed.responder serve``."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        ca: forge.Issued | x509.Certificate,
        *,
        ca_key: Any = None,
        signer: forge.Issued | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        behaviour: Behaviour | None = None,
        control: str | None = None,
        clock: Clock = _now,
        hang: float = 30.0,
        slow_interval: float = 0.25,
        verbose: bool = False,
    ) -> None:
        if host not in ALLOWED_HOSTS:
            raise InputError(f"test responder: refusing to bind {host!r}: it binds 127.0.0.1 only")
        if isinstance(ca, forge.Issued):
            ca_cert, ca_key = ca.cert, ca_key or ca.key
        else:
            ca_cert = ca
        if ca_key is None and signer is None:
            raise InputError("test responder: needs the CA key or a delegated responder certificate and key")
        self.ca_cert = ca_cert
        self.ca_key = ca_key
        self.signer = signer or forge.Issued(ca_cert, ca_key)
        self.host, self.port = host, port
        self.behaviour = behaviour or Behaviour()
        self.control = control
        self.clock = clock
        self.hang = hang
        self.slow_interval = slow_interval
        self.verbose = verbose
        self._key_hashes = {key_hash(ca_cert, "sha1"), key_hash(ca_cert, "sha256")}
        self._lock = threading.Lock()
        self._rng = random.Random(self.behaviour.seed)  # noqa: S311 - fault draws, not cryptography
        self._counter = 0
        self._control_mtime: int | None = None
        self._stats: dict[str, Any] = {
            "requests": 0,
            "faults": {},
            "control_errors": 0,
            "control_loads": 0,
            "accept_encoding": {},  # Accept-Encoding header of the OCSP requests -> count ("" when absent)
        }
        self._stopping = threading.Event()
        self._sockets: set[Any] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._check_behaviour(self.behaviour)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise InputError("test responder: not started")
        return f"http://{self.host}:{self._server.server_address[1]}/"

    def start(self) -> TestResponder:
        self._load_control()
        server = _Server((self.host, self.port), _Handler)
        server.responder = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="ocsp-test-responder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TestResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def track(self, sock: Any, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    # -- behaviour ---------------------------------------------------------------------------
    def configure(self, **changes: Any) -> None:
        """Switch the behaviour at runtime (same keys as the control file)."""
        behaviour = Behaviour.from_json(changes, self.behaviour)
        self._check_behaviour(behaviour)
        with self._lock:
            self.behaviour = behaviour
            self._counter = 0
            self._rng = random.Random(behaviour.seed)  # noqa: S311

    def _check_behaviour(self, behaviour: Behaviour) -> None:
        needs_ca = {"expired_signer", "signer_expiring", "short_lived"}
        wanted = {behaviour.fault, *behaviour.sequence, *behaviour.mix}
        if self.ca_key is None and wanted & needs_ca:
            raise InputError(
                f"test responder: faults {', '.join(sorted(wanted & needs_ca))} need the CA key to issue signers"
            )

    def _load_control(self) -> None:
        if not self.control:
            return
        try:
            mtime = os.stat(self.control).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._control_mtime:
            return
        self._control_mtime = mtime
        try:
            with open(self.control, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise InputError(f"control file {self.control}: expected a JSON object")
            self.configure(**data)
            with self._lock:
                self._stats["control_loads"] += 1
        except (OSError, ValueError, InputError) as exc:
            with self._lock:
                self._stats["control_errors"] += 1
            print(f"testbed.responder serve: control file {self.control}: {exc}", file=sys.stderr)

    def next_fault(self) -> str:
        self._load_control()
        with self._lock:
            b = self.behaviour
            if b.sequence:
                fault = b.sequence[self._counter % len(b.sequence)]
            elif b.mix:
                draw = self._rng.random()
                fault = "good"
                for name, rate in b.mix.items():
                    if draw < rate:
                        fault = name
                        break
                    draw -= rate
            else:
                fault = b.fault
            self._counter += 1
            self._stats["requests"] += 1
            faults = self._stats["faults"]
            faults[fault] = faults.get(fault, 0) + 1
            return fault

    def saw_accept_encoding(self, value: str) -> None:
        with self._lock:
            seen = self._stats["accept_encoding"]
            seen[value] = seen.get(value, 0) + 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._stats))  # type: ignore[no-any-return]

    # -- answers -----------------------------------------------------------------------------
    def answer(self, request_der: bytes, fault: str) -> bytes:
        """The DER body for ``fault`` (only for faults that produce an OCSP body)."""
        if fault in ("try_later", "internal_error", "unauthorized"):
            return forge.unsuccessful(fault)
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return forge.unsuccessful("malformed_request")
        if request.issuer_key_hash not in self._key_hashes:
            return forge.unsuccessful("unauthorized")
        now = self.clock()
        b = self.behaviour
        this_update = now - _dt.timedelta(minutes=1)
        next_update = this_update + _dt.timedelta(seconds=b.validity)
        serial = request.serial_number
        status = ocsp.OCSPCertStatus.REVOKED if serial in b.revoked else ocsp.OCSPCertStatus.GOOD
        signer = self.signer
        if fault == "revoked":
            status = ocsp.OCSPCertStatus.REVOKED
        elif fault == "unknown":
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif fault == "stale":
            next_update = now - _dt.timedelta(days=1)
            this_update = next_update - _dt.timedelta(seconds=b.validity)
        elif fault == "wrong_cert":
            serial += 1
        elif fault in ("expired_signer", "signer_expiring", "short_lived"):
            ends = {
                "expired_signer": now - _dt.timedelta(hours=1),
                "signer_expiring": now + _dt.timedelta(minutes=10),
                "short_lived": now + _dt.timedelta(seconds=b.validity // 4),
            }
            signer = forge.make_responder(
                forge.Issued(self.ca_cert, self.ca_key),
                f"{fault} OCSP responder",
                now=now,
                not_before=now - _dt.timedelta(days=30),
                not_after=ends[fault],
            )
        revoked = status == ocsp.OCSPCertStatus.REVOKED
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=serial,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=this_update,
            next_update=None if b.no_next_update else next_update,
            revocation_time=this_update if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        if signer.cert != self.ca_cert:
            builder = builder.certificates([signer.cert])
        der = builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        if fault == "bad_signature":
            der = forge.flip_signature_bit(der)
        return der

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the responder stops; True when it stopped."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()

    def random_bytes(self, count: int) -> bytes:
        with self._lock:
            return bytes(self._rng.getrandbits(8) for _ in range(count))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.responder.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_stats":
            self._send(200, json.dumps(self.server.responder.stats()).encode(), "application/json")
            return
        encoded = urllib.parse.unquote(path.rsplit("/", 1)[-1])
        try:
            der = base64.b64decode(encoded, validate=True)
        except ValueError:
            self._send(400, b"not an RFC 5019 GET request\n", "text/plain")
            return
        self._answer(der)

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_REQUEST:
            self._send(400, b"Content-Length required, at most 64 KiB\n", "text/plain")
            return
        self._answer(self.rfile.read(int(length)))

    def _send(self, code: int, body: bytes, content_type: str, content_encoding: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        if content_encoding:
            self.send_header("Content-Encoding", content_encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, request_der: bytes) -> None:
        responder = self.server.responder
        responder.saw_accept_encoding(self.headers.get("Accept-Encoding", ""))
        fault = responder.next_fault()
        if responder.wait(responder.behaviour.latency):
            return
        ocsp_type = "application/ocsp-response"
        if fault in ("http_500", "http_503"):
            self._send(int(fault[5:]), f"{fault}: injected fault\n".encode(), "text/plain")
        elif fault == "timeout":
            responder.wait(responder.hang)
            self.close_connection = True
        elif fault == "html":
            self._send(200, b"<html><body><h1>Service temporarily unavailable</h1></body></html>\n", "text/html")
        elif fault == "garbage":
            self._send(200, responder.random_bytes(200), ocsp_type)
        elif fault == "oversized":
            self.send_response(200)
            self.send_header("Content-Type", ocsp_type)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            with contextlib.suppress(OSError):
                for _ in range(32):
                    self.wfile.write(b"\x00" * 4096)
        elif fault == "slow_body":
            body = responder.answer(request_der, "good")
            self.send_response(200)
            self.send_header("Content-Type", ocsp_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.close_connection = True
            with contextlib.suppress(OSError):
                for index in range(len(body)):
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                    if responder.wait(responder.slow_interval):
                        return
        else:
            body, content_encoding = encode(responder.answer(request_der, fault), responder.behaviour.encoding)
            self._send(200, body, ocsp_type, content_encoding)


def cmd_test_responder(args: argparse.Namespace) -> int:
    import signal

    ca_cert = read_pem_file(args.ca_cert)[0]
    signer = None
    if bool(args.signer_cert) != bool(args.signer_key):
        raise InputError("serve: --signer-cert and --signer-key go together")
    try:
        ca_key = forge.load_key(args.ca_key) if args.ca_key else None
        if args.signer_cert and args.signer_key:
            signer = forge.load_issued(args.signer_cert, args.signer_key)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"serve: cannot load a key or the signer certificate: {exc}") from None
    behaviour = Behaviour(
        fault=check_fault(args.fault),
        mix=parse_mix(args.mix) if args.mix else {},
        seed=args.seed,
        latency=parse_latency(args.latency),
        validity=parse_duration(args.validity, what="--validity"),
        revoked=frozenset(_serial(s) for s in args.revoked or ()),
        encoding=check_encoding(args.encoding),
        no_next_update=args.no_next_update,
    )
    responder = TestResponder(
        ca_cert,
        ca_key=ca_key,
        signer=signer,
        host=args.host,
        port=args.port,
        behaviour=behaviour,
        control=args.control,
        hang=args.hang,
        verbose=args.verbose,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    responder.start()
    print(responder.url, flush=True)
    try:
        # Bounded: the kernel may hand SIGTERM to the server thread; its Python handler then runs
        # only when this (main) thread next executes bytecode, which a wait of an hour postpones.
        while not stop.wait(0.2):
            pass
    finally:
        responder.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "serve",
        help="fault-injecting OCSP responder on 127.0.0.1 (tests, molecule, demo)",
        description="Serve OCSP on 127.0.0.1 for any serial of the CA, with injectable faults. Prints its URL, "
        "serves until SIGTERM/SIGINT. GET /_stats returns the requests and faults served. Faults: " + ", ".join(FAULTS),
    )
    parser.add_argument("--ca-cert", required=True, help="CA certificate PEM")
    parser.add_argument("--ca-key", help="CA private key PEM (signs responses unless a delegated signer is given)")
    parser.add_argument("--signer-cert", help="delegated OCSP responder certificate PEM")
    parser.add_argument("--signer-key", help="delegated OCSP responder private key PEM")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (only 127.0.0.1 is accepted)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--validity", default="7d", help="nextUpdate - thisUpdate of answers (default 7d)")
    parser.add_argument("--latency", default="0", help="delay before each answer: seconds or 50ms")
    parser.add_argument("--fault", default="good", help="fault served to every request (default good)")
    parser.add_argument("--mix", help="random fault mix, e.g. try_later=0.3,bad_signature=0.2 (rest good)")
    parser.add_argument("--seed", type=int, help="seed of the fault draws")
    parser.add_argument("--revoked", action="append", help="hex serial answered as revoked (repeatable)")
    parser.add_argument(
        "--encoding", default="identity", help="how OCSP bodies go on the wire: " + ", ".join(ENCODINGS)
    )
    parser.add_argument(
        "--no-next-update", action="store_true", help="answer without nextUpdate (like openssl ocsp without -ndays)"
    )
    parser.add_argument("--control", help="JSON file re-read when it changes: fault, sequence, mix, latency, ...")
    parser.add_argument("--hang", type=float, default=30.0, help="seconds the timeout fault hangs (default 30)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.set_defaults(func=cmd_test_responder)
