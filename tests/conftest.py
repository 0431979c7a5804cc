"""Shared fixtures: the core on sys.path, a fixed clock and a test PKI built per session."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))

from ocsp_staple.certs import CertPair, pair_from_certificates  # noqa: E402

from testbed import forge  # noqa: E402
from testbed.fleet import NGINX, Fleet, running_fleet, sites_from_pki  # noqa: E402
from testbed.httpd import serving  # noqa: E402
from testbed.ocsp_responder import TestResponder  # noqa: E402
from testbed.pki import DemoPki, write_demo_pki  # noqa: E402
from testbed.wait import scale, scaled  # noqa: E402

#: A fixed "now" so no test depends on the wall clock.
NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
#: The wall clock at session start: for material that nginx and Ansible modules judge on their own clock.
WALL_NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Pki:
    ca: forge.Issued
    leaf: forge.Issued
    responder: forge.Issued
    other_ca: forge.Issued
    now: dt.datetime

    @property
    def pair(self) -> CertPair:
        return CertPair(leaf=self.leaf.cert, issuer=self.ca.cert, source="test leaf")

    def response(
        self,
        signer: forge.Issued | None = None,
        *,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | str | None = "default",
        leaf: forge.Issued | None = None,
        issuer: forge.Issued | None = None,
        **kw: object,
    ) -> bytes:
        this = this_update or self.now - dt.timedelta(hours=1)
        nxt = this + dt.timedelta(days=7) if next_update == "default" else next_update
        return forge.make_response(
            (leaf or self.leaf).cert,
            (issuer or self.ca).cert,
            signer or self.ca,
            this_update=this,
            next_update=nxt,
            **kw,  # type: ignore[arg-type]
        )

    def write_files(self, directory: Path) -> dict[str, str]:
        paths = {
            "ca": directory / "ca.pem",
            "leaf": directory / "leaf.pem",
            "chain": directory / "chain.pem",
            "other_ca": directory / "other-ca.pem",
        }
        paths["ca"].write_bytes(self.ca.pem)
        paths["leaf"].write_bytes(self.leaf.pem)
        paths["chain"].write_bytes(self.leaf.pem + self.ca.pem)
        paths["other_ca"].write_bytes(self.other_ca.pem)
        return {k: str(v) for k, v in paths.items()}


def build_pki(key_type: str = "ec", now: dt.datetime = NOW) -> Pki:
    ca = forge.make_ca("Test CA", now=now, key_type=key_type)
    return Pki(
        ca=ca,
        leaf=forge.make_leaf(ca, "www.example.org", now=now, key_type=key_type, serial=0x1234ABCD),
        responder=forge.make_responder(ca, "Test CA OCSP Responder", now=now, key_type=key_type),
        other_ca=forge.make_ca("Other CA", now=now, key_type=key_type),
        now=now,
    )


@pytest.fixture(scope="session")
def pki() -> Pki:
    return build_pki("ec")


@pytest.fixture(scope="session")
def rsa_pki() -> Pki:
    return build_pki("rsa")


@pytest.fixture
def pki_files(pki: Pki, tmp_path: Path) -> dict[str, str]:
    return pki.write_files(tmp_path)


@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    """The testbed's demo PKI (www / must-staple / no-ocsp leaves), issued a day before WALL_NOW."""
    return write_demo_pki(tmp_path_factory.mktemp("pki"), now=WALL_NOW - dt.timedelta(days=1))


@pytest.fixture(scope="module")
def demo_fleet(demo_pki: DemoPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One real nginx node on 127.0.0.1 serving every demo leaf by SNI; stopped when the module ends."""
    if not os.path.exists(NGINX):
        pytest.skip(f"nginx not installed at {NGINX}")
    with running_fleet(tmp_path_factory.mktemp("fleet"), sites=sites_from_pki(demo_pki.directory)) as fleet:
        yield fleet
    assert not fleet.nodes[0].running()


def pair_of(leaf: forge.Issued, ca: forge.Issued) -> CertPair:
    return pair_from_certificates([leaf.cert], [ca.cert], source="leaf", issuer_source="ca")


os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))

#: Integration tests get this many times pytest-timeout's per-test bound (``timeout`` in
#: pyproject.toml): ansible runs are slow on a loaded machine (418 s of 600 seen on 2 busy cores).
INTEGRATION_TIMEOUT_FACTOR = 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's per-test bound scaled like every other wait (OCSP_TEST_TIMEOUT_SCALE), doubled for
    integration tests; a test's own ``timeout`` marker, or no bound at all, is left alone."""
    base = getattr(config, "_env_timeout", None)  # pytest-timeout's setting: --timeout, PYTEST_TIMEOUT or the ini
    if not base or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        factor = (INTEGRATION_TIMEOUT_FACTOR if item.get_closest_marker("integration") else 1) * scale()
        if factor != 1 and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(base * factor))


# --- the fault-injecting test responder (issue 3) -----------------------------------------


@pytest.fixture
def responder(pki: Pki) -> Iterator[TestResponder]:
    """A TestResponder for ``pki``'s CA on 127.0.0.1:0 whose clock is the fixed NOW; stopped afterwards."""
    server = TestResponder(pki.ca, clock=lambda: pki.now, hang=5.0, slow_interval=0.2)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def responder_stats(url: str) -> dict[str, Any]:
    """GET /_stats of a running responder (what it has served)."""
    import json
    import urllib.request

    with urllib.request.urlopen(url.rstrip("/") + "/_stats", timeout=scaled(10)) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


@pytest.fixture
def redirector(responder: TestResponder) -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request with 307 to the responder."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", responder.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Redirect) as url:
        yield url
