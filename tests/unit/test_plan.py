"""Stapling on/off decisions, Must-Staple refusal and the one-file-per-server-block rule."""

from __future__ import annotations

import pytest
from ocsp_staple.errors import InputError
from ocsp_staple.plan import decide, node_items, plan

pytestmark = pytest.mark.node

URL = {"ocsp_urls": ["http://127.0.0.1:8880/"], "must_staple": False}
MUST = {"ocsp_urls": ["http://127.0.0.1:8880/"], "must_staple": True}
NO_URL = {"ocsp_urls": [], "must_staple": False}


@pytest.mark.parametrize(
    ("kwargs", "stapled", "reason"),
    [
        ({"enabled": True, "frozen": False, "has_responder": True, "must_staple": False}, True, "stapled"),
        (
            {"enabled": True, "frozen": False, "has_responder": False, "must_staple": False},
            False,
            "the certificate has no OCSP responder URL",
        ),
        (
            {"enabled": True, "frozen": True, "has_responder": False, "must_staple": False},
            True,
            "frozen: the pinned staple is served",
        ),
        (
            {"enabled": False, "frozen": True, "has_responder": True, "must_staple": False},
            False,
            "disabled by ocsp_stapling_enabled",
        ),
        (
            {
                "enabled": False,
                "frozen": False,
                "has_responder": True,
                "must_staple": True,
                "force_disable_must_staple": True,
            },
            False,
            "disabled by ocsp_stapling_enabled",
        ),
    ],
)
def test_decide(kwargs: dict[str, bool], stapled: bool, reason: str) -> None:
    decision = decide("www", **kwargs)
    assert decision.stapled is stapled
    assert decision.reason == reason


def test_disabling_a_must_staple_certificate_is_refused_with_the_reason() -> None:
    with pytest.raises(InputError) as info:
        decide("shop.example.org", enabled=False, frozen=False, has_responder=True, must_staple=True)
    assert str(info.value).startswith(
        "refusing to disable OCSP stapling for shop.example.org: the certificate is Must-Staple"
    )
    assert "hard-fail clients will reject the site" in str(info.value)
    assert "ocsp_stapling_force_disable_must_staple=true" in str(info.value)


def test_plan_global_and_per_certificate_switches() -> None:
    certs = [{"name": "a", "server_block": "a"}, {"name": "b", "enabled": False}, {"name": "c"}]
    facts = {"a": URL, "b": URL, "c": NO_URL}
    result = plan(certs, facts, {})
    assert {n: d["stapled"] for n, d in result.items()} == {"a": True, "b": False, "c": False}
    off = plan(certs, facts, {}, enabled=False)
    assert not any(d["stapled"] for d in off.values())


def test_plan_refuses_two_stapled_certificates_in_one_server_block() -> None:
    certs = [{"name": "www-rsa", "server_block": "www"}, {"name": "www-ecdsa", "server_block": "www"}]
    with pytest.raises(
        InputError,
        match=r"^nginx server block 'www' holds certificates www-rsa and www-ecdsa and staples www-rsa and www-ecdsa: ",
    ):
        plan(certs, {"www-rsa": URL, "www-ecdsa": URL}, {})


def test_plan_refuses_a_block_where_one_certificate_is_stapled_and_the_other_would_get_its_staple() -> None:
    certs = [{"name": "www-rsa", "server_block": "www"}, {"name": "www-ecdsa", "server_block": "www", "enabled": False}]
    with pytest.raises(InputError, match=r"and staples www-rsa: .* served a staple for the wrong certificate"):
        plan(certs, {"www-rsa": URL, "www-ecdsa": URL}, {})


def test_plan_allows_a_shared_block_when_nothing_in_it_is_stapled() -> None:
    certs = [{"name": "a", "server_block": "www"}, {"name": "b", "server_block": "www"}]
    result = plan(certs, {"a": URL, "b": URL}, {}, enabled=False)
    assert [d["stapled"] for d in result.values()] == [False, False]


def test_plan_refuses_duplicate_names() -> None:
    with pytest.raises(InputError, match="certificate name 'a' is listed twice"):
        plan([{"name": "a"}, {"name": "a"}], {"a": URL}, {})


def test_must_staple_refusal_through_plan() -> None:
    with pytest.raises(InputError, match="refusing to disable OCSP stapling for m"):
        plan([{"name": "m"}], {"m": MUST}, {}, enabled=False)
    assert (
        plan([{"name": "m"}], {"m": MUST}, {}, enabled=False, force_disable_must_staple=True)["m"]["stapled"] is False
    )


def test_haproxy_staples_per_certificate_so_a_shared_block_is_no_trap() -> None:
    """docs/DUAL_CERTIFICATES.md: nginx's one-file-per-server-block rule does not apply to HAProxy."""
    certs = [{"name": "www-rsa", "server_block": "www"}, {"name": "www-ecdsa", "server_block": "www"}]
    facts = {"www-rsa": URL, "www-ecdsa": URL}
    with pytest.raises(InputError, match="nginx server block 'www'"):
        plan(certs, facts, {})
    decisions = plan(certs, facts, {}, server="haproxy")
    assert [decisions[n]["stapled"] for n in ("www-rsa", "www-ecdsa")] == [True, True]
    with pytest.raises(InputError, match=r"ocsp_stapling_server must be one of nginx, haproxy, got 'apache'"):
        plan(certs, facts, {}, server="apache")


def test_haproxy_node_items_put_the_staple_beside_the_crt_and_write_no_snippet() -> None:
    certs = [
        {
            "name": "www",
            "certificate": "/central/www.pem",
            "node_certificate": "/etc/ssl/www.pem",
            "haproxy_crt": "/etc/haproxy/certs/www.pem",
            "port": 8443,
        },
        {"name": "api", "certificate": "/central/api.pem", "node_certificate": "/etc/haproxy/certs/api.pem"},
    ]
    facts = {"www": URL, "api": URL}
    store = {"www": {"staple": "AAAA"}, "api": {"staple": "BBBB"}}
    decisions = plan(certs, facts, store, server="haproxy")
    items = node_items(
        certs,
        store,
        decisions,
        staple_dir="/etc/nginx/ocsp",
        snippet_dir="/etc/nginx/snippets",
        verify_port=443,
        server="haproxy",
    )
    www, api = items["deploy"]
    assert (www["certificate"], www["staple_path"]) == ("/etc/haproxy/certs/www.pem", "/etc/haproxy/certs/www.pem.ocsp")
    assert (api["certificate"], api["staple_path"]) == ("/etc/haproxy/certs/api.pem", "/etc/haproxy/certs/api.pem.ocsp")
    assert "snippet_path" not in www
    assert [(c["port"], c["expect_file"]) for c in items["checks"]] == [
        (8443, "/etc/haproxy/certs/www.pem.ocsp"),
        (443, "/etc/haproxy/certs/api.pem.ocsp"),
    ]
    nginx = node_items(
        certs, store, decisions, staple_dir="/etc/nginx/ocsp", snippet_dir="/etc/nginx/snippets", verify_port=443
    )
    assert nginx["deploy"][0]["staple_path"] == "/etc/nginx/ocsp/www.der"
    assert nginx["deploy"][0]["snippet_path"] == "/etc/nginx/snippets/ocsp-www.conf"
    with pytest.raises(InputError, match=r"certificate www: haproxy_crt must be an absolute path, got 'www.pem'"):
        node_items(
            [{**certs[0], "haproxy_crt": "www.pem"}],
            store,
            decisions,
            staple_dir="/x",
            snippet_dir="/y",
            verify_port=443,
            server="haproxy",
        )
