"""Stapling on/off decisions, Must-Staple refusal and the one-file-per-server-block rule."""

from __future__ import annotations

import pytest
from ocsp_staple.errors import InputError
from ocsp_staple.plan import decide, plan

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
