"""One pass per node: staples and snippets together, all or nothing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from ocsp_staple.node.deploy import NodeCertificate, apply_node, plan_node, snippet_text
from ocsp_staple.node.install import StapleRejected

from testbed import forge

from ..conftest import NOW, Pki

pytestmark = pytest.mark.node


def certs(
    pki: Pki, files: dict[str, str], root: Path, *, www: bytes | None, other_stapled: bool = False
) -> list[NodeCertificate]:
    return [
        NodeCertificate(
            "www",
            True,
            "stapled",
            files["chain"],
            None,
            str(root / "ocsp/www.der"),
            str(root / "conf.d/ocsp-www.conf"),
            www,
        ),
        NodeCertificate(
            "legacy",
            other_stapled,
            "the certificate has no OCSP responder URL",
            files["chain"],
            None,
            str(root / "ocsp/legacy.der"),
            str(root / "conf.d/ocsp-legacy.conf"),
            www if other_stapled else None,
        ),
    ]


def test_first_pass_writes_staples_snippets_and_directories(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path
) -> None:
    good = pki.response()
    plan = plan_node(certs(pki, pki_files, tmp_path, www=good), now=NOW)
    assert plan.changed
    assert plan.content_changed
    assert sorted(plan.directories) == [str(tmp_path / "conf.d"), str(tmp_path / "ocsp")]
    apply_node(plan)
    assert (tmp_path / "ocsp/www.der").read_bytes() == good
    assert not (tmp_path / "ocsp/legacy.der").exists()
    www = (tmp_path / "conf.d/ocsp-www.conf").read_text()
    assert www.endswith(f"ssl_stapling on;\nssl_stapling_file {tmp_path}/ocsp/www.der;\n")
    legacy = (tmp_path / "conf.d/ocsp-legacy.conf").read_text()
    assert legacy.endswith("# stapling off: the certificate has no OCSP responder URL\nssl_stapling off;\n")
    again = plan_node(certs(pki, pki_files, tmp_path, www=good), now=NOW)
    assert not again.changed
    assert not again.content_changed


def test_one_rejected_staple_writes_nothing_at_all(pki: Pki, pki_files: dict[str, str], tmp_path: Path) -> None:
    old = pki.response()
    apply_node(plan_node(certs(pki, pki_files, tmp_path, www=old), now=NOW))
    snippets_before = {p.name: p.read_bytes() for p in (tmp_path / "conf.d").iterdir()}
    newer = pki.response(this_update=NOW)
    bad = forge.unsuccessful("try_later")
    items = certs(pki, pki_files, tmp_path, www=newer, other_stapled=True)
    items[1] = NodeCertificate(**{**items[1].__dict__, "staple": bad})
    plan = plan_node(items, now=NOW)
    assert plan.rejections
    with pytest.raises(
        StapleRejected, match=r"legacy\.der left untouched: staple for legacy: responder answered TRY_LATER"
    ):
        apply_node(plan)
    assert (tmp_path / "ocsp/www.der").read_bytes() == old, "a valid staple must not be written beside a rejected one"
    assert not (tmp_path / "ocsp/legacy.der").exists()
    assert {p.name: p.read_bytes() for p in (tmp_path / "conf.d").iterdir()} == snippets_before


def test_snippet_text_names_the_reason() -> None:
    text = snippet_text("x", stapled=False, reason="disabled by ocsp_stapling_enabled", staple_path="/s/x.der")
    assert "ssl_stapling_file /" not in text
    assert "# stapling off: disabled by ocsp_stapling_enabled\n" in text


def test_stapled_without_a_staple_is_an_input_error(pki: Pki, pki_files: dict[str, str], tmp_path: Path) -> None:
    from ocsp_staple.errors import InputError

    with pytest.raises(
        InputError,
        match=r"^www: stapling is on but the central store has no staple for it \(run site.yml --tags "
        r"ocsp_stapling_refresh, or freeze, first\)$",
    ):
        plan_node(certs(pki, pki_files, tmp_path, www=None), now=NOW)


def test_a_staple_without_next_update_installs_only_with_the_lifetime_the_central_host_used(
    pki: Pki, pki_files: dict[str, str], tmp_path: Path
) -> None:
    """assume_lifetime_without_next_update reaches the node: plan.node_items -> ocsp_deploy -> policy."""
    from ocsp_staple.node.deploy import certificates_from_params, deploy
    from ocsp_staple.plan import node_items

    bare = pki.response(next_update=None)
    entries = [{"name": "www", "certificate": pki_files["chain"], "assume_lifetime_without_next_update": "12h"}]
    store = {"www": {"staple": base64.b64encode(bare).decode()}}
    decisions = {"www": {"stapled": True, "reason": "stapled"}}
    items = node_items(
        entries,
        store,
        decisions,
        staple_dir=str(tmp_path / "ocsp"),
        snippet_dir=str(tmp_path / "conf.d"),
        verify_port=443,
    )
    assert items["deploy"][0]["assume_lifetime_without_next_update"] == "12h"
    assert items["checks"][0]["assume_lifetime_without_next_update"] == "12h"

    opted = deploy(certificates_from_params(items["deploy"]), now=NOW, check_mode=True)
    assert opted.failure is None
    assert opted.result["certificates"]["www"]["assumed_lifetime"] == 12 * 3600

    plain = [{k: v for k, v in item.items() if k != "assume_lifetime_without_next_update"} for item in items["deploy"]]
    refused = deploy(certificates_from_params(plain), now=NOW, check_mode=True)
    assert refused.failure is not None
    assert "nextUpdate" in refused.failure
    assert "assume_lifetime_without_next_update" in refused.failure
    # The module-wide setting covers a certificate without its own; its own 0 turns it off again.
    assert deploy(certificates_from_params(plain), now=NOW, check_mode=True, assume_lifetime=6 * 3600).failure is None
    off = [{**item, "assume_lifetime_without_next_update": "0"} for item in plain]
    assert deploy(certificates_from_params(off), now=NOW, check_mode=True, assume_lifetime=6 * 3600).failure is not None
