"""The bad input matrix (issue 7): every row is one kind of bad input.

Each row asserts (a) one line of error naming the thing, the problem and the value, and
(b) nothing lost: the store's good ``current.der`` and a node's deployed staple stay
byte-identical. Rows go through the code the production paths call: ``refresh.run`` (the
``ocsp_response`` module and ``ocsp-staple refresh``), ``parse_certificates`` /
``RefreshOptions`` (their input checks), ``install.plan_install`` / ``apply_install`` (the
``ocsp_staple`` module), and, for role variables and module-only checks, ansible-playbook.
Rows that other tests already cover at another level are listed in docs/RELIABILITY.md.
"""
# ruff: noqa: E501 - the matrix reads best as one row per line

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.certs import load_pair
from ocsp_staple.errors import OcspStapleError
from ocsp_staple.node.install import apply_install, plan_install
from ocsp_staple.spec import CertificateSpec, load_certificates_file, parse_certificates

from testbed import forge
from testbed.ocsp_responder import TestResponder

from ..ansible_run import NODE_PYTHON, playbook, task_results
from ..conftest import NOW, Pki, build_pki

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).parent / "playbooks"


@dataclass
class Bench:
    """A store holding a good staple for ``www``, a node file holding a good staple, the PKI files."""

    pki: Pki
    root: Path
    files: dict[str, str]
    responder: TestResponder
    redirector: str
    store: Path
    node_file: Path

    def protected(self) -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in (self.store / "www" / "current.der", self.node_file)}

    def spec(self, **kw: Any) -> CertificateSpec:
        base: dict[str, Any] = {"name": "www", "certificate": self.files["chain"], "responder_url": self.responder.url}
        base.update(kw)
        return CertificateSpec(**base)

    def refresh(self, spec: CertificateSpec, **options: Any) -> Any:
        """One certificate through refresh.run (forced, so it is due); returns its CertResult."""
        opts: dict[str, Any] = {"force": True, "attempts": 2, "timeout": 2.0, "deadline": 10.0, "backoff": 0.01}
        opts.update(options)
        return run([spec], str(self.store), RefreshOptions(**opts), clock=lambda: NOW).certificates[0]

    def failed(self, spec: CertificateSpec, **options: Any) -> str:
        cert = self.refresh(spec, **options)
        assert (cert.action, cert.failed) == ("failed", True), cert.message
        return str(cert.message)

    def rejected_answer(self, spec: CertificateSpec, **options: Any) -> str:
        """A fetch that fails: the current staple is kept (not a failure), the attempt says why."""
        cert = self.refresh(spec, **options)
        assert (cert.action, cert.failed, cert.changed) == ("kept", False, False), cert.message
        assert cert.warnings
        return str(cert.problems[0]["message"])

    def pem(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)

    def leaf(self, name: str, **kw: Any) -> str:
        issued = forge.make_leaf(self.pki.ca, f"{name}.example.org", now=NOW, **kw)
        return self.pem(f"{name}.pem", issued.pem + self.pki.ca.pem)


@pytest.fixture
def bench(pki: Pki, pki_files: dict[str, str], responder: TestResponder, redirector: str, tmp_path: Path) -> Bench:
    store = tmp_path / "store"
    (store / "www").mkdir(parents=True)
    (store / "www" / "current.der").write_bytes(pki.response())
    node_file = tmp_path / "node" / "www.der"
    node_file.parent.mkdir()
    node_file.write_bytes(pki.response(this_update=NOW - dt.timedelta(hours=2)))
    return Bench(pki, tmp_path, pki_files, responder, redirector, store, node_file)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raised(call: Callable[[], object]) -> str:
    with pytest.raises(OcspStapleError) as caught:
        call()
    return str(caught.value)


# --- the rows: (expected pattern, how to provoke it) --------------------------------------------


def missing_certificate(b: Bench) -> str:
    return b.failed(b.spec(certificate=str(b.root / "missing.pem")))


def pem_garbage(b: Bench) -> str:
    return b.failed(b.spec(certificate=b.pem("garbage.pem", b"hello, not a certificate\n")))


def leaf_issuer_mismatch(b: Bench) -> str:
    return b.failed(b.spec(certificate=b.files["leaf"], issuer=b.files["other_ca"]))


def issuer_not_a_ca(b: Bench) -> str:
    middle = forge.make_leaf(b.pki.ca, "middle.example.org", now=NOW)
    under = forge.make_leaf(middle, "under.example.org", now=NOW)
    return b.failed(b.spec(certificate=b.pem("under.pem", under.pem + middle.pem)))


def expired_leaf(b: Bench) -> str:
    return b.failed(b.spec(certificate=b.leaf("expired", not_after=NOW - dt.timedelta(days=1))))


def url_file_override(b: Bench) -> str:
    return raised(
        lambda: parse_certificates([{"name": "www", "certificate": "x", "responder_url": "file:///etc/passwd"}])
    )


def url_ldap_in_aia(b: Bench) -> str:
    return b.failed(b.spec(certificate=b.leaf("ldap", ocsp_url="ldap://127.0.0.1/cn=ocsp"), responder_url=None))


def url_ftp_in_aia(b: Bench) -> str:
    return b.failed(b.spec(certificate=b.leaf("ftp", ocsp_url="ftp://127.0.0.1/ocsp"), responder_url=None))


def must_staple_without_url(b: Bench) -> str:
    return b.failed(b.spec(certificate=b.leaf("ms", ocsp_url=None, must_staple=True), responder_url=None))


def closed_port_row(b: Bench) -> str:
    return b.rejected_answer(b.spec(responder_url=f"http://127.0.0.1:{closed_port()}/"))


def redirect(b: Bench) -> str:
    return b.rejected_answer(b.spec(responder_url=b.redirector))


def body_over_cap(b: Bench) -> str:
    b.responder.configure(fault="oversized")
    return b.rejected_answer(b.spec())


def slow_loris(b: Bench) -> str:
    b.responder.configure(fault="slow_body")
    start = time.monotonic()
    message = b.rejected_answer(b.spec(), attempts=5, timeout=1.0, deadline=2.5)
    elapsed = time.monotonic() - start
    # Without the deadline, 5 attempts of a body trickling a byte every 0.2 s take 5 s at least: 1.5 s of
    # slack past the deadline tells the two apart and leaves a loaded machine room to finish the run.
    assert elapsed < 2.5 + 1.5, f"the run took {elapsed:.2f} s, its deadline is 2.5 s"
    return message


def wrong_content_type(b: Bench) -> str:
    b.responder.configure(fault="html")
    return b.rejected_answer(b.spec())


def duplicate_names(b: Bench) -> str:
    item = {"name": "www", "certificate": b.files["chain"]}
    return raised(lambda: parse_certificates([item, dict(item)]))


def name_with_slash(b: Bench) -> str:
    return raised(lambda: parse_certificates([{"name": "www/../../etc", "certificate": b.files["chain"]}]))


def name_with_dotdot(b: Bench) -> str:
    return raised(lambda: parse_certificates([{"name": "..", "certificate": b.files["chain"]}]))


def store_is_a_file(b: Bench) -> str:
    blocker = b.root / "not-a-dir"
    blocker.write_bytes(b"a file where the store directory should be\n")
    cert = run([b.spec()], str(blocker), RefreshOptions(force=True, attempts=1), clock=lambda: NOW).certificates[0]
    assert cert.failed
    assert blocker.read_bytes() == b"a file where the store directory should be\n"
    return str(cert.message)


def store_read_only(b: Bench) -> str:
    """A read-only bind mount of the store (root ignores permission bits, not a read-only mount)."""
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    target = str(b.store)
    mounted = subprocess.run(["mount", "--bind", target, target], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.strip()}")
    try:
        done = subprocess.run(
            ["mount", "-o", "remount,bind,ro", target, target], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return b.failed(b.spec())
    finally:
        subprocess.run(["umount", target], capture_output=True, check=False)


def negative_attempts(b: Bench) -> str:
    return raised(lambda: RefreshOptions(attempts=-1))


def refresh_fraction_zero(b: Bench) -> str:
    return raised(lambda: RefreshOptions.from_params({"refresh_fraction": 0}))


def refresh_fraction_over_one(b: Bench) -> str:
    return raised(lambda: RefreshOptions.from_params({"refresh_fraction": 1.5}))


def timeout_not_a_duration(b: Bench) -> str:
    return raised(lambda: RefreshOptions.from_params({"timeout": "soon"}))


def unknown_certificate_key(b: Bench) -> str:
    return raised(lambda: parse_certificates([{"name": "www", "certificate": "x", "isuer": "typo.pem"}]))


def empty_certificate_list(b: Bench) -> str:
    return raised(lambda: parse_certificates([]))


def certificates_file_garbage(b: Bench) -> str:
    path = b.root / "certificates.yml"
    path.write_text("- name: www\n  certificate: [unclosed\n")
    return raised(lambda: load_certificates_file(str(path)))


def corrupt_pin(b: Bench) -> str:
    (b.store / "www" / "pin.json").write_text("{not json")
    try:
        return b.failed(b.spec())
    finally:
        (b.store / "www" / "pin.json").unlink()


def staple_dest_dir_missing(b: Bench) -> str:
    dest = b.root / "no-such-dir" / "www.der"
    plan = plan_install(b.pki.response(), load_pair(b.files["chain"]), dest=str(dest), now=NOW)
    message = raised(lambda: apply_install(plan))
    assert not dest.parent.exists()
    return message


def staple_for_another_certificate(b: Bench) -> str:
    other = build_pki("ec")  # the node's certificate is not the one the staple is for
    plan = plan_install(b.pki.response(), other.pair, dest=str(b.node_file), now=NOW)
    return raised(lambda: apply_install(plan))


ROWS: dict[str, tuple[Callable[[Bench], str], str]] = {
    "missing certificate file": (missing_certificate, r"^www: certificate file \S+/missing\.pem: cannot read: No such file"),
    "PEM garbage": (pem_garbage, r"^www: certificate file \S+/garbage\.pem: no PEM certificate found .*'hello, not"),
    "leaf and issuer do not match": (leaf_issuer_mismatch, r"^www: issuer file \S+other-ca\.pem \(CN=Other CA\) did not issue"),
    "issuer is not a CA": (issuer_not_a_ca, r"^www: issuer .*\(CN=middle\.example\.org\) is not a CA certificate"),
    "expired leaf": (expired_leaf, r"^www: certificate file \S+expired\.pem: CN=expired\.example\.org expired 2026-02-28T12"),
    "OCSP URL file:// (responder_url)": (url_file_override, r"^certificates\[0\] \(www\) responder_url 'file:///etc/passwd': scheme 'file' is not allowed"),
    "OCSP URL ldap:// (AIA)": (url_ldap_in_aia, r"^www: responder URL 'ldap://127\.0\.0\.1/cn=ocsp': scheme 'ldap' is not allowed \(only http, https\)"),
    "OCSP URL ftp:// (AIA)": (url_ftp_in_aia, r"^www: responder URL 'ftp://127\.0\.0\.1/ocsp': scheme 'ftp' is not allowed"),
    "Must-Staple without OCSP URL": (must_staple_without_url, r"^www: Must-Staple certificate CN=ms\.example\.org has no OCSP URL"),
    "closed port": (closed_port_row, r"^http://127\.0\.0\.1:\d+/: connection failed: .*(refused|Connection)"),
    "redirect": (redirect, r"^http://127\.0\.0\.1:\d+/: HTTP 307 .*\(redirect to http://127\.0\.0\.1:\d+/ not followed\)"),
    "body over the cap": (body_over_cap, r"^http://127\.0\.0\.1:\d+/: body exceeds the cap of 65536 bytes"),
    "slow-loris responder": (slow_loris, r"^http://127\.0\.0\.1:\d+/: body not complete before the attempt's end \(\d+ bytes read\)"),
    "wrong content type": (wrong_content_type, r"^http://127\.0\.0\.1:\d+/: Content-Type 'text/html' instead of application/ocsp-response"),
    "duplicate certificate names": (duplicate_names, r"^certificates\[1\]: certificate name 'www' appears twice"),
    "name with /": (name_with_slash, r"^certificate name 'www/\.\./\.\./etc': must be 1-128 characters"),
    "name ..": (name_with_dotdot, r"^certificate name '\.\.': must be 1-128 characters"),
    "store path is a file": (store_is_a_file, r"^www: \S+/not-a-dir/www/pin\.json: cannot read: Not a directory$"),
    "store read-only": (store_read_only, r"^www: store directory \S+/store/www/history: cannot create: Read-only file system$"),
    "negative attempts": (negative_attempts, r"^attempts: must be between 1 and 100 \(or none: the deadline\), got -1$"),
    "refresh_fraction 0": (refresh_fraction_zero, r"^refresh_fraction: must be in \(0, 1\], got 0\.0$"),
    "refresh_fraction > 1": (refresh_fraction_over_one, r"^refresh_fraction: must be in \(0, 1\], got 1\.5$"),
    "timeout not a duration": (timeout_not_a_duration, r"^timeout: expected a duration like 4h, 90m, 1d12h or seconds, got 'soon'$"),
    "unknown key in a certificate entry": (unknown_certificate_key, r"^certificates\[0\]: unknown keys isuer \(allowed: "),
    "empty certificate list": (empty_certificate_list, r"^certificates: the list is empty; give at least one"),
    "certificates file neither JSON nor YAML": (certificates_file_garbage, r"^certificates file \S+certificates\.yml: neither JSON nor YAML"),
    "corrupt pin.json": (corrupt_pin, r"^www: pin file \S+/www/pin\.json: not JSON"),
    "staple dest directory missing": (staple_dest_dir_missing, r"^\S+/no-such-dir/www\.der: cannot create a temporary file in \S+no-such-dir: No such file"),
    "staple for another certificate": (staple_for_another_certificate, r"^staple rejected, \S+/www\.der left untouched: .*(CertID|serial)"),
}  # fmt: skip


@pytest.mark.parametrize("row", list(ROWS))
def test_bad_input_is_one_line_and_loses_nothing(row: str, bench: Bench) -> None:
    provoke, pattern = ROWS[row]
    before = bench.protected()
    message = provoke(bench)
    assert "\n" not in message, message
    assert re.search(pattern, message), f"{row}: {message!r} does not match {pattern!r}"
    assert bench.protected() == before, f"{row}: a good staple changed"


# --- through Ansible: role variables (argument_specs and preflight) and module-only checks ----------

ROLE_ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "role variable of the wrong type (argument_specs)": (
        {"ocsp_stapling_attempts": "many"},
        # Ansible's own format: a header line, then one line per bad variable (name, type, value).
        r"\nargument 'ocsp_stapling_attempts' is of type str and we were unable to convert to int: \"'many'\"",
    ),
    "role: empty certificates list": (
        {"ocsp_stapling_certificates": []},
        r"^refresh needs at least one certificate, .* got 0 certificates",
    ),
    "role: negative attempts": ({"ocsp_stapling_attempts": -2}, r"^refresh needs .* got .* attempts -2,"),
    "role: refresh_fraction over 1": (
        {"ocsp_stapling_refresh_fraction": 1.5},
        r"^refresh needs .* refresh_fraction 1\.5$",
    ),
}


@pytest.mark.parametrize("row", list(ROLE_ROWS))
def test_bad_role_variables_fail_before_anything_is_written(row: str, bench: Bench) -> None:
    extra, pattern = ROLE_ROWS[row]
    before = bench.protected()
    variables = {
        "ocsp_stapling_store_dir": str(bench.store),
        "ocsp_stapling_certificates": [
            {"name": "www", "certificate": bench.files["chain"], "responder_url": bench.responder.url}
        ],
        **extra,
    }
    inventory = bench.root / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local\n")
    proc = playbook(PLAYBOOKS / "role_refresh.yml", extra_vars=variables, inventory=inventory)
    assert proc.returncode == 2, proc.stdout
    failures = [r for t in ("Validating arguments against arg spec", "Assert") for r in failed_results(proc, t)]
    assert len(failures) == 1, proc.stdout
    message = failures[0]["msg"]
    assert re.search(pattern, message, re.DOTALL), f"{row}: {message!r}"
    assert bench.protected() == before


def failed_results(proc: subprocess.CompletedProcess[str], prefix: str) -> list[dict[str, Any]]:
    data = json.loads(proc.stdout)
    return [
        result
        for play in data["plays"]
        for task in play["tasks"]
        if prefix in task["task"]["name"]
        for result in task["hosts"].values()
        if result.get("failed")
    ]


def test_non_base64_content_to_the_staple_module_keeps_the_file(bench: Bench) -> None:
    before = bench.protected()
    proc = playbook(
        PLAYBOOKS / "staple.yml",
        extra_vars={
            "staple_b64": "this is not base64!",
            "dest": str(bench.node_file),
            "certificate": bench.files["chain"],
            "ansible_python_interpreter": NODE_PYTHON,
        },
    )
    (result,) = task_results(proc, "Install the staple on the node")
    assert result["failed"] is True
    assert re.search(r"^content: not base64 \(.*\), first characters 'this is not base'$", result["msg"]), result["msg"]
    assert bench.protected() == before
