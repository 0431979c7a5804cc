"""One HAProxy node's staples: ``<crt>.ocsp`` beside each certificate, pushed over the runtime API.

HAProxy reads ``<crt>.ocsp`` when it starts and takes ``set ssl ocsp-response <base64>`` on its
admin socket (``stats socket ... level admin``) at runtime: no reload, no worker churn. It checks
that the response's CertID matches a loaded certificate and that the response parses, but neither
the signature nor the signer's lifetime - hence the node re-validates first (install.plan_install,
the same policy as for nginx) and only valid bytes reach HAProxy.

What HAProxy 2.6 does (measured against Debian's 2.6.12, tests/unit/test_haproxy.py):

- ``set ssl ocsp-response`` answers ``OCSP Response updated!`` and the next handshake serves the
  new bytes. It needs an OCSP entry for the certificate, which exists only if ``<crt>.ocsp`` was
  there at start; otherwise it answers ``Certificate ID does not match any certificate or issuer``.
  Then a transaction gives the certificate its first response: ``set ssl cert <crt>.ocsp`` with the
  base64 as payload, ``commit ssl cert <crt>``.
- Stapling cannot be stopped at runtime for one certificate: a transaction with an empty ``.ocsp``
  payload commits (``Success!``) but the old response is still served. So stapling off removes
  ``<crt>.ocsp`` and needs a reload (after ``haproxy -c``), which the caller runs.

Every answer is read whole (HAProxy closes the connection after one command when not in
interactive mode) within a bounded time and size; no shell, no socat.
"""

from __future__ import annotations

import base64
import datetime as _dt
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, OcspStapleError, StoreError
from ..names import check_names
from ..policy import DEFAULT_CLOCK_SKEW, DEFAULT_MIN_REMAINING, Facts
from .deploy import NodeCertificate, judge
from .install import InstallPlan, apply_install

#: Seconds for connect + command + whole answer, per command.
DEFAULT_TIMEOUT = 10.0
#: The longest answer read (``show ssl ocsp-response <id>`` with a responder chain is a few KiB).
MAX_ANSWER = 1 << 20
OCSP_SUFFIX = ".ocsp"

UPDATED = "OCSP Response updated!"
NO_ENTRY = "does not match any certificate"
COMMITTED = "Success!"


class HaproxyError(OcspStapleError):
    """The admin socket cannot be used, or HAProxy refused a command."""


def runtime(socket_path: str, command: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Send one command (a payload follows its first line) and return HAProxy's whole answer."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    verb = " ".join(command.split()[:3])  # "set ssl ocsp-response": never the payload in a message
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except FileNotFoundError:
            raise HaproxyError(f"HAProxy admin socket {socket_path}: no such socket") from None
        except PermissionError:
            raise HaproxyError(
                f"HAProxy admin socket {socket_path}: permission denied (user {os.geteuid()}; "
                "see the socket's owner and mode in haproxy.cfg 'stats socket')"
            ) from None
        except ConnectionRefusedError:
            raise HaproxyError(
                f"HAProxy admin socket {socket_path}: connection refused (HAProxy not running?)"
            ) from None
        except OSError as exc:
            raise HaproxyError(f"HAProxy admin socket {socket_path}: cannot connect: {exc.strerror or exc}") from None
        data = command.encode() if command.endswith("\n") else (command + "\n").encode()
        chunks: list[bytes] = []
        size = 0
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))  # connect and send share the deadline
            sock.sendall(data)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise HaproxyError(
                        f"HAProxy admin socket {socket_path}: answer to '{verb}' longer than {MAX_ANSWER} bytes"
                    )
                chunks.append(chunk)
        except TimeoutError:
            raise HaproxyError(
                f"HAProxy admin socket {socket_path}: no complete answer to '{verb}' within {timeout:g} s"
            ) from None
        except OSError as exc:
            raise HaproxyError(f"HAProxy admin socket {socket_path}: '{verb}' failed: {exc.strerror or exc}") from None
    finally:
        sock.close()
    return b"".join(chunks).decode("utf-8", "replace")


def _first_lines(answer: str) -> str:
    return " ".join(line.strip() for line in answer.strip().splitlines() if line.strip())[:300] or "<no answer>"


def set_ocsp_response(socket_path: str, staple: bytes, *, certificate: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Push ``staple`` to the running HAProxy; the certificate (its crt path) gets it at once.

    Returns ``"update"`` (``set ssl ocsp-response``) or ``"transaction"`` (first response of a
    certificate HAProxy started without one). Raises :class:`HaproxyError` naming the socket,
    the certificate and HAProxy's answer; HAProxy then keeps serving what it served.
    """
    try:
        return _push(socket_path, staple, certificate, timeout)
    except HaproxyError as exc:
        if certificate in str(exc):
            raise
        raise HaproxyError(f"{exc} (pushing the OCSP response of {certificate})") from None


def _push(socket_path: str, staple: bytes, certificate: str, timeout: float) -> str:
    encoded = base64.b64encode(staple).decode()
    answer = runtime(socket_path, f"set ssl ocsp-response {encoded}", timeout=timeout)
    if UPDATED in answer:
        return "update"
    if NO_ENTRY not in answer:
        raise HaproxyError(
            f"HAProxy on {socket_path} refused the OCSP response for {certificate}: {_first_lines(answer)}"
        )
    opened = runtime(socket_path, f"set ssl cert {certificate}{OCSP_SUFFIX} <<\n{encoded}\n\n", timeout=timeout)
    if "Transaction created" not in opened and "Transaction updated" not in opened:
        raise HaproxyError(
            f"HAProxy on {socket_path} has no OCSP entry for {certificate} and refused a transaction "
            f"for {certificate}{OCSP_SUFFIX}: {_first_lines(opened)} (is {certificate} the crt path HAProxy loaded?)"
        )
    committed = runtime(socket_path, f"commit ssl cert {certificate}", timeout=timeout)
    if COMMITTED not in committed:
        runtime(socket_path, f"abort ssl cert {certificate}", timeout=timeout)
        raise HaproxyError(
            f"HAProxy on {socket_path} refused to commit {certificate} with its first OCSP response: "
            f"{_first_lines(committed)}"
        )
    return "transaction"


@dataclass(frozen=True)
class RuntimeEntry:
    """One OCSP response HAProxy holds in memory (``show ssl ocsp-response``)."""

    key: str
    serial_number: int


_ENTRY = re.compile(r"Certificate ID key : ([0-9a-fA-F]+)\s.*?Serial Number: ([0-9A-Fa-f]+)", re.S)


def show_entries(socket_path: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[RuntimeEntry]:
    answer = runtime(socket_path, "show ssl ocsp-response", timeout=timeout)
    if "Certificate ID" not in answer and answer.strip():
        raise HaproxyError(
            f"HAProxy on {socket_path}: unexpected answer to 'show ssl ocsp-response': {_first_lines(answer)}"
        )
    return [RuntimeEntry(key.lower(), int(serial, 16)) for key, serial in _ENTRY.findall(answer)]


def _haproxy_time(value: _dt.datetime | None) -> str | None:
    """OpenSSL's ASN1_TIME_print form, as HAProxy prints it: ``Dec  6 17:50:10 2026 GMT``."""
    if value is None:
        return None
    return f"{value:%b} {value.day:2d} {value:%H:%M:%S %Y} GMT"


def confirm(socket_path: str, facts: Facts, *, certificate: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Check with ``show ssl ocsp-response <id>`` that HAProxy holds the staple ``facts`` describe
    (the node's own verdict on it); returns the entry key.

    HAProxy 2.6 prints the response as text only, so the fields that tell two responses for one
    certificate apart are compared: serial, Produced At, This Update, Next Update, status. The
    served bytes themselves are compared by the TLS handshake that follows (ocsp_served_info).
    """
    if facts.cert_id is None:
        raise InputError(f"{certificate}: the staple's facts carry no CertID (not a validated staple)")
    serial = facts.cert_id.serial_number
    entries = [e for e in show_entries(socket_path, timeout=timeout) if e.serial_number == serial]
    if not entries:
        raise HaproxyError(
            f"HAProxy on {socket_path} holds no OCSP response for {certificate} (serial {serial:X}) after the update"
        )
    text = runtime(socket_path, f"show ssl ocsp-response {entries[0].key}", timeout=timeout)
    expected = {
        "Produced At": _haproxy_time(facts.produced_at),
        "This Update": _haproxy_time(facts.this_update),
        "Next Update": _haproxy_time(facts.next_update),
        "Cert Status": facts.status,
    }
    for label, want in expected.items():
        if want is None:
            continue
        match = re.search(rf"{label}: ([^\n]*)", text)
        got = match.group(1).strip() if match else None
        if (
            got is None
            or (label == "Cert Status" and not got.startswith(want))
            or (label != "Cert Status" and got != want)
        ):
            raise HaproxyError(
                f"HAProxy on {socket_path} holds another OCSP response for {certificate}: {label} {got!r}, "
                f"deployed {want!r}"
            )
    return entries[0].key


def crt_of(staple_path: str) -> str:
    """The crt path HAProxy loaded, from its ``<crt>.ocsp`` path."""
    if not staple_path.endswith(OCSP_SUFFIX):
        raise InputError(
            f"HAProxy staple path {staple_path!r} does not end in {OCSP_SUFFIX} (HAProxy reads <crt>.ocsp)"
        )
    return staple_path[: -len(OCSP_SUFFIX)]


@dataclass
class HaproxyPlan:
    staples: dict[str, InstallPlan] = field(default_factory=dict)
    #: name -> ``<crt>.ocsp`` to remove (stapling off for a certificate that has one).
    removals: dict[str, str] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    off: dict[str, str] = field(default_factory=dict)

    @property
    def rejections(self) -> list[str]:
        return [plan.rejection() for plan in self.staples.values() if not plan.verdict.valid]

    @property
    def changed(self) -> bool:
        return any(p.changed for p in self.staples.values()) or bool(self.removals)


def plan_haproxy(
    certificates: list[NodeCertificate],
    *,
    now: _dt.datetime,
    min_remaining: int = DEFAULT_MIN_REMAINING,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    mode: int = 0o644,
    owner: int | None = None,
    group: int | None = None,
    assume_lifetime: int | None = None,
) -> HaproxyPlan:
    """Decide every write of the node (writes nothing): the same re-validation as for nginx."""
    plan = HaproxyPlan()
    twice = check_names([cert.name for cert in certificates])
    if twice is not None:
        raise InputError(f"certificate name {twice[1]!r} appears twice")
    for cert in certificates:
        crt_of(cert.staple_path)
        if not cert.stapled:
            plan.off[cert.name] = cert.reason
            if os.path.lexists(cert.staple_path):
                plan.removals[cert.name] = cert.staple_path
            continue
        if cert.staple is None and cert.hold:
            plan.held[cert.name] = "held: the central store has no staple for it; the node keeps its file"
            continue
        install = judge(
            cert,
            now=now,
            min_remaining=min_remaining,
            clock_skew=clock_skew,
            mode=mode,
            owner=owner,
            group=group,
            assume_lifetime=assume_lifetime,
        )
        if cert.hold and not install.verdict.valid:
            plan.held[cert.name] = f"held: {install.rejection()}; the node keeps its file"
            continue
        plan.staples[cert.name] = install
    return plan


@dataclass
class HaproxyOutcome:
    result: dict[str, Any]
    failure: str | None = None


def deploy_haproxy(
    certificates: list[NodeCertificate],
    *,
    socket_path: str,
    now: _dt.datetime,
    allow_reload: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    check_mode: bool = False,
    diff: bool = False,
    **policy: Any,
) -> HaproxyOutcome:
    """Re-validate, push at runtime, then write ``<crt>.ocsp``; ``reload`` only where runtime cannot.

    Per certificate with new bytes: HAProxy gets them first (a refusal leaves the old file and
    the old served staple); the file follows, so a restart serves the same. When the push fails
    and ``allow_reload``: the file is written and ``reload`` is returned (the caller runs
    ``haproxy -c`` first). Stapling off removes the file and needs a reload (2.6 cannot stop a
    staple at runtime); without ``allow_reload`` that is a failure and the file stays.
    """
    plan = plan_haproxy(certificates, now=now, **policy)
    summary: dict[str, dict[str, Any]] = {}
    for name, install in plan.staples.items():
        summary[name] = {
            "stapled": True,
            "staple_changed": install.changed,
            "dest": install.dest,
            **install.verdict.as_dict(),
        }
    for name, why in plan.off.items():
        summary[name] = {"stapled": False, "reason": why, "removed": plan.removals.get(name)}
    for name, why in plan.held.items():
        summary[name] = {"stapled": True, "held": why}
    result: dict[str, Any] = {"changed": plan.changed, "reload": False, "runtime": {}, "certificates": summary}
    if diff:
        result["diff"] = [p.diff() for p in plan.staples.values() if p.changed] + [
            {
                "before": f"{path} present",
                "after": f"{path} absent (stapling off)",
                "before_header": path,
                "after_header": path,
            }
            for path in plan.removals.values()
        ]
    if plan.rejections:
        return HaproxyOutcome(result, "; ".join(plan.rejections) + " (nothing written or pushed on this node)")
    if check_mode or not plan.changed:
        return HaproxyOutcome(result)
    if plan.removals and not allow_reload:
        names = ", ".join(f"{n} ({p})" for n, p in plan.removals.items())
        return HaproxyOutcome(
            {**result, "changed": False},
            f"stapling off for {names} needs a HAProxy reload (2.6 cannot stop stapling one certificate at "
            "runtime) and ocsp_stapling_haproxy_reload is false: the files are kept and still served",
        )
    for name, install in plan.staples.items():
        if not install.content_changed:
            apply_install(install)
            continue
        crt = crt_of(install.dest)
        try:
            how = set_ocsp_response(socket_path, install.data, certificate=crt, timeout=timeout)
            confirm(socket_path, install.verdict.facts, certificate=crt, timeout=timeout)
        except HaproxyError as exc:
            if not allow_reload:
                return HaproxyOutcome(result, f"{name}: {exc}; {install.dest} left as it was")
            how = f"reload ({exc})"
            result["reload"] = True
        apply_install(install)
        result["runtime"][name] = how
    for name, path in plan.removals.items():
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"{path}: cannot remove (stapling off for {name}): {exc.strerror or exc}") from None
        result["runtime"][name] = "reload (HAProxy 2.6 cannot stop stapling at runtime)"
        result["reload"] = True
    return HaproxyOutcome(result)
