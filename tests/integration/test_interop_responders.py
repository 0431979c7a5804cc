"""Real responders not written here: ``openssl ocsp`` and ``cfssl ocspserve`` (issue 10, docs/INTEROP.md).

Two parts:

* **offline** (marker ``node``, no root, no socket): ``openssl ocsp -reqin/-respout`` and
  ``cfssl ocspsign`` sign responses for the interop PKI (testbed/interop_pki.py), and
  :func:`policy.validate` judges each one: a table of responder options -> expected problem
  codes. Runs on Debian's python3-cryptography too.
* **live** (marker ``integration``): the responders serve over HTTP and the project's own
  ``ocsp-staple refresh`` (``python -m ocsp_staple refresh``) fetches from them into a store
  under tmp_path; the test then reads the store: ``current.der`` holds a staple that the
  policy *and* ``openssl ocsp -respin`` verify, or no staple and the right problem code in
  ``state.json``, with a previous good staple kept. ``openssl ocsp -port`` binds every
  interface, so it runs only inside a network namespace this module creates (root only),
  and the client runs in the same namespace (``ip netns exec``); ``cfssl ocspserve`` binds
  127.0.0.1 only and runs on loopback. Every process is stopped by its pid, the namespace's
  leftovers by :func:`testbed.netns.down`, also when a test fails.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.certs import CertPair, iso, not_after
from ocsp_staple.policy import validate

from testbed.fleet import free_port_block
from testbed.interop_pki import (
    InteropPki,
    Server,
    build_interop_pki,
    cfssl_server_argv,
    cfssl_sign,
    in_namespace,
    index_line,
    namespace,
    openssl_request,
    openssl_respond,
    openssl_responder_argv,
    openssl_responder_options,
    running,
    write_cfssl_responses,
    write_index,
)
from testbed.wait import scaled

REPO = Path(__file__).resolve().parents[2]
#: The port the leaf's AIA OCSP URL names, and the two of the leaf with two URLs (free in the test's namespace).
AIA_PORT = 8080
MULTI_PORTS = (8081, 8082)
HAS_OPENSSL = shutil.which("openssl") is not None
HAS_CFSSL = shutil.which("cfssl") is not None
CAN_NETNS = os.geteuid() == 0 and shutil.which("ip") is not None
#: Bound of one ``ocsp-staple refresh`` run (seconds, scaled); a run takes well under a second here.
REFRESH_TIMEOUT = 60.0

needs_openssl = pytest.mark.skipif(not HAS_OPENSSL, reason="openssl is not installed")
needs_cfssl = pytest.mark.skipif(
    not HAS_CFSSL, reason="cfssl is not installed (Debian package golang-cfssl; scripts/setup.sh installs it)"
)
#: The live part runs the central refresh, which needs requests: the controller's venvs have it, .venv-node not.
needs_requests = pytest.mark.skipif(
    importlib.util.find_spec("requests") is None,
    reason="the central refresh needs requests (.venv-node runs only the offline part: -m node)",
)
needs_netns = pytest.mark.skipif(
    not CAN_NETNS, reason="openssl ocsp binds every interface: it runs only in a network namespace (root and ip)"
)


def wall_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def ipki(tmp_path_factory: pytest.TempPathFactory) -> InteropPki:
    return build_interop_pki(
        tmp_path_factory.mktemp("interop-pki"),
        now=wall_now(),
        ocsp_url=f"http://127.0.0.1:{AIA_PORT}/",
        multi_urls=[f"http://127.0.0.1:{port}/" for port in MULTI_PORTS],
    )


def pair(ipki: InteropPki, leaf: str = "leaf", ca: str = "ca") -> CertPair:
    return CertPair(leaf=ipki[leaf].cert, issuer=ipki[ca].cert, source=f"interop {leaf}")


def index(ipki: InteropPki, directory: Path, status: str | None, leaf: str = "leaf") -> str:
    """index.txt where ``leaf`` is valid, revoked or (None) absent, i.e. unknown to the responder."""
    directory.mkdir(parents=True, exist_ok=True)
    revoked_at = ipki.now - dt.timedelta(hours=2)
    lines = [index_line(ipki[leaf].cert, status, revoked_at=revoked_at)] if status else []
    return write_index(directory / f"index-{leaf}-{status or 'absent'}.txt", lines)


# --- offline: what the responders sign, judged by the policy -------------------------------------------------


@dataclass(frozen=True)
class OpensslCase:
    id: str
    codes: list[str]
    signer: str = "ca"
    status: str | None = "valid"
    options: tuple[str, ...] = ("-ndays", "7")
    digest: str = "sha1"
    leaf: str = "leaf"
    ca: str = "ca"
    facts: dict[str, Any] = field(default_factory=dict)


OPENSSL_CASES = [
    OpensslCase("ca-good", [], facts={"status": "good", "signer_delegated": False, "signer": "CN=Interop Test CA"}),
    OpensslCase("ca-revoked", ["revoked"], status="revoked", facts={"status": "revoked"}),
    OpensslCase("ca-unknown", ["unknown_status"], status=None, facts={"status": "unknown"}),
    OpensslCase(
        "delegated-good",
        [],
        signer="signer",
        facts={"signer_delegated": True, "signer": "CN=Interop Test CA OCSP Responder"},
    ),
    OpensslCase("delegated-revoked", ["revoked"], signer="signer", status="revoked"),
    OpensslCase("delegated-unknown", ["unknown_status"], signer="signer", status=None),
    OpensslCase("delegated-resp-key-id", [], signer="signer", options=("-ndays", "7", "-resp_key_id")),
    OpensslCase("ca-resp-key-id", [], options=("-ndays", "7", "-resp_key_id")),
    # nextUpdate 10 h away is enough (min_remaining 4 h); 1 h is not.
    OpensslCase("nmin-600", [], options=("-nmin", "600")),
    OpensslCase("nmin-60", ["expires_too_soon"], options=("-nmin", "60")),
    # Without -ndays/-nmin openssl omits nextUpdate: refused by default (nothing bounds the staple's life).
    OpensslCase("no-next-update", ["next_update_missing"], options=()),
    OpensslCase("sha256-cert-id", [], digest="sha256"),
    # OpenSSL 3.0-3.x: -rcid rebuilds the CertID without the serial (answers serial 0; openssl/openssl#31070):
    # the response answers for no certificate of ours.
    OpensslCase("rcid-sha256", ["cert_id_mismatch"], options=("-ndays", "7", "-rcid", "sha256")),
    OpensslCase("sha384-cert-id", [], digest="sha384"),
    OpensslCase("sha512-cert-id", [], digest="sha512"),
    OpensslCase(
        "rsa-pss",
        [],
        signer="rsa_ca",
        leaf="rsa_leaf",
        ca="rsa_ca",
        options=("-ndays", "7", "-rsigopt", "rsa_padding_mode:pss", "-rsigopt", "rsa_pss_saltlen:32"),
    ),
    OpensslCase(
        "rsa-pss-sha512",
        [],
        signer="rsa_ca",
        leaf="rsa_leaf",
        ca="rsa_ca",
        options=("-ndays", "7", "-rsigopt", "rsa_padding_mode:pss", "-rmd", "sha512"),
    ),
    OpensslCase("rsa-pkcs1", [], signer="rsa_ca", leaf="rsa_leaf", ca="rsa_ca"),
    OpensslCase("rmd-sha512", [], options=("-ndays", "7", "-rmd", "sha512")),
    OpensslCase("rmd-sha1", [], options=("-ndays", "7", "-rmd", "sha1")),  # RFC 6960 allows it; so does the policy
    OpensslCase("sha224-cert-id", [], digest="sha224"),
    # -rother adds an unrelated certificate to the certs field: it does not matter.
    OpensslCase("extra-certificate", [], signer="signer", options=("-ndays", "7", "-rother", "OTHER_CA")),
    # The 2015 failure, from a real responder: a signer that expires before nextUpdate bounds the staple.
    OpensslCase("signer-expires-before-next-update", [], signer="short_signer"),
    OpensslCase("expired-signer", ["signer_expired"], signer="expired_signer"),
    OpensslCase("signer-without-eku", ["signer_missing_ocsp_eku"], signer="no_eku_signer"),
    OpensslCase("signer-of-another-ca", ["untrusted_signer"], signer="foreign_signer"),
    # -resp_no_certs leaves the delegated signer out: nothing the issuer vouches for signed it.
    OpensslCase(
        "delegated-without-certs", ["untrusted_signer"], signer="signer", options=("-ndays", "7", "-resp_no_certs")
    ),
]


@pytest.mark.node
@needs_openssl
@pytest.mark.parametrize("case", OPENSSL_CASES, ids=lambda case: case.id)
def test_openssl_ocsp_response_judged(case: OpensslCase, ipki: InteropPki, tmp_path: Path) -> None:
    request = openssl_request(ipki.cert(case.ca), ipki.cert(case.leaf), tmp_path / "req.der", digest=case.digest)
    options = openssl_responder_options(
        index=index(ipki, tmp_path, case.status, case.leaf),
        ca=ipki.cert(case.ca),
        signer_cert=ipki.cert(case.signer),
        signer_key=ipki.key(case.signer),
        extra=[ipki.cert("other_ca") if option == "OTHER_CA" else option for option in case.options],
    )
    der = openssl_respond(request, tmp_path / "resp.der", options)
    verdict = validate(der, pair(ipki, case.leaf, case.ca), now=wall_now())
    assert verdict.codes == case.codes, verdict.summary()
    facts = verdict.facts.as_dict()
    assert {key: facts[key] for key in case.facts} == case.facts
    if case.id == "signer-expires-before-next-update":
        assert verdict.facts.next_update is not None
        assert verdict.facts.signer_not_after is not None
        assert verdict.facts.expires_at == verdict.facts.signer_not_after < verdict.facts.next_update
    if case.id == "no-next-update":
        assert "nextUpdate is absent" in verdict.problems[0].message


@dataclass(frozen=True)
class CfsslCase:
    id: str
    status: str
    responder: str
    codes: list[str]


CFSSL_CASES = [
    CfsslCase("delegated-good", "good", "signer", []),
    CfsslCase("ca-good", "good", "ca", []),
    CfsslCase("ca-revoked", "revoked", "ca", ["revoked"]),
    CfsslCase("delegated-unknown", "unknown", "signer", ["unknown_status"]),
    CfsslCase("expired-signer", "good", "expired_signer", ["signer_expired"]),
]


@pytest.mark.node
@needs_cfssl
@pytest.mark.parametrize("case", CFSSL_CASES, ids=lambda case: case.id)
def test_cfssl_ocspsign_response_judged(case: CfsslCase, ipki: InteropPki) -> None:
    der = cfssl_sign(
        ca=ipki.cert("ca"),
        responder_cert=ipki.cert(case.responder),
        responder_key=ipki.key(case.responder),
        cert=ipki.cert("leaf"),
        status=case.status,
    )
    verdict = validate(der, pair(ipki), now=wall_now())
    assert verdict.codes == case.codes, verdict.summary()
    assert verdict.facts.status == case.status


# --- live: the project's refresh against the responders' HTTP servers ----------------------------------------


def refresh_env() -> dict[str, str]:
    """The environment of the refresh: the core and the testbed importable, no proxy in the way."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "module_utils"), str(REPO)])
    return env


@dataclass
class Refresh:
    code: int
    result: dict[str, Any]
    stderr: str

    @property
    def cert(self) -> dict[str, Any]:
        return self.result["certificates"][0]  # type: ignore[no-any-return]


def refresh(store: Path, certificates: Path, *args: str, ns: str | None = None, method: str | None = None) -> Refresh:
    """``ocsp-staple refresh --json`` (``--method`` when given)."""
    argv = [sys.executable, "-m", "ocsp_staple", "refresh", "--json", *(["--method", method] if method else [])]
    argv += ["--store", str(store), "--certificates", str(certificates), *args]
    result = subprocess.run(
        in_namespace(ns, argv) if ns else argv,
        capture_output=True,
        text=True,
        env=refresh_env(),
        cwd=REPO,
        timeout=scaled(REFRESH_TIMEOUT),
        check=False,
    )
    assert result.returncode in (0, 2), f"refresh exited {result.returncode}: {result.stderr.strip()[-400:]}"
    return Refresh(result.returncode, json.loads(result.stdout), result.stderr)


def certificates_file(
    path: Path, ipki: InteropPki, name: str, url: str | None, *, leaf: str = "leaf", **more: str
) -> Path:
    entry = {"name": name, "certificate": ipki.cert(leaf), "issuer": ipki.cert("ca"), **more}
    if url:
        entry["responder_url"] = url
    path.write_text(json.dumps([entry]))
    return path


def state(store: Path, name: str) -> dict[str, Any]:
    return json.loads((store / name / "state.json").read_text())  # type: ignore[no-any-return]


def assert_good_staple(store: Path, name: str, ipki: InteropPki, leaf: str = "leaf") -> bytes:
    """``current.der`` is valid by the policy now and by openssl as an independent verifier; its bytes."""
    current = store / name / "current.der"
    der = current.read_bytes()
    verdict = validate(der, pair(ipki, leaf), now=wall_now())
    assert verdict.valid, verdict.summary()
    check = subprocess.run(
        [
            *("openssl", "ocsp", "-respin", str(current), "-issuer", ipki.cert("ca")),
            *("-cert", ipki.cert(leaf), "-CAfile", ipki.cert("ca"), "-no_nonce"),
        ],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{ipki.cert(leaf)}: good" in check.stdout, check.stdout
    assert "Response verify OK" in check.stderr, check.stderr
    return der


def assert_rejected(store: Path, name: str, code: str, ipki: InteropPki, *, kept: bytes | None) -> None:
    """The last answer was rejected with ``code``: no staple (``kept`` None) or the previous one, byte for byte;
    the answer itself is in quarantine/."""
    current = store / name / "current.der"
    if kept is None:
        assert not current.exists()
    else:
        assert current.read_bytes() == kept
    recorded = state(store, name)
    assert recorded["last_outcome"] == code
    assert [attempt["codes"] for attempt in recorded["last_run"]["attempts"]] == [[code]]
    quarantined = sorted((store / name / "quarantine").glob("*.der"))  # named by time: the last is this answer
    assert quarantined, "the rejected answer is kept in quarantine/"
    assert validate(quarantined[-1].read_bytes(), pair(ipki), now=wall_now()).codes == [code]


@pytest.fixture(scope="module")
def ns() -> Iterator[str]:
    """This module's network namespace (loopback only); every process left in it is killed at the end."""
    if not CAN_NETNS:
        pytest.skip("openssl ocsp binds every interface: it runs only in a network namespace (root and ip)")
    with namespace(f"ocspi{os.getpid() % 10_000_000}") as name:
        yield name


class Ports:
    """Ports inside the module's namespace: AIA_PORT once (the leaf's AIA URL), then a fresh one per responder."""

    def __init__(self) -> None:
        self.next = AIA_PORT + 100

    def __call__(self) -> int:
        self.next += 1
        return self.next


@pytest.fixture(scope="module")
def ports() -> Ports:
    return Ports()


def openssl_server(
    ns: str,
    port: int,
    ipki: InteropPki,
    directory: Path,
    status: str | None,
    signer: str,
    extra: Sequence[str],
    *,
    leaf: str = "leaf",
) -> AbstractContextManager[Server]:
    """``openssl ocsp`` on ``port`` inside ``ns``, answering from an index where ``leaf`` has ``status``."""
    options = openssl_responder_options(
        index=index(ipki, directory, status, leaf),
        ca=ipki.cert("ca"),
        signer_cert=ipki.cert(signer),
        signer_key=ipki.key(signer),
        extra=extra,
    )
    return running(
        in_namespace(ns, openssl_responder_argv(port, options)),
        log=directory / f"openssl-{port}.log",
        ready=lambda out: "ACCEPT" in out,
        what=f"openssl ocsp on port {port} in namespace {ns}",
    )


def requests_seen(server: Server) -> list[str]:
    """The request lines openssl logged (``POST / HTTP/1.1``, ``GET /MEMw... HTTP/1.1``)."""
    marker = "1st line: "
    return [line.split(marker, 1)[1] for line in server.output().splitlines() if marker in line]


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
def test_openssl_good_fetched_by_post_from_the_aia_url(ns: str, ipki: InteropPki, tmp_path: Path) -> None:
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=None)  # the leaf's AIA URL
    with openssl_server(ns, AIA_PORT, ipki, tmp_path, "valid", "ca", ["-ndays", "7"]) as server:
        run = refresh(tmp_path / "store", certs, ns=ns)
    assert run.code == 0, run.cert["message"]
    assert run.cert["action"] == "updated"
    assert run.cert["responder_url"] == f"http://127.0.0.1:{AIA_PORT}/"
    der = assert_good_staple(tmp_path / "store", "interop", ipki)
    recorded = state(tmp_path / "store", "interop")
    assert recorded["last_outcome"] == "ok"
    assert recorded["current"]["signer_delegated"] is False
    assert recorded["current"]["next_update"] is not None
    assert [line.split()[0] for line in requests_seen(server)] == ["POST"]
    assert [path.read_bytes() for path in (tmp_path / "store" / "interop" / "history").glob("*.der")] == [der]


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
def test_every_aia_url_tried_in_order_and_the_one_that_answered_recorded(
    ns: str, ipki: InteropPki, tmp_path: Path
) -> None:
    """The leaf lists two OCSP URLs; nothing listens on the first, openssl answers on the second."""
    dead, live = (f"http://127.0.0.1:{port}/" for port in MULTI_PORTS)
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=None, leaf="multi_url_leaf")
    with openssl_server(ns, MULTI_PORTS[1], ipki, tmp_path, "valid", "signer", ["-ndays", "7"], leaf="multi_url_leaf"):
        run = refresh(tmp_path / "store", certs, ns=ns)
    assert run.code == 0, run.cert["message"]
    assert_good_staple(tmp_path / "store", "interop", ipki, leaf="multi_url_leaf")
    recorded = state(tmp_path / "store", "interop")
    assert recorded["answered_by"] == live
    assert [(a["url"], a["reason"]) for a in recorded["last_run"]["attempts"]] == [
        (dead, "connection_error"),
        (live, "ok"),
    ]


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
def test_openssl_good_fetched_by_rfc5019_get(ns: str, ports: Ports, ipki: InteropPki, tmp_path: Path) -> None:
    port = ports()
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    with openssl_server(ns, port, ipki, tmp_path, "valid", "signer", ["-ndays", "7"]) as server:
        run = refresh(tmp_path / "store", certs, ns=ns, method="GET")
    assert run.code == 0, run.cert["message"]
    assert_good_staple(tmp_path / "store", "interop", ipki)
    seen = requests_seen(server)
    assert len(seen) == 1, seen
    assert seen[0].startswith("GET /ME"), seen  # the base64 request in the path (RFC 5019)


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
@pytest.mark.parametrize(
    ("signer", "extra", "delegated"),
    [
        ("signer", ["-ndays", "7"], True),
        ("signer", ["-ndays", "7", "-resp_key_id"], True),
        ("ca", ["-ndays", "7", "-resp_key_id"], False),
    ],
    ids=["delegated-by-name", "delegated-resp-key-id", "ca-resp-key-id"],
)
def test_openssl_signer_variants_stored(
    ns: str, ports: Ports, ipki: InteropPki, tmp_path: Path, signer: str, extra: list[str], delegated: bool
) -> None:
    port = ports()
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    with openssl_server(ns, port, ipki, tmp_path, "valid", signer, extra):
        run = refresh(tmp_path / "store", certs, ns=ns)
    assert run.code == 0, run.cert["message"]
    assert_good_staple(tmp_path / "store", "interop", ipki)
    current = state(tmp_path / "store", "interop")["current"]
    assert current["signer_delegated"] is delegated
    assert current["signer"] == ipki[signer].cert.subject.rfc4514_string()


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
@pytest.mark.parametrize(
    ("status", "code"), [("revoked", "revoked"), (None, "unknown_status")], ids=["revoked", "unknown"]
)
def test_openssl_rejected_status_never_stored_previous_good_kept(
    ns: str, ports: Ports, ipki: InteropPki, tmp_path: Path, status: str | None, code: str
) -> None:
    store = tmp_path / "store"
    port = ports()
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    extra = ["-ndays", "7"]
    # 1. An empty store: the rejected answer is not stored, the run fails (nothing valid to deploy).
    with openssl_server(ns, port, ipki, tmp_path / "bad", status, "signer", extra):
        first = refresh(store, certs, "--attempts", "1", ns=ns)
    assert first.code == 2, first.cert["message"]
    assert first.cert["action"] == "failed", first.cert["message"]
    assert_rejected(store, "interop", code, ipki, kept=None)
    # 2. The responder knows the certificate as good: a staple is stored.
    with openssl_server(ns, port, ipki, tmp_path / "good", "valid", "signer", extra):
        second = refresh(store, certs, ns=ns)
    assert second.code == 0, second.cert["message"]
    assert second.cert["action"] == "updated", second.cert["message"]
    good = assert_good_staple(store, "interop", ipki)
    # 3. The same responder says revoked / unknown again: the good staple stays, the problem is recorded.
    with openssl_server(ns, port, ipki, tmp_path / "bad-again", status, "signer", extra):
        third = refresh(store, certs, "--attempts", "1", "--force", ns=ns)
    assert third.code == 0, third.cert["message"]
    assert third.cert["action"] == "kept", third.cert["message"]
    assert f"rejected: {code}" in third.cert["message"]
    assert_rejected(store, "interop", code, ipki, kept=good)
    assert state(store, "interop")["consecutive_failures"] == 1


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
def test_openssl_signer_expiring_before_next_update_bounds_the_stored_staple(
    ns: str, ports: Ports, ipki: InteropPki, tmp_path: Path
) -> None:
    port = ports()
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    with openssl_server(ns, port, ipki, tmp_path, "valid", "short_signer", ["-ndays", "7"]) as server:
        run = refresh(tmp_path / "store", certs, ns=ns)
    assert run.code == 0, run.cert["message"]
    # A valid answer whose signer dies before its nextUpdate does not end the run: all 3 attempts ask
    # for a longer-lived one (the 2015 workaround), and the best of them is kept.
    assert [attempt["outcome"] for attempt in run.cert["attempts"]] == ["valid"] * 3
    assert len(requests_seen(server)) == 3
    assert_good_staple(tmp_path / "store", "interop", ipki)
    current = state(tmp_path / "store", "interop")["current"]
    signer_end = iso(not_after(ipki["short_signer"].cert))
    assert current["expires_at"] == current["signer_not_after"] == signer_end
    assert current["expires_at"] < current["next_update"]


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
def test_openssl_without_next_update_refused_by_default(
    ns: str, ports: Ports, ipki: InteropPki, tmp_path: Path
) -> None:
    port = ports()
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    with openssl_server(ns, port, ipki, tmp_path, "valid", "ca", []):  # no -ndays: no nextUpdate
        run = refresh(tmp_path / "store", certs, "--attempts", "1", ns=ns)
    assert run.code == 2, run.cert["message"]
    assert_rejected(tmp_path / "store", "interop", "next_update_missing", ipki, kept=None)
    attempt = state(tmp_path / "store", "interop")["last_run"]["attempts"][0]
    assert "nextUpdate is absent" in attempt["message"]


@pytest.mark.integration
@needs_requests
@needs_openssl
@needs_netns
def test_openssl_without_next_update_accepted_with_the_opt_in(
    ns: str, ports: Ports, ipki: InteropPki, tmp_path: Path
) -> None:
    """``assume_lifetime_without_next_update`` (per certificate) for a private responder: thisUpdate + 1 d."""
    port = ports()
    certs = certificates_file(
        tmp_path / "certs.json",
        ipki,
        "interop",
        url=f"http://127.0.0.1:{port}/",
        assume_lifetime_without_next_update="1d",
    )
    with openssl_server(ns, port, ipki, tmp_path, "valid", "ca", []):
        run = refresh(tmp_path / "store", certs, ns=ns)
    assert run.code == 0, run.cert["message"]
    assert run.cert["action"] == "updated"
    current = state(tmp_path / "store", "interop")["current"]
    assert current["valid"] is True
    assert current["assumed_lifetime"] == 86400
    this_update = dt.datetime.fromisoformat(current["this_update"].replace("Z", "+00:00"))
    assert current["next_update"] == iso(this_update + dt.timedelta(days=1)) == current["expires_at"]
    der = (tmp_path / "store" / "interop" / "current.der").read_bytes()
    # Stored as the responder sent it: without the opt-in the same bytes are refused.
    assert validate(der, pair(ipki), now=wall_now()).codes == ["next_update_missing"]


# --- live: cfssl ocspserve on loopback -----------------------------------------------------------------------


def cfssl_server(directory: Path, port: int, responses: Sequence[bytes]) -> AbstractContextManager[Server]:
    """``cfssl ocspserve`` on 127.0.0.1:``port`` serving ``responses`` (looked up by serial number)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = write_cfssl_responses(directory / "responses.b64", responses)
    return running(
        cfssl_server_argv(path, port),
        log=directory / "cfssl.log",
        ready=lambda out: "Now listening on" in out,
        what=f"cfssl ocspserve on 127.0.0.1:{port}",
    )


def cfssl_response(ipki: InteropPki, status: str, responder: str, leaf: str = "leaf", ca: str = "ca") -> bytes:
    return cfssl_sign(
        ca=ipki.cert(ca),
        responder_cert=ipki.cert(responder),
        responder_key=ipki.key(responder),
        cert=ipki.cert(leaf),
        status=status,
    )


@pytest.mark.integration
@needs_requests
@needs_cfssl
def test_cfssl_good_stored_then_revoked_keeps_it(ipki: InteropPki, tmp_path: Path) -> None:
    store = tmp_path / "store"
    port = free_port_block(1)
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    with cfssl_server(tmp_path / "good", port, [cfssl_response(ipki, "good", "signer")]):
        first = refresh(store, certs)
    assert first.code == 0, first.cert["message"]
    assert first.cert["action"] == "updated", first.cert["message"]
    good = assert_good_staple(store, "interop", ipki)
    assert state(store, "interop")["current"]["signer_delegated"] is True
    with cfssl_server(tmp_path / "revoked", port, [cfssl_response(ipki, "revoked", "ca")]):
        second = refresh(store, certs, "--attempts", "1", "--force")
    assert second.code == 0, second.cert["message"]
    assert second.cert["action"] == "kept", second.cert["message"]
    assert_rejected(store, "interop", "revoked", ipki, kept=good)


@pytest.mark.integration
@needs_requests
@needs_cfssl
@pytest.mark.parametrize(
    ("served", "code"),
    [("revoked", "revoked"), ("unknown", "unknown_status"), ("other-certificate", "unauthorized")],
)
def test_cfssl_rejections_never_stored(ipki: InteropPki, tmp_path: Path, served: str, code: str) -> None:
    """revoked / unknown as signed; a serial the responses file lacks gets cfssl's ``unauthorized`` (6)."""
    port = free_port_block(1)
    certs = certificates_file(tmp_path / "certs.json", ipki, "interop", url=f"http://127.0.0.1:{port}/")
    if served == "other-certificate":
        responses = [cfssl_response(ipki, "good", "rsa_ca", leaf="rsa_leaf", ca="rsa_ca")]
    else:
        responses = [cfssl_response(ipki, served, "signer")]
    with cfssl_server(tmp_path / "cfssl", port, responses):
        run = refresh(tmp_path / "store", certs, "--attempts", "1")
    assert run.code == 2, run.cert["message"]
    assert run.cert["action"] == "failed", run.cert["message"]
    assert_rejected(tmp_path / "store", "interop", code, ipki, kept=None)
