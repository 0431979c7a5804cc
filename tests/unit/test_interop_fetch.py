"""Fetching from responders as they are: compressed bodies (and lies about them), several AIA OCSP URLs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from ocsp_staple.aia import ocsp_request
from ocsp_staple.central.fetch import ACCEPT_ENCODING, Fetcher, FetchOptions
from ocsp_staple.central.freeze import freeze
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.policy import validate
from ocsp_staple.spec import CertificateSpec, pick_url, pick_urls

from testbed.ocsp_responder import BOMB_SIZE, ENCODINGS, TestResponder

from ..conftest import NOW, Pki, responder_stats

# -- compressed bodies ------------------------------------------------------------------------


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchOptions(timeout=2.0)) as the_fetcher:
        yield the_fetcher


@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate", "raw_deflate"])
def test_a_body_compressed_as_declared_is_decoded(
    encoding: str, responder: TestResponder, pki: Pki, fetcher: Fetcher
) -> None:
    responder.configure(encoding=encoding)
    result = fetcher.fetch(responder.url, ocsp_request(pki.pair))
    assert result.ok, result.message
    assert result.body is not None
    assert validate(result.body, pki.pair, now=pki.now).valid
    # What the fetcher advertises is exactly what it decodes.
    assert responder_stats(responder.url)["accept_encoding"] == {ACCEPT_ENCODING: 1}
    if encoding != "identity":
        assert "on the wire" in result.message


@pytest.mark.parametrize(
    ("encoding", "says"),
    [
        ("false_gzip", "Content-Encoding gzip but the body does not decode"),
        ("br", "Content-Encoding 'br' was not asked for (accepted: gzip, deflate)"),
    ],
)
def test_a_body_that_lies_about_its_encoding_is_a_named_fetch_failure(
    encoding: str, says: str, responder: TestResponder, pki: Pki, fetcher: Fetcher
) -> None:
    responder.configure(encoding=encoding)
    result = fetcher.fetch(responder.url, ocsp_request(pki.pair))
    assert (result.reason, result.body) == ("content_encoding", None)
    assert says in result.message
    assert result.message.startswith(responder.url)
    assert "\n" not in result.message


def test_a_compressed_body_without_content_encoding_is_judged_malformed(
    responder: TestResponder, pki: Pki, fetcher: Fetcher
) -> None:
    """Nothing is guessed: undeclared gzip reaches the policy as the bytes it is, and fails there."""
    responder.configure(encoding="unlabelled_gzip")
    result = fetcher.fetch(responder.url, ocsp_request(pki.pair))
    assert result.ok, result.message
    assert result.body is not None
    assert validate(result.body, pki.pair, now=pki.now).codes[0] == "malformed"


def test_a_gzip_bomb_stops_at_the_cap_on_the_decoded_body(responder: TestResponder, pki: Pki) -> None:
    """48 MiB of zeros in about 48 KiB of gzip: under the wire cap, far over the decoded one; memory stays small."""
    responder.configure(encoding="gzip_bomb")
    request = ocsp_request(pki.pair)
    with Fetcher(FetchOptions(timeout=5.0)) as fetcher:
        fetcher.fetch(responder.url, request)  # warm up: sessions, imports, the responder's cached bomb
        tracemalloc.start()
        try:
            result = fetcher.fetch(responder.url, request)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.reason == "oversized", result.message
    assert "gzip body decodes to more than the cap of 65536 bytes" in result.message
    assert peak < 4 * 1024 * 1024 < BOMB_SIZE, f"peak {peak} bytes while decoding the bomb"


def test_the_responder_knows_every_encoding_it_is_asked_for() -> None:
    assert set(ENCODINGS) >= {"identity", "gzip", "deflate", "false_gzip", "gzip_bomb"}


# -- several AIA OCSP URLs --------------------------------------------------------------------


def leaf_with_urls(pki: Pki, urls: list[str], directory: Path, *, serial: int = 0x5EED) -> str:
    """A leaf of ``pki``'s CA whose AIA lists ``urls`` as OCSP responders, in that order; its PEM path."""
    key = ec.generate_private_key(ec.SECP256R1())
    aia = x509.AuthorityInformationAccess(
        [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)) for u in urls]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "multi.example.org")]))
        .issuer_name(pki.ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(aia, critical=False)
        .sign(pki.ca.key, hashes.SHA256())
    )
    path = directory / f"multi-{serial:x}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


@pytest.fixture
def closed_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def second(pki: Pki) -> Iterator[TestResponder]:
    """Another responder of the same CA (a second AIA URL)."""
    server = TestResponder(pki.ca, clock=lambda: pki.now, hang=5.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def options(**kw: Any) -> RefreshOptions:
    return RefreshOptions(**{"backoff": 0.01, "timeout": 1.0, "deadline": 30.0, **kw})


@pytest.mark.node
def test_the_urls_to_ask_are_the_override_alone_or_every_aia_url_in_order() -> None:
    assert pick_urls(None, ["http://a/", "http://b/", "http://a/"]) == ["http://a/", "http://b/"]
    assert pick_urls("http://o/", ["http://a/", "http://b/"]) == ["http://o/"]
    assert pick_urls(None, []) == []
    assert pick_url(None, ["http://a/", "http://b/"]) == "http://a/"


def test_each_aia_url_is_asked_in_order_until_one_answers_and_the_store_says_which(
    pki: Pki,
    pki_files: dict[str, str],
    responder: TestResponder,
    second: TestResponder,
    closed_url: str,
    tmp_path: Path,
) -> None:
    responder.configure(fault="http_500")
    urls = [closed_url, responder.url, second.url]
    spec = CertificateSpec("multi", leaf_with_urls(pki, urls, tmp_path), pki_files["ca"])
    store = tmp_path / "store"
    metrics = tmp_path / "ocsp.prom"
    result = run([spec], str(store), options(attempts=1, metrics_path=str(metrics)), clock=lambda: NOW)
    (cert,) = result.certificates
    assert (cert.action, cert.failed) == ("updated", False), cert.message
    assert [(a.url, a.reason) for a in cert.attempts] == [
        (closed_url, "connection_error"),
        (responder.url, "http_500"),
        (second.url, "ok"),
    ]
    assert [a.number for a in cert.attempts] == [1, 2, 3]
    assert (cert.url, cert.urls, cert.answered_by) == (closed_url, urls, second.url)
    state = json.loads((store / "multi" / "state.json").read_text())
    assert state["answered_by"] == second.url
    assert state["last_run"]["answered_by"] == second.url
    assert f'ocsp_staple_answered_by{{name="multi",url="{second.url}"}} 1.0' in metrics.read_text()
    # Both failed requests are quarantined, each under its own entry.
    assert sorted(r["reason"] for r in _quarantine(store, "multi")) == [
        "connection_error",
        "http_500",
    ]


def _quarantine(store: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((store / name / "quarantine").glob("*.json"))]


def test_a_url_that_hangs_costs_one_timeout_and_the_next_one_answers(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, second: TestResponder, tmp_path: Path
) -> None:
    responder.configure(fault="timeout")
    spec = CertificateSpec("multi", leaf_with_urls(pki, [responder.url, second.url], tmp_path), pki_files["ca"])
    (cert,) = run([spec], str(tmp_path / "store"), options(timeout=0.5), clock=lambda: NOW).certificates
    assert cert.action == "updated", cert.message
    assert [a.reason for a in cert.attempts] == ["timeout", "ok"]


def test_the_responder_url_override_stays_the_only_url(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, second: TestResponder, tmp_path: Path
) -> None:
    responder.configure(fault="http_503")
    leaf = leaf_with_urls(pki, [second.url], tmp_path)
    spec = CertificateSpec("multi", leaf, pki_files["ca"], responder_url=responder.url)
    (cert,) = run([spec], str(tmp_path / "store"), options(attempts=2), clock=lambda: NOW).certificates
    assert cert.failed
    assert {a.url for a in cert.attempts} == {responder.url}
    assert cert.urls == [responder.url]
    assert responder_stats(second.url)["requests"] == 0


def test_the_freeze_asks_each_aia_url_too(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, second: TestResponder, tmp_path: Path
) -> None:
    responder.configure(fault="try_later")
    spec = CertificateSpec("multi", leaf_with_urls(pki, [responder.url, second.url], tmp_path), pki_files["ca"])
    frozen = freeze(
        [spec],
        str(tmp_path / "store"),
        dataclasses.replace(options(), attempts=1),
        reason="CA responder 1 says tryLater",
        who="test",
        clock=lambda: NOW,
    )
    (cert,) = frozen.certificates
    assert cert.action == "pinned", cert.message
    assert [(a.url, a.reason) for a in cert.attempts] == [(responder.url, "try_later"), (second.url, "ok")]
