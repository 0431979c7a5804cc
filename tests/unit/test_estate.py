"""Estates (issue 11): the central host's union of every node's list, held certificates on a node,
misspelt role variables, and the node's cryptography requirement."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
from ocsp_staple import requires
from ocsp_staple.errors import InputError
from ocsp_staple.estate import union_certificates, unknown_variables
from ocsp_staple.node import nginxconf
from ocsp_staple.node.deploy import NodeCertificate, apply_node, deploy, plan_node
from ocsp_staple.plan import node_items

from testbed import forge

from ..conftest import NOW, Pki

pytestmark = pytest.mark.node

A = {"name": "a", "certificate": "/c/a.pem", "node_certificate": "/n/a.pem", "server_block": "a"}
B = {"name": "b", "certificate": "/c/b.pem"}
C = {"name": "c", "certificate": "/c/c.pem", "responder_url": "http://ocsp.example/"}


# --- the union the central host works for ---------------------------------------------------------


def test_union_keeps_each_name_once_with_only_the_central_keys() -> None:
    dc2_a = {**A, "node_certificate": "/other/node/path.pem", "server_block": "x"}  # per-node keys may differ
    union = union_certificates({"node1": [A, B], "node2": [A, B], "node3": [dc2_a, C], "node4": []})
    assert union == [
        {"name": "a", "certificate": "/c/a.pem"},
        {"name": "b", "certificate": "/c/b.pem"},
        {"name": "c", "certificate": "/c/c.pem", "responder_url": "http://ocsp.example/"},
    ]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (
            {**A, "certificate": "/c/other.pem"},
            "certificate name 'a' means two certificates: certificate '/c/a.pem' on node1 but '/c/other.pem' on node3",
        ),
        (
            {**A, "issuer": "/c/ca2.pem"},
            "certificate name 'a' means two certificates: issuer None on node1 but '/c/ca2.pem' on node3",
        ),
        (
            {**A, "responder_url": "http://elsewhere/"},
            "responder_url None on node1 but 'http://elsewhere/' on node3",
        ),
    ],
)
def test_one_name_for_two_certificates_is_one_error_naming_both_hosts(other: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        union_certificates({"node1": [A], "node2": [A], "node3": [other], "node4": [other]})
    assert message in str(caught.value)
    assert str(caught.value).count("means two certificates") == 1, "one line per conflicting name, not per host"


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        ({"node1": "a"}, "node1: ocsp_stapling_certificates must be a list, got str"),
        ({"node1": ["a"]}, "node1: ocsp_stapling_certificates entry must be a dict, got 'a'"),
        ({"node1": [{"name": "../x", "certificate": "/c"}]}, "certificate name '../x'"),
    ],
)
def test_union_names_bad_input(lists: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        union_certificates(lists)


# --- misspelt variables ---------------------------------------------------------------------------

KNOWN = ["ocsp_stapling_certificates", "ocsp_stapling_store_dir", "ocsp_stapling_verify_port"]


def test_unknown_variables_name_the_closest_known_one() -> None:
    names = ["ocsp_stapling_certficates", "ocsp_stapling_store_dir", "ocsp_stapling_zzz", "other_var"]
    assert unknown_variables(names, KNOWN) == [
        "unknown variable ocsp_stapling_certficates: the ocsp_stapling role has no such variable; "
        "did you mean ocsp_stapling_certificates?",
        "unknown variable ocsp_stapling_zzz: the ocsp_stapling role has no such variable; "
        "no role variable is close to it",
    ]
    assert unknown_variables(KNOWN, KNOWN) == []


def test_the_role_knows_every_variable_of_its_defaults() -> None:
    import yaml

    role = Path(__file__).resolve().parents[2] / "roles" / "ocsp_stapling"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    known = {name for entry in specs.values() for name in entry["options"]}
    assert unknown_variables(list(defaults), known) == []


# --- held certificates on a node ------------------------------------------------------------------


def node_certs(files: dict[str, str], root: Path, *, www: bytes | None, api: bytes | None) -> list[NodeCertificate]:
    def one(name: str, staple: bytes | None, hold: bool) -> NodeCertificate:
        return NodeCertificate(
            name,
            True,
            "stapled",
            files["chain"],
            None,
            str(root / f"ocsp/{name}.der"),
            str(root / f"conf.d/ocsp-{name}.conf"),
            staple,
            hold,
        )

    return [one("www", www, False), one("api", api, True)]


def test_a_held_certificate_without_a_staple_keeps_its_files_and_the_others_deploy(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path
) -> None:
    good = pki.response()
    outcome = deploy(node_certs(pki_files, tmp_path, www=good, api=None), now=NOW)
    assert outcome.failure is None
    assert (tmp_path / "ocsp/www.der").read_bytes() == good
    assert not (tmp_path / "ocsp/api.der").exists()
    placeholder = (tmp_path / "conf.d/ocsp-api.conf").read_text()
    assert placeholder.endswith("ssl_stapling off;\n"), "a missing snippet becomes the off placeholder"
    held = outcome.result["certificates"]["api"]["held"]
    assert "held (no valid staple from the central host in this run) and the central store has no staple for it" in held
    assert "held" not in outcome.result["certificates"]["www"]


def test_a_held_certificate_rejected_on_the_node_keeps_its_old_staple_and_snippet(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path
) -> None:
    old = pki.response()
    apply_node(plan_node(node_certs(pki_files, tmp_path, www=old, api=old), now=NOW))
    api_snippet = (tmp_path / "conf.d/ocsp-api.conf").read_text()
    newer = pki.response(this_update=NOW)
    plan = plan_node(node_certs(pki_files, tmp_path, www=newer, api=forge.unsuccessful("try_later")), now=NOW)
    assert plan.rejections == [], "a held rejection does not make the node all-or-nothing"
    apply_node(plan)
    assert (tmp_path / "ocsp/www.der").read_bytes() == newer
    assert (tmp_path / "ocsp/api.der").read_bytes() == old
    assert (tmp_path / "conf.d/ocsp-api.conf").read_text() == api_snippet
    assert "TRY_LATER" in plan.held["api"]


def test_without_hold_a_rejection_still_writes_nothing(pki: Pki, pki_files: dict[str, str], tmp_path: Path) -> None:
    items = node_certs(pki_files, tmp_path, www=pki.response(), api=forge.unsuccessful("try_later"))
    items[1] = NodeCertificate(**{**items[1].__dict__, "hold": False})
    outcome = deploy(items, now=NOW)
    assert outcome.failure is not None
    assert "api.der left untouched" in outcome.failure
    assert not (tmp_path / "ocsp/www.der").exists()


def test_held_certificates_are_marked_and_not_checked() -> None:
    store = {"a": {"staple": "YQ=="}, "c": {"staple": None}}
    decisions = {name: {"stapled": True, "reason": "stapled"} for name in ("a", "c")}
    items = node_items(
        [A, C], store, decisions, staple_dir="/s", snippet_dir="/n", verify_port=443, held=frozenset({"c"})
    )
    assert [entry.get("hold") for entry in items["deploy"]] == [None, True]
    assert [check["name"] for check in items["checks"]] == ["a"]


# --- cryptography on the node ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["35.0.0", "2.8", "unknown-dev"])
def test_a_too_old_cryptography_is_one_line_naming_python_version_and_minimum(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", types.SimpleNamespace(__version__=version))
    problem = requires.cryptography_problem("ocsp_deploy")
    assert problem is not None
    assert "\n" not in problem
    assert problem.startswith("ocsp_deploy needs the Python package cryptography >= 36.0 on this host: ")
    assert f"{sys.executable} (Python {sys.version.split()[0]}) has version {version} " in problem


def test_a_missing_cryptography_says_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import raises ImportError
    problem = requires.cryptography_problem("ocsp_staple")
    assert problem is not None
    assert "has none installed (install python3-cryptography" in problem


@pytest.mark.parametrize("version", ["36.0.0", "38.0.4", "46.0.1"])
def test_a_recent_cryptography_is_fine(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", types.SimpleNamespace(__version__=version))
    assert requires.cryptography_problem("ocsp_deploy") is None


# --- the include line in the user's server block -------------------------------------------------

SITES = """\
http {
    server {
        listen 443 ssl;
        server_name www.example.org;   # the shop is below
        ssl_certificate /etc/ssl/www.pem;
        ssl_certificate_key /etc/ssl/www.key;
        location / { return 200 "{ not a block }"; }
    }
    server {
        listen 443 ssl;
        ssl_certificate "/etc/ssl/shop.pem";
        ssl_certificate_key /etc/ssl/shop.key;
    }
}
"""
WWW_WANT = nginxconf.Want("www", "/etc/ssl/www.pem", "/etc/nginx/snippets/ocsp-www.conf")
SHOP_WANT = nginxconf.Want("shop", "/etc/ssl/shop.pem", "/etc/nginx/snippets/ocsp-shop.conf")


def test_the_include_goes_after_the_blocks_own_ssl_certificate_and_only_once() -> None:
    edit = nginxconf.add_includes(SITES, "/etc/nginx/sites/x.conf", [WWW_WANT, SHOP_WANT])
    assert edit.added == ["www: line 6", "shop: line 12"]
    lines = edit.text.splitlines()
    assert lines[5] == f"        include /etc/nginx/snippets/ocsp-www.conf;  {nginxconf.MARK}"
    assert lines[12] == f"        include /etc/nginx/snippets/ocsp-shop.conf;  {nginxconf.MARK}"
    assert len(lines) == len(SITES.splitlines()) + 2
    again = nginxconf.add_includes(edit.text, "/etc/nginx/sites/x.conf", [WWW_WANT, SHOP_WANT])
    assert again.added == []
    assert again.text == edit.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SITES.replace("        ssl_certificate_key /etc/ssl/shop.key;", "        ssl_stapling on;"),
            "/x.conf:12: the server block of shop sets 'ssl_stapling on;' itself: remove it",
        ),
        (
            SITES.replace("listen 443 ssl;\n        ssl_cert", "ssl_stapling_file /s/shop.der;\n        ssl_cert"),
            "/x.conf:10: the server block of shop sets 'ssl_stapling_file /s/shop.der;' itself",
        ),
        (SITES.replace("/etc/ssl/shop.pem", "/elsewhere.pem"), "/x.conf: no server block has 'ssl_certificate"),
        (SITES[:-2], "/x.conf: nginx config: unexpected end of file"),
        (SITES + "}\n", "/x.conf:15: nginx config: unexpected '}'"),
    ],
)
def test_an_include_that_cannot_be_placed_is_refused_naming_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        nginxconf.add_includes(text, "/x.conf", [SHOP_WANT])
