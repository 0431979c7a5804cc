"""Filter plugins: thin wrappers over the core, errors that name the input, usable from Ansible."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from testbed import forge

from ..ansible_run import adhoc
from ..conftest import NOW, REPO, Pki


def _load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ocsp_staple_filters", REPO / "filter_plugins" / "ocsp_staple.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Filters run on the controller; the node venv (Debian python3) has no Ansible to collect them with.
AnsibleFilterError = pytest.importorskip("ansible.errors").AnsibleFilterError
PLUGIN = _load_plugin()
FILTERS: dict[str, Any] = PLUGIN.FilterModule().filters()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_plugin_exports_its_filters() -> None:
    assert set(FILTERS) == {
        "ocsp_urls",
        "ocsp_must_staple",
        "ocsp_staple_verdict",
        "ocsp_stapling_node",
        "ocsp_operator",
    }


def test_operator_filter_keeps_a_given_name_else_names_the_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FILTERS["ocsp_operator"](" alice@ops1 ") == "alice@ops1"
    monkeypatch.setenv("SUDO_USER", "carol")
    assert FILTERS["ocsp_operator"]("").startswith("carol@")


URL = {"ocsp_urls": ["http://127.0.0.1:8880/"], "must_staple": False, "frozen": False, "disabled": None}


def test_node_plan_and_work_lists() -> None:
    certs = [
        {"name": "www", "certificate": "/c/www.pem", "node_certificate": "/n/www.pem", "server_block": "www"},
        {"name": "shop", "certificate": "/c/shop.pem", "port": 8443, "server_name": "shop.example.org"},
        {"name": "old", "certificate": "/c/old.pem", "issuer": "/c/ca.pem"},
    ]
    store = {
        "www": {**URL, "staple": "d3d3"},
        "shop": {**URL, "must_staple": True, "staple": "c2hvcA=="},
        "old": {**URL, "ocsp_urls": [], "staple": None},
    }
    node = FILTERS["ocsp_stapling_node"](certs, store, staple_dir="/s/", snippet_dir="/n/conf.d", verify_port=9443)
    assert {n: d["stapled"] for n, d in node["plan"].items()} == {"www": True, "shop": True, "old": False}
    www, shop, old = node["deploy"]
    assert www == {
        "name": "www",
        "stapled": True,
        "reason": "stapled",
        "content": "d3d3",
        "certificate": "/n/www.pem",
        "issuer": None,
        "staple_path": "/s/www.der",
        "snippet_path": "/n/conf.d/ocsp-www.conf",
    }
    assert shop["content"] == "c2hvcA=="
    assert old["content"] is None
    assert old["reason"] == "the certificate has no OCSP responder URL"
    assert [(c["name"], c["server_name"], c["port"]) for c in node["checks"]] == [
        ("www", "www", 9443),
        ("shop", "shop.example.org", 8443),
    ]
    with pytest.raises(
        AnsibleFilterError, match=r"^refusing to disable OCSP stapling for shop: the certificate is Must-Staple"
    ):
        FILTERS["ocsp_stapling_node"](certs, store, enabled=False)
    off = FILTERS["ocsp_stapling_node"](certs, store, enabled=False, force_disable_must_staple=True)
    assert off["checks"] == []
    assert not any(d["stapled"] for d in off["deploy"])


def test_node_filter_needs_the_certificate_facts() -> None:
    with pytest.raises(AnsibleFilterError, match="ocsp_store_info has no certificate facts for it"):
        FILTERS["ocsp_stapling_node"]([{"name": "www", "certificate": "/c"}], {"www": {"staple": None}})


@pytest.mark.parametrize(
    ("ocsp_url", "must_staple"),
    [("http://127.0.0.1:8880/", False), ("http://ocsp.example.org/", True), (None, False)],
)
def test_urls_and_must_staple_come_from_the_certificate(pki: Pki, ocsp_url: str | None, must_staple: bool) -> None:
    leaf = forge.make_leaf(pki.ca, "www.example.org", now=NOW, ocsp_url=ocsp_url, must_staple=must_staple)
    pem = leaf.pem.decode()
    assert FILTERS["ocsp_urls"](pem) == ([ocsp_url] if ocsp_url else [])
    assert FILTERS["ocsp_must_staple"](pem) is must_staple
    # A chain (leaf first) is judged by its leaf.
    assert FILTERS["ocsp_must_staple"](pem + pki.ca.pem.decode()) is must_staple


@pytest.mark.parametrize("name", ["ocsp_urls", "ocsp_must_staple"])
@pytest.mark.parametrize(("value", "message"), [("not a pem", "no PEM certificate found"), (None, "must be PEM text")])
def test_certificate_filters_name_the_bad_input(name: str, value: object, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=rf"^{name}: .*{message}"):
        FILTERS[name](value)


def test_verdict_of_a_good_staple(pki: Pki) -> None:
    verdict = FILTERS["ocsp_staple_verdict"](
        b64(pki.response(pki.responder)), pki.leaf.pem.decode(), pki.ca.pem.decode(), now="2026-03-01T12:00:00Z"
    )
    assert verdict["valid"] is True
    assert verdict["codes"] == []
    assert verdict["this_update"] == "2026-03-01T11:00:00Z"
    assert verdict["signer"] == "CN=Test CA OCSP Responder"
    json.dumps(verdict)  # plain data, usable in templates and registered results


def test_verdict_lists_problems_and_honours_min_remaining(pki: Pki) -> None:
    staple = b64(pki.response(next_update=NOW + dt.timedelta(hours=2)))
    chain = (pki.leaf.pem + pki.ca.pem).decode()
    lenient = FILTERS["ocsp_staple_verdict"](staple, chain, min_remaining="1h", now=NOW)
    strict = FILTERS["ocsp_staple_verdict"](staple, chain, min_remaining="4h", now=NOW)
    assert lenient["valid"] is True
    assert strict["valid"] is False
    assert strict["codes"] == ["expires_too_soon"]
    tried = FILTERS["ocsp_staple_verdict"](b64(forge.unsuccessful("try_later")), chain, now=NOW)
    assert tried["codes"] == ["try_later"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("!!!", "CERT"), r"^ocsp_staple_verdict: staple: not base64"),
        ((None, "CERT"), r"^ocsp_staple_verdict: staple must be base64 text, got NoneType"),
        (("STAPLE", "garbage"), r"^ocsp_staple_verdict: certificate PEM: no PEM certificate found"),
        (("STAPLE", "LEAF"), r"^ocsp_staple_verdict: certificate PEM: holds only the leaf"),
    ],
)
def test_verdict_errors_name_the_input(pki: Pki, args: tuple[Any, ...], message: str) -> None:
    values = {
        "STAPLE": b64(pki.response()),
        "CERT": pki.leaf.pem.decode(),
        "LEAF": pki.leaf.pem.decode(),
        "CHAIN": (pki.leaf.pem + pki.ca.pem).decode(),
    }
    resolved = [values.get(arg, arg) if isinstance(arg, str) else arg for arg in args]
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS["ocsp_staple_verdict"](*resolved, now=NOW)


def test_verdict_names_a_bad_threshold(pki: Pki) -> None:
    with pytest.raises(AnsibleFilterError, match=r"^ocsp_staple_verdict: min_remaining: expected a duration"):
        FILTERS["ocsp_staple_verdict"](
            b64(pki.response()), (pki.leaf.pem + pki.ca.pem).decode(), min_remaining="soon", now=NOW
        )


def test_verdict_refuses_a_naive_now(pki: Pki) -> None:
    with pytest.raises(AnsibleFilterError, match="now must carry a timezone"):
        FILTERS["ocsp_staple_verdict"](
            b64(pki.response()), (pki.leaf.pem + pki.ca.pem).decode(), now="2026-03-01T12:00"
        )


@pytest.mark.integration
def test_filters_load_in_ansible_with_the_repository_config(pki: Pki, tmp_path: Path) -> None:
    """Ansible finds the plugin through ansible.cfg and the plugin finds the core."""
    (tmp_path / "leaf.pem").write_bytes(pki.leaf.pem)
    pem = f"lookup('file', '{tmp_path / 'leaf.pem'}')"
    expression = f"[{pem} | ocsp.stapling.ocsp_urls, {pem} | ocsp.stapling.ocsp_must_staple]"
    rc, result = adhoc("ansible.builtin.debug", {"msg": f"{{{{ {expression} }}}}"})
    assert rc == 0, result
    assert result["msg"] == [["http://127.0.0.1:8880/"], False]
