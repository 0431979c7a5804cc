"""Interop test bed: a test PKI on disk, an OpenSSL CA database, and OCSP responders not written here.

Used by ``tests/integration/test_interop_responders.py`` (docs/INTEROP.md) to run the
project against ``openssl ocsp`` and ``cfssl ocspserve``. Everything is built with the
wall clock (the responders sign with it and the refresh judges with it).

* :func:`build_interop_pki` writes a CA, a leaf and responder certificates of every shape
  the policy must judge (delegated with EKU id-kp-OCSPSigning, one that expires before
  nextUpdate, an expired one, one without the EKU, one issued by another CA), a leaf with
  several AIA OCSP URLs, plus an RSA CA and leaf for RSASSA-PSS signatures, as ``ROLE.pem`` /
  ``ROLE.key`` under one directory.
* :func:`write_index` writes an ``openssl ca`` database (``index.txt``) that ``openssl ocsp
  -index`` answers from: ``V`` (good) and ``R`` (revoked) lines; a serial that is absent is
  ``unknown``.
* :func:`openssl_respond` and :func:`cfssl_sign` produce responses offline (no socket);
  :func:`openssl_responder_argv` / :func:`cfssl_server_argv` are the servers' command lines.
* :func:`namespace` creates a network namespace with loopback up (``openssl ocsp`` binds
  every interface, so it only ever runs inside one) and tears it down with
  :func:`testbed.netns.down` (every pid of the namespace killed, then the namespace deleted).
* :func:`running` starts a server process, waits (bounded) for the line that says it
  listens, and stops it by its pid.

The tests refresh with the project's own command (``ocsp-staple refresh --method GET|POST``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from ocsp_staple.certs import not_after

from . import forge, netns
from .wait import scaled, wait_until

OPENSSL = "openssl"
CFSSL = "cfssl"
#: One-shot bound of an offline openssl / cfssl command (seconds, scaled).
COMMAND_TIMEOUT = 30.0
#: Deadline for a responder to say it listens, and SIGTERM's grace before SIGKILL (seconds, scaled).
START_TIMEOUT = 15.0
STOP_GRACE = 5.0

#: Roles of :func:`build_interop_pki`: certificate ``ROLE.pem`` and key ``ROLE.key`` in its directory.
ROLES = (
    "ca",
    "leaf",
    "signer",
    "short_signer",
    "expired_signer",
    "no_eku_signer",
    "other_ca",
    "foreign_signer",
    "multi_url_leaf",
    "rsa_ca",
    "rsa_leaf",
)


class InteropError(Exception):
    """An openssl / cfssl command or a responder process failed (one line, with its own words)."""


@dataclass
class InteropPki:
    directory: Path
    issued: dict[str, forge.Issued]
    now: _dt.datetime

    def cert(self, role: str) -> str:
        return str(self.directory / f"{role}.pem")

    def key(self, role: str) -> str:
        return str(self.directory / f"{role}.key")

    def __getitem__(self, role: str) -> forge.Issued:
        return self.issued[role]


def _leaf_with_urls(ca: forge.Issued, common_name: str, urls: Sequence[str], *, now: _dt.datetime) -> forge.Issued:
    """A leaf whose AIA lists several OCSP URLs, in order (testbed.forge makes leaves with one)."""
    key = forge.new_key("ec")
    access = [
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)) for url in urls
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.AuthorityInformationAccess(access), critical=False)
    )
    return forge.Issued(builder.sign(ca.key, hashes.SHA256()), key)


def build_interop_pki(
    directory: str | Path,
    *,
    now: _dt.datetime,
    ocsp_url: str = "http://127.0.0.1:8080/",
    multi_urls: Sequence[str] = ("http://127.0.0.1:8081/", "http://127.0.0.1:8082/"),
) -> InteropPki:
    """The interop PKI under ``directory`` (created), valid around ``now``; the leaves' AIA says ``ocsp_url``,
    except ``multi_url_leaf``'s, which lists every URL of ``multi_urls`` in order."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    ca = forge.make_ca("Interop Test CA", now=now)
    other_ca = forge.make_ca("Interop Other CA", now=now)
    rsa_ca = forge.make_ca("Interop RSA CA", now=now, key_type="rsa")
    day = _dt.timedelta(days=1)
    issued = {
        "ca": ca,
        "leaf": forge.make_leaf(ca, "interop.example.org", now=now, ocsp_url=ocsp_url, serial=0x10AB01),
        "signer": forge.make_responder(ca, "Interop Test CA OCSP Responder", now=now),
        "short_signer": forge.make_responder(ca, "Interop Short-Lived Responder", now=now, not_after=now + 2 * day),
        "expired_signer": forge.make_responder(
            ca, "Interop Expired Responder", now=now, not_before=now - 30 * day, not_after=now - day
        ),
        "no_eku_signer": forge.make_responder(ca, "Interop Responder Without EKU", now=now, eku=False),
        "other_ca": other_ca,
        "foreign_signer": forge.make_responder(other_ca, "Interop Foreign Responder", now=now),
        "multi_url_leaf": _leaf_with_urls(ca, "multi.interop.example.org", multi_urls, now=now),
        "rsa_ca": rsa_ca,
        "rsa_leaf": forge.make_leaf(
            rsa_ca, "rsa.interop.example.org", now=now, ocsp_url=ocsp_url, serial=0x10AB02, key_type="rsa"
        ),
    }
    for role, item in issued.items():
        forge.write(str(root / f"{role}.pem"), item.pem)
        forge.write(str(root / f"{role}.key"), item.key_pem(), 0o600)
    return InteropPki(root, issued, now)


def index_serial(cert: x509.Certificate) -> str:
    """The serial as ``openssl ca`` writes it in index.txt (upper-case hex, whole bytes)."""
    text = f"{cert.serial_number:X}"
    return "0" + text if len(text) % 2 else text


def _utctime(value: _dt.datetime) -> str:
    return value.astimezone(_dt.UTC).strftime("%y%m%d%H%M%SZ")


def index_line(
    cert: x509.Certificate,
    status: str,
    *,
    revoked_at: _dt.datetime | None = None,
    reason: str = "keyCompromise",
) -> str:
    """One index.txt line: ``V`` (valid) or ``R`` (revoked at ``revoked_at``, with ``reason``)."""
    subject = "/" + "/".join(attribute.rfc4514_string() for attribute in cert.subject)
    if status == "valid":
        flag, revocation = "V", ""
    elif status == "revoked":
        if revoked_at is None:
            raise InteropError("index.txt: a revoked line needs revoked_at")
        flag, revocation = "R", f"{_utctime(revoked_at)},{reason}" if reason else _utctime(revoked_at)
    else:
        raise InteropError(f"index.txt: status {status!r} is not one of valid, revoked (absent means unknown)")
    return "\t".join((flag, _utctime(not_after(cert)), revocation, index_serial(cert), "unknown", subject))


def write_index(path: str | Path, lines: Sequence[str]) -> str:
    """An ``openssl ca`` database at ``path`` (index.txt plus the ``.attr`` file openssl looks for)."""
    target = Path(path)
    target.write_text("".join(line + "\n" for line in lines))
    Path(f"{target}.attr").write_text("unique_subject = no\n")
    return str(target)


def _command(argv: Sequence[str], what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=scaled(COMMAND_TIMEOUT), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InteropError(f"{what}: {' '.join(argv[:3])}: {exc}") from None
    if result.returncode != 0:
        words = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
        raise InteropError(f"{what}: exit {result.returncode}: {words[0] if words else '(no output)'}")
    return result


def openssl_request(issuer: str, cert: str, out: str | Path, *, digest: str = "sha1") -> str:
    """A DER OCSP request for ``cert`` (no nonce), made by the openssl client, written to ``out``."""
    _command(
        [OPENSSL, "ocsp", f"-{digest}", "-issuer", issuer, "-cert", cert, "-no_nonce", "-reqout", str(out)],
        f"openssl ocsp request for {cert}",
    )
    return str(out)


def openssl_responder_options(
    *, index: str, ca: str, signer_cert: str, signer_key: str, extra: Sequence[str] = ()
) -> list[str]:
    """The responder options of ``openssl ocsp`` (``extra``: ``-ndays 7``, ``-resp_key_id``, ``-rcid sha256``...)."""
    return ["-index", index, "-CA", ca, "-rsigner", signer_cert, "-rkey", signer_key, *extra]


def openssl_respond(request: str, out: str | Path, options: Sequence[str]) -> bytes:
    """``openssl ocsp`` as a responder without a socket (``-reqin`` / ``-respout``): the DER it answers.

    ``options``: :func:`openssl_responder_options`.
    """
    argv = [OPENSSL, "ocsp", *options, "-reqin", request, "-respout", str(out)]
    _command(argv, "openssl ocsp responder (offline)")
    return Path(out).read_bytes()


def openssl_responder_argv(port: int, options: Sequence[str]) -> list[str]:
    """``openssl ocsp`` serving on ``port`` of every interface (run it inside :func:`namespace` only)."""
    return [OPENSSL, "ocsp", "-port", str(port), *options]


def openssl_version() -> str:
    return _command([OPENSSL, "version"], "openssl version").stdout.decode().strip()


def cfssl_sign(
    *, ca: str, responder_cert: str, responder_key: str, cert: str, status: str = "good", extra: Sequence[str] = ()
) -> bytes:
    """``cfssl ocspsign``: the DER response it signs (it prints JSON with the base64 ``ocspResponse``).

    A revoked response says reason keyCompromise (1): cfssl 1.2 refuses ``revoked`` with reason 0
    ("Invalid revocation status").
    """
    if status == "revoked" and "-reason" not in extra:
        extra = ("-reason", "1", *extra)
    result = _command(
        [
            CFSSL,
            "ocspsign",
            "-ca",
            ca,
            "-responder",
            responder_cert,
            "-responder-key",
            responder_key,
            "-cert",
            cert,
            "-status",
            status,
            "-loglevel",
            "5",
            *extra,
        ],
        f"cfssl ocspsign {status} for {cert}",
    )
    try:
        return base64.b64decode(json.loads(result.stdout)["ocspResponse"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise InteropError(f"cfssl ocspsign: unexpected output {result.stdout[:80]!r}: {exc}") from None


def write_cfssl_responses(path: str | Path, responses: Sequence[bytes]) -> str:
    """The file ``cfssl ocspserve -responses`` loads: base64 DER responses separated by newlines."""
    Path(path).write_text("".join(base64.b64encode(der).decode("ascii") + "\n" for der in responses))
    return str(path)


def cfssl_server_argv(responses: str, port: int, *, address: str = "127.0.0.1") -> list[str]:
    """``cfssl ocspserve`` bound to ``address:port`` only (loopback by default), logging each request."""
    return [CFSSL, "ocspserve", "-address", address, "-port", str(port), "-responses", responses, "-loglevel", "0"]


def cfssl_version() -> str:
    out = _command([CFSSL, "version"], "cfssl version").stdout.decode()
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return " ".join(f"{key.strip()} {value.strip()}" for key, value in fields.items())


def in_namespace(name: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside network namespace ``name`` (``ip netns exec`` execs it: same pid)."""
    return [netns.IP, "netns", "exec", name, *argv]


@contextlib.contextmanager
def namespace(name: str) -> Iterator[str]:
    """A fresh network namespace ``name`` with only loopback up; every process in it is killed at the end."""
    netns.check_name(name)
    if netns.exists(name):
        raise InteropError(f"network namespace {name} exists already: remove it with python -m testbed.netns down")
    _command([netns.IP, "netns", "add", name], f"network namespace {name}")
    try:
        _command([netns.IP, "-n", name, "link", "set", "lo", "up"], f"loopback of namespace {name}")
        yield name
    finally:
        netns.down(name)


@dataclass
class Server:
    """A responder process this test bed started; ``log`` holds its stdout and stderr."""

    process: subprocess.Popen[bytes]
    log: Path
    what: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running(argv: Sequence[str], *, log: str | Path, ready: Callable[[str], bool], what: str) -> Iterator[Server]:
    """Start ``argv``, wait (bounded) until ``ready(its output)``; stop it by pid at the end (TERM, then KILL)."""
    path = Path(log)
    with path.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, path, what)
    try:
        wait_until(
            lambda: process.poll() is not None or ready(server.output()),
            START_TIMEOUT,
            f"{what} to listen (log {path})",
            error=InteropError,
        )
        if process.poll() is not None:
            last = server.output().strip().splitlines()[-1:] or ["(no output)"]
            raise InteropError(f"{what}: exited {process.returncode} before listening: {last[0]}")
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=scaled(STOP_GRACE))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=scaled(STOP_GRACE))
