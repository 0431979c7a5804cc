"""The HAProxy node layer against real haproxy 2.6 on 127.0.0.1: runtime push, confirm, failures.

Every failure of the runtime API (no socket, permission, HAProxy refusing) must be one line naming
the socket, the certificate and HAProxy's answer, and leave the old staple on disk and served.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ocsp_staple.certs import load_pair
from ocsp_staple.node.deploy import NodeCertificate
from ocsp_staple.node.haproxy import HaproxyError, confirm, deploy_haproxy, runtime, set_ocsp_response
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate

from testbed import forge
from testbed.fleet import Site, _alive, sites_from_pki
from testbed.haproxy import HAPROXY, HaproxyFleet, HaproxyNode, running_haproxy
from testbed.pki import DemoPki
from testbed.wait import scaled

from ..conftest import REPO, WALL_NOW

pytestmark = [pytest.mark.node, pytest.mark.integration]
WWW = "www.demo.test"


def _staple(pki: DemoPki, name: str, hours: int, *, days: float = 7, responder: forge.Issued | None = None) -> bytes:
    return forge.make_response(
        pki.leaf(name).cert,
        pki.ca().cert,
        responder or pki.responder(),
        this_update=WALL_NOW - dt.timedelta(hours=hours),
        next_update=WALL_NOW + dt.timedelta(days=days),
    )


def _served(node: HaproxyNode, name: str = WWW) -> bytes | None:
    return fetch_served_staple(node.host, node.port, servername=name, timeout=scaled(10)).staple


@pytest.fixture
def haproxy_node(demo_pki: DemoPki, tmp_path: Path) -> Iterator[HaproxyNode]:
    """One haproxy serving the www and must-staple leaves, started with www's staple in www.pem.ocsp."""
    if not Path(HAPROXY).exists():
        pytest.skip(f"haproxy not installed at {HAPROXY}")
    sites = sites_from_pki(demo_pki.directory, [WWW, "must-staple.demo.test"])
    fleet = HaproxyFleet.create(tmp_path / "haproxy", sites)
    node = fleet.nodes[0]
    node.staple_path(WWW).write_bytes(_staple(demo_pki, WWW, 3))
    fleet.start()
    try:
        yield node
    finally:
        fleet.stop()
    assert not node.running()


def _cert(node: HaproxyNode, name: str, staple: bytes | None, *, stapled: bool = True) -> NodeCertificate:
    return NodeCertificate(
        name=name,
        stapled=stapled,
        reason="stapled" if stapled else "disabled by test",
        certificate=str(node.crt(name)),
        issuer=None,
        staple_path=str(node.staple_path(name)),
        snippet_path="",
        staple=staple,
    )


def test_a_runtime_update_is_served_without_a_reload_and_written_beside_the_crt(
    haproxy_node: HaproxyNode, demo_pki: DemoPki
) -> None:
    node = haproxy_node
    before = node.staple_path(WWW).read_bytes()
    assert _served(node) == before
    workers = node.workers()
    new = _staple(demo_pki, WWW, 1)
    outcome = deploy_haproxy(
        [_cert(node, WWW, new)], socket_path=str(node.admin_socket), now=WALL_NOW, allow_reload=False
    )
    assert outcome.failure is None, outcome.failure
    assert outcome.result["changed"]
    assert not outcome.result["reload"]
    assert outcome.result["runtime"] == {WWW: "update"}
    assert _served(node) == new
    assert node.staple_path(WWW).read_bytes() == new
    assert node.workers() == workers, "no reload: the same worker serves the new staple"
    again = deploy_haproxy([_cert(node, WWW, new)], socket_path=str(node.admin_socket), now=WALL_NOW)
    assert again.failure is None
    assert not again.result["changed"]
    assert again.result["runtime"] == {}


def test_the_first_staple_of_a_certificate_started_without_one_goes_in_by_transaction(
    haproxy_node: HaproxyNode, demo_pki: DemoPki
) -> None:
    node = haproxy_node
    name = "must-staple.demo.test"
    assert _served(node, name) is None
    staple = _staple(demo_pki, name, 1)
    outcome = deploy_haproxy(
        [_cert(node, name, staple)], socket_path=str(node.admin_socket), now=WALL_NOW, allow_reload=False
    )
    assert outcome.failure is None, outcome.failure
    assert outcome.result["runtime"] == {name: "transaction"}
    assert _served(node, name) == staple
    assert node.staple_path(name).read_bytes() == staple


def test_confirm_tells_another_response_for_the_same_certificate(haproxy_node: HaproxyNode, demo_pki: DemoPki) -> None:
    node = haproxy_node
    pair = load_pair(str(node.crt(WWW)))
    served = validate(node.staple_path(WWW).read_bytes(), pair, now=WALL_NOW)
    assert confirm(str(node.admin_socket), served.facts, certificate=str(node.crt(WWW)))
    other = validate(_staple(demo_pki, WWW, 2), pair, now=WALL_NOW)
    with pytest.raises(HaproxyError, match=r"holds another OCSP response for .*www\.demo\.test\.pem: Produced At|This"):
        confirm(str(node.admin_socket), other.facts, certificate=str(node.crt(WWW)))


def test_a_wrong_socket_path_fails_in_one_line_and_keeps_the_old_staple(
    haproxy_node: HaproxyNode, demo_pki: DemoPki
) -> None:
    node = haproxy_node
    old = node.staple_path(WWW).read_bytes()
    wrong = node.root / "no-such.sock"
    outcome = deploy_haproxy(
        [_cert(node, WWW, _staple(demo_pki, WWW, 1))], socket_path=str(wrong), now=WALL_NOW, allow_reload=False
    )
    assert outcome.failure is not None
    assert "\n" not in outcome.failure
    assert outcome.failure.startswith(f"{WWW}: HAProxy admin socket {wrong}: no such socket")
    assert f"{node.staple_path(WWW)} left as it was" in outcome.failure
    assert node.staple_path(WWW).read_bytes() == old
    assert _served(node) == old


def test_a_socket_the_user_may_not_open_fails_in_one_line_and_keeps_the_old_staple(
    haproxy_node: HaproxyNode, demo_pki: DemoPki, request: pytest.FixtureRequest
) -> None:
    """As an unprivileged user (root passes any socket mode): the admin socket is mode 600, root's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the client as another user")
    node = haproxy_node
    old = node.staple_path(WWW).read_bytes()
    # tmp_path's parents are root's alone (0700): the unprivileged user reads the core from a copy here.
    lib = Path(tempfile.mkdtemp(prefix="ocsp-haproxy-perm-"))
    request.addfinalizer(lambda: shutil.rmtree(lib, ignore_errors=True))
    new = lib / "new.der"
    new.write_bytes(_staple(demo_pki, WWW, 1))
    shutil.copytree(REPO / "module_utils" / "ocsp_staple", lib / "ocsp_staple")
    for path in (lib, *lib.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    script = (
        "import sys\n"
        "from ocsp_staple.node.haproxy import set_ocsp_response, HaproxyError\n"
        f"staple = open({str(new)!r}, 'rb').read()\n"
        "try:\n"
        f"    set_ocsp_response({str(node.admin_socket)!r}, staple, certificate={str(node.crt(WWW))!r})\n"
        "except HaproxyError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        user=65534,
        group=65534,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        cwd="/",
        check=False,
    )
    assert done.returncode == 3, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line
    assert line.startswith(f"HAProxy admin socket {node.admin_socket}: permission denied (user 65534;")
    assert line.endswith(f"(pushing the OCSP response of {node.crt(WWW)})")
    assert node.staple_path(WWW).read_bytes() == old
    assert _served(node) == old


def test_haproxy_refusing_the_update_names_socket_certificate_and_answer(
    haproxy_node: HaproxyNode, demo_pki: DemoPki
) -> None:
    """An expired response parses, so only HAProxy's own check stops it: its answer is in the line."""
    node = haproxy_node
    old = node.staple_path(WWW).read_bytes()
    expired = forge.make_response(
        demo_pki.leaf(WWW).cert,
        demo_pki.ca().cert,
        demo_pki.responder(),
        this_update=WALL_NOW - dt.timedelta(days=9),
        next_update=WALL_NOW - dt.timedelta(days=2),
    )
    with pytest.raises(HaproxyError) as caught:
        set_ocsp_response(str(node.admin_socket), expired, certificate=str(node.crt(WWW)))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"HAProxy on {node.admin_socket} refused the OCSP response for {node.crt(WWW)}: ")
    assert "no longer valid" in message, message
    assert _served(node) == old


def test_a_crt_path_haproxy_did_not_load_is_refused_and_nothing_written(
    haproxy_node: HaproxyNode, demo_pki: DemoPki, tmp_path: Path
) -> None:
    """must-staple has no OCSP entry (started without .ocsp): the transaction names a crt HAProxy does not know."""
    node = haproxy_node
    name = "must-staple.demo.test"
    elsewhere = tmp_path / "copy" / f"{name}.pem"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(node.crt(name).read_bytes())
    cert = NodeCertificate(
        name=name,
        stapled=True,
        reason="stapled",
        certificate=str(elsewhere),
        issuer=None,
        staple_path=f"{elsewhere}.ocsp",
        snippet_path="",
        staple=_staple(demo_pki, name, 1),
    )
    outcome = deploy_haproxy([cert], socket_path=str(node.admin_socket), now=WALL_NOW, allow_reload=False)
    assert outcome.failure is not None
    assert "\n" not in outcome.failure
    assert (
        f"HAProxy on {node.admin_socket} has no OCSP entry for {elsewhere} and refused a transaction" in outcome.failure
    )
    assert not Path(f"{elsewhere}.ocsp").exists()
    assert _served(node, name) is None


def test_an_invalid_staple_never_reaches_haproxy(haproxy_node: HaproxyNode, demo_pki: DemoPki) -> None:
    """HAProxy itself takes a response signed by an expired responder; the node layer refuses it first."""
    node = haproxy_node
    old = node.staple_path(WWW).read_bytes()
    ca = demo_pki.ca()
    expired_signer = forge.make_responder(
        ca,
        "Expired OCSP Responder",
        now=WALL_NOW,
        not_before=WALL_NOW - dt.timedelta(days=30),
        not_after=WALL_NOW - dt.timedelta(days=1),
    )
    bad = _staple(demo_pki, WWW, 1, responder=expired_signer)
    outcome = deploy_haproxy([_cert(node, WWW, bad)], socket_path=str(node.admin_socket), now=WALL_NOW)
    assert outcome.failure is not None
    assert "nothing written or pushed on this node" in outcome.failure
    assert _served(node) == old
    assert node.staple_path(WWW).read_bytes() == old
    # ... which HAProxy alone would have served:
    set_ocsp_response(str(node.admin_socket), bad, certificate=str(node.crt(WWW)))
    assert _served(node) == bad


def test_stapling_off_removes_the_file_and_needs_the_reload_haproxy_2_6_requires(
    haproxy_node: HaproxyNode, demo_pki: DemoPki
) -> None:
    node = haproxy_node
    old = node.staple_path(WWW).read_bytes()
    refused = deploy_haproxy(
        [_cert(node, WWW, None, stapled=False)], socket_path=str(node.admin_socket), now=WALL_NOW, allow_reload=False
    )
    assert refused.failure is not None
    assert "needs a HAProxy reload" in refused.failure
    assert node.staple_path(WWW).read_bytes() == old
    # What 2.6 does with the only runtime means: an empty .ocsp in a transaction commits, and the old
    # staple is still served.
    sock = str(node.admin_socket)
    assert "Transaction created" in runtime(sock, f"set ssl cert {node.staple_path(WWW)} <<\n\n")
    assert "Success!" in runtime(sock, f"commit ssl cert {node.crt(WWW)}")
    assert _served(node) == old
    off = deploy_haproxy([_cert(node, WWW, None, stapled=False)], socket_path=sock, now=WALL_NOW)
    assert off.failure is None
    assert off.result["reload"]
    assert off.result["changed"]
    assert not node.staple_path(WWW).exists()
    node.reload()
    assert _served(node) is None


def test_the_testbed_cli_starts_reloads_and_stops_by_pid(demo_pki: DemoPki, tmp_path: Path) -> None:
    if not Path(HAPROXY).exists():
        pytest.skip(f"haproxy not installed at {HAPROXY}")
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'module_utils'}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "testbed.haproxy", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=scaled(120),
        )

    try:
        started = cli("start", "--dir", str(tmp_path / "h"), "--pki", demo_pki.directory, "--nodes", "2")
        assert started.returncode == 0, started.stderr
        nodes = HaproxyFleet.load(tmp_path / "h").nodes
        assert [n.running() for n in nodes] == [True, True]
        workers = nodes[0].workers()
        reloaded = subprocess.run(
            nodes[0].reload_command(), capture_output=True, text=True, env=env, cwd=REPO, timeout=scaled(120)
        )
        assert reloaded.returncode == 0, reloaded.stderr
        assert nodes[0].workers() - workers
    finally:
        stopped = cli("stop", "--dir", str(tmp_path / "h"))
    assert stopped.returncode == 0, stopped.stderr
    assert not any(n.running() for n in HaproxyFleet.load(tmp_path / "h").nodes)


def test_running_haproxy_stops_what_it_started(demo_pki: DemoPki, tmp_path: Path) -> None:
    if not Path(HAPROXY).exists():
        pytest.skip(f"haproxy not installed at {HAPROXY}")
    with running_haproxy(tmp_path / "h", sites_from_pki(demo_pki.directory, [WWW])) as fleet:
        node = fleet.nodes[0]
        assert node.running()
        pids = {node.pid(), *node.workers()}
    assert not node.running()
    assert not any(_alive(pid) for pid in pids if pid)  # a zombie (no reaping init here) counts as gone


def _staple_for_key_type(host: str, port: int, cipher: str) -> tuple[str, bytes | None]:
    """A TLS 1.2 handshake that only offers ``cipher`` (ECDSA or RSA): (served key type, staple)."""
    import socket as _socket

    from OpenSSL import SSL

    received: list[bytes] = []
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_max_proto_version(SSL.TLS1_2_VERSION)
    context.set_cipher_list(cipher.encode())
    context.set_verify(SSL.VERIFY_NONE, lambda *_args: True)
    context.set_ocsp_client_callback(lambda _c, data, _d: received.append(bytes(data)) or True)
    with _socket.create_connection((host, port), timeout=scaled(10)) as sock:
        sock.settimeout(None)  # pyOpenSSL needs a blocking socket (a timeout makes it non-blocking)
        conn = SSL.Connection(context, sock)
        conn.set_tlsext_host_name(WWW.encode())
        conn.request_ocsp()
        conn.set_connect_state()
        conn.do_handshake()
        cert = conn.get_peer_certificate()
        assert cert is not None
        key = cert.to_cryptography().public_key()
        key_type = (
            "ecdsa"
            if isinstance(key, ec.EllipticCurvePublicKey)
            else "rsa"
            if isinstance(key, rsa.RSAPublicKey)
            else "?"
        )
        conn.shutdown()
    return key_type, (received[0] or None) if received else None


def test_an_rsa_and_an_ecdsa_certificate_for_one_name_each_get_their_own_staple(
    demo_pki: DemoPki, tmp_path: Path
) -> None:
    """docs/DUAL_CERTIFICATES.md: HAProxy staples per certificate - no nginx server-block trap."""
    if not Path(HAPROXY).exists():
        pytest.skip(f"haproxy not installed at {HAPROXY}")
    ca = demo_pki.ca()
    rsa_leaf = forge.make_leaf(ca, WWW, now=WALL_NOW, key_type="rsa", ocsp_url=demo_pki.ocsp_url)
    rsa_dir = tmp_path / "rsa"
    rsa_dir.mkdir()
    forge.write(str(rsa_dir / "fullchain.pem"), rsa_leaf.pem + ca.pem)
    forge.write(str(rsa_dir / "key.pem"), rsa_leaf.key_pem(), mode=0o600)
    ecdsa = sites_from_pki(demo_pki.directory, [WWW])[0]
    sites = [
        Site("www-ecdsa", ecdsa.certificate, ecdsa.key, WWW),
        Site("www-rsa", str(rsa_dir / "fullchain.pem"), str(rsa_dir / "key.pem"), WWW),
    ]
    with running_haproxy(tmp_path / "h", sites) as fleet:
        node = fleet.nodes[0]
        staples = {
            "www-ecdsa": _staple(demo_pki, WWW, 1),
            "www-rsa": forge.make_response(
                rsa_leaf.cert,
                ca.cert,
                demo_pki.responder(),
                this_update=WALL_NOW - dt.timedelta(hours=1),
                next_update=WALL_NOW + dt.timedelta(days=7),
            ),
        }
        certs = [
            NodeCertificate(
                name=name,
                stapled=True,
                reason="stapled",
                certificate=str(node.crt(name)),
                issuer=None,
                staple_path=str(node.staple_path(name)),
                snippet_path="",
                staple=staple,
            )
            for name, staple in staples.items()
        ]
        outcome = deploy_haproxy(certs, socket_path=str(node.admin_socket), now=WALL_NOW, allow_reload=False)
        assert outcome.failure is None, outcome.failure
        assert outcome.result["runtime"] == {"www-ecdsa": "transaction", "www-rsa": "transaction"}
        assert _staple_for_key_type(node.host, node.port, "ECDHE-ECDSA-AES128-GCM-SHA256") == (
            "ecdsa",
            staples["www-ecdsa"],
        )
        assert _staple_for_key_type(node.host, node.port, "ECDHE-RSA-AES128-GCM-SHA256") == (
            "rsa",
            staples["www-rsa"],
        )


def test_a_failed_push_with_reload_allowed_writes_the_file_and_asks_for_the_reload(
    haproxy_node: HaproxyNode, demo_pki: DemoPki
) -> None:
    """ocsp_stapling_haproxy_reload: the role's handler then runs haproxy -c and the reload."""
    node = haproxy_node
    old = node.staple_path(WWW).read_bytes()
    new = _staple(demo_pki, WWW, 1)
    wrong = node.root / "no-such.sock"
    outcome = deploy_haproxy([_cert(node, WWW, new)], socket_path=str(wrong), now=WALL_NOW, allow_reload=True)
    assert outcome.failure is None, outcome.failure
    assert outcome.result["reload"]
    assert outcome.result["runtime"][WWW].startswith(f"reload (HAProxy admin socket {wrong}: no such socket (pushing")
    assert node.staple_path(WWW).read_bytes() == new
    assert _served(node) == old, "nothing reached HAProxy yet"
    node.reload()
    assert _served(node) == new


def test_a_socket_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    """A listener that accepts and stays silent (a hung HAProxy): the deadline holds, one line, no payload."""
    import socket as _socket
    import threading
    import time

    path = str(tmp_path / "silent.sock")
    server = _socket.socket(_socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    accepted: list[_socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        with pytest.raises(HaproxyError) as caught:
            set_ocsp_response(path, b"\x30" * 600, certificate="/etc/haproxy/www.pem", timeout=0.5)
        elapsed = time.monotonic() - start
    finally:
        thread.join(timeout=scaled(5))
        for conn in accepted:
            conn.close()
        server.close()
    assert str(caught.value) == (
        f"HAProxy admin socket {path}: no complete answer to 'set ssl ocsp-response' within 0.5 s"
        " (pushing the OCSP response of /etc/haproxy/www.pem)"
    )
    assert elapsed < scaled(5)
