"""The live TLS client against a real nginx from the testbed, and against broken servers."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from typing import Any

import pytest
from ocsp_staple.aia import is_must_staple
from ocsp_staple.cli.common import parse_endpoint
from ocsp_staple.errors import FetchError
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate

from testbed import forge
from testbed.fleet import Fleet, free_port_block
from testbed.pki import DemoPki

from ..conftest import WALL_NOW

pytestmark = [pytest.mark.node]


def staple_for(demo_pki: DemoPki, name: str) -> bytes:
    return forge.make_response(
        demo_pki.leaf(name).cert,
        demo_pki.ca().cert,
        demo_pki.responder(),
        this_update=WALL_NOW - dt.timedelta(hours=1),
        next_update=WALL_NOW + dt.timedelta(days=7),
    )


@pytest.mark.integration
def test_client_returns_exactly_the_served_staple_file(demo_fleet: Fleet, demo_pki: DemoPki) -> None:
    nginx = demo_fleet.nodes[0]
    staple = staple_for(demo_pki, "www.demo.test")
    nginx.set_stapling("www.demo.test", staple)
    nginx.reload()
    served = fetch_served_staple(nginx.host, nginx.port, servername="www.demo.test", timeout=5)
    assert served.staple == staple
    assert served.leaf == demo_pki.leaf("www.demo.test").cert
    assert served.chain == [demo_pki.ca().cert]
    assert validate(served.staple, served.pair(), now=WALL_NOW).valid


@pytest.mark.integration
def test_sni_selects_the_certificate_and_its_own_staple(demo_fleet: Fleet, demo_pki: DemoPki) -> None:
    nginx = demo_fleet.nodes[0]
    must = staple_for(demo_pki, "must-staple.demo.test")
    nginx.set_stapling("must-staple.demo.test", must)
    nginx.reload()
    served = fetch_served_staple(nginx.host, nginx.port, servername="must-staple.demo.test", timeout=5)
    assert served.leaf == demo_pki.leaf("must-staple.demo.test").cert
    assert served.staple == must
    assert is_must_staple(served.pair().leaf)


@pytest.mark.integration
def test_stapling_off_serves_no_staple(demo_fleet: Fleet, demo_pki: DemoPki) -> None:
    nginx = demo_fleet.nodes[0]
    nginx.set_stapling("no-ocsp.demo.test", None)
    nginx.reload()
    served = fetch_served_staple(nginx.host, nginx.port, servername="no-ocsp.demo.test", timeout=5)
    assert served.leaf == demo_pki.leaf("no-ocsp.demo.test").cert
    assert served.staple is None


def test_connection_refused_names_the_endpoint() -> None:
    port = free_port_block(1)
    with pytest.raises(FetchError, match=rf"^127\.0\.0\.1:{port}: connection refused$"):
        fetch_served_staple("127.0.0.1", port, timeout=2)


def test_silent_server_times_out_within_the_bound() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the TCP handshake; nobody ever answers
        port = listener.getsockname()[1]
        started = dt.datetime.now(dt.UTC)
        with pytest.raises(FetchError, match=rf"^127\.0\.0\.1:{port}: TLS handshake timed out after 0\.5 s$"):
            fetch_served_staple("127.0.0.1", port, timeout=0.5)
        assert (dt.datetime.now(dt.UTC) - started).total_seconds() < 3


def _answer_http(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nnot TLS\r\n")


def _hang_up(conn: socket.socket) -> None:
    conn.recv(10)  # the rest of the ClientHello stays unread: closing sends a reset


@pytest.mark.parametrize(
    ("behaviour", "detail"),
    [
        (_answer_http, r"TLS handshake failed: .+"),
        (_hang_up, r"TLS handshake failed: (Connection reset by peer \(ECONNRESET\)|connection closed by the server)"),
    ],
    ids=["http-server", "hang-up"],
)
def test_broken_server_is_a_one_line_handshake_failure(behaviour: Any, detail: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def serve_once() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(2)
                behaviour(conn)

        thread = threading.Thread(target=serve_once, daemon=True)
        thread.start()
        try:
            with pytest.raises(FetchError, match=rf"^127\.0\.0\.1:{port}: {detail}$") as raised:
                fetch_served_staple("127.0.0.1", port, timeout=3)
        finally:
            thread.join(timeout=5)
        assert "\n" not in str(raised.value)
        assert not thread.is_alive()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:8443", ("127.0.0.1", 8443)), ("[::1]:8444", ("::1", 8444)), ("www.demo.test", ("www.demo.test", 443))],
)
def test_parse_endpoint(text: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:0", "host:http", ":8443"])
def test_parse_endpoint_rejects(text: str) -> None:
    with pytest.raises(FetchError, match="endpoint"):
        parse_endpoint(text)
