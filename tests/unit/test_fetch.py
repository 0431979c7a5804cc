"""Fetching: every failure is an outcome with a reason code, limits hold, only http(s)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from ocsp_staple.aia import ocsp_request
from ocsp_staple.central.fetch import Fetcher, FetchOptions, get_url
from ocsp_staple.errors import InputError
from ocsp_staple.policy import validate
from ocsp_staple.spec import check_url

from testbed.ocsp_responder import TestResponder

from ..conftest import Pki, responder_stats


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchOptions(timeout=1.0)) as the_fetcher:
        yield the_fetcher


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/ocsp", "file:///etc/passwd", "ldap://127.0.0.1/", "127.0.0.1:80/ocsp", "http:///x"]
)
def test_only_http_and_https_urls_are_accepted(url: str) -> None:
    with pytest.raises(InputError) as caught:
        check_url(url)
    message = str(caught.value)
    assert url in message
    assert "\n" not in message


def test_a_proxy_with_another_scheme_is_rejected_by_name() -> None:
    with pytest.raises(InputError, match=r"proxy 'socks5://127\.0\.0\.1:1080'"):
        FetchOptions(proxy="socks5://127.0.0.1:1080")


def test_a_good_answer_is_fetched_by_post(responder: TestResponder, pki: Pki, fetcher: Fetcher) -> None:
    result = fetcher.fetch(responder.url, ocsp_request(pki.pair))
    assert result.ok, result.message
    assert result.http_status == 200
    assert result.body is not None
    assert validate(result.body, pki.pair, now=pki.now).valid
    assert responder_stats(responder.url)["requests"] == 1


def test_rfc5019_get_is_an_option(responder: TestResponder, pki: Pki) -> None:
    request = ocsp_request(pki.pair)
    assert get_url("http://h/ocsp", request).startswith("http://h/ocsp/")
    assert get_url("http://h/", request).count("//") == 1
    with Fetcher(FetchOptions(method="GET", timeout=2)) as fetcher:
        result = fetcher.fetch(responder.url, request)
    assert result.ok, result.message
    assert result.body is not None
    assert validate(result.body, pki.pair, now=pki.now).valid


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("http_500", "http_500"),
        ("http_503", "http_503"),
        ("html", "content_type"),
        ("oversized", "oversized"),
        ("timeout", "timeout"),
        ("slow_body", "timeout"),
    ],
)
def test_fetch_failures_are_outcomes_with_a_reason(
    responder: TestResponder, pki: Pki, fetcher: Fetcher, fault: str, reason: str
) -> None:
    responder.configure(fault=fault)
    started = time.monotonic()
    result = fetcher.fetch(responder.url, ocsp_request(pki.pair))
    elapsed = time.monotonic() - started
    assert result.reason == reason, result.message
    assert not result.ok
    assert result.body is None
    assert responder.url in result.message
    assert elapsed < 1.6  # timeout is 1 s


def test_a_slow_loris_body_cannot_pass_the_deadline(responder: TestResponder, pki: Pki) -> None:
    responder.configure(fault="slow_body")
    with Fetcher(FetchOptions(timeout=30)) as fetcher:
        started = time.monotonic()
        result = fetcher.fetch(responder.url, ocsp_request(pki.pair), deadline=started + 0.8)
        elapsed = time.monotonic() - started
    assert result.reason == "timeout"
    assert "bytes read" in result.message
    assert 0.7 < elapsed < 1.2


def test_no_attempt_starts_when_the_deadline_has_passed(responder: TestResponder, pki: Pki, fetcher: Fetcher) -> None:
    result = fetcher.fetch(responder.url, ocsp_request(pki.pair), deadline=time.monotonic() - 1)
    assert result.reason == "deadline"
    assert responder_stats(responder.url)["requests"] == 0


def test_a_declared_body_over_the_cap_is_not_read(responder: TestResponder, pki: Pki) -> None:
    with Fetcher(FetchOptions(max_size=100)) as fetcher:
        result = fetcher.fetch(responder.url, ocsp_request(pki.pair))
    assert result.reason == "oversized"
    assert "cap of 100 bytes" in result.message


def test_a_refused_connection_is_a_connection_error(pki: Pki, fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = fetcher.fetch(f"http://127.0.0.1:{port}/", ocsp_request(pki.pair))
    assert result.reason == "connection_error"
    assert f"127.0.0.1:{port}" in result.message


def test_redirects_are_not_followed_unless_enabled(redirector: str, responder: TestResponder, pki: Pki) -> None:
    with Fetcher(FetchOptions(timeout=2)) as fetcher:
        refused = fetcher.fetch(redirector, ocsp_request(pki.pair))
    assert refused.reason == "http_307"
    assert "not followed" in refused.message
    assert responder_stats(responder.url)["requests"] == 0
    with Fetcher(FetchOptions(timeout=2, follow_redirects=True)) as fetcher:
        followed = fetcher.fetch(redirector, ocsp_request(pki.pair))
    assert followed.ok, followed.message


def test_one_session_per_responder_url(fetcher: Fetcher) -> None:
    first = fetcher.session("http://127.0.0.1:1/a")
    assert fetcher.session("http://127.0.0.1:1/a") is first
    assert fetcher.session("http://127.0.0.1:1/b") is not first


def test_the_proxy_option_sends_requests_through_the_proxy(responder: TestResponder, pki: Pki) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    with Fetcher(FetchOptions(timeout=2, proxy=responder.url, trust_env=False)) as fetcher:
        result = fetcher.fetch(closed, ocsp_request(pki.pair))
    assert result.ok, result.message  # the responder, acting as the proxy, answered
    assert responder_stats(responder.url)["requests"] == 1


def test_environment_proxies_apply(responder: TestResponder, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    monkeypatch.setenv("http_proxy", responder.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with Fetcher(FetchOptions(timeout=2)) as fetcher:
        assert fetcher.fetch(closed, ocsp_request(pki.pair)).ok
    with Fetcher(FetchOptions(timeout=2, trust_env=False)) as fetcher:
        assert fetcher.fetch(closed, ocsp_request(pki.pair)).reason == "connection_error"
