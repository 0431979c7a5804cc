"""The Prometheus textfile: parsed back with prometheus_client's own parser."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.spec import CertificateSpec

from testbed.ocsp_responder import TestResponder

from ..conftest import NOW, Pki

text_string_to_metric_families = pytest.importorskip("prometheus_client.parser").text_string_to_metric_families


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_metrics_describe_each_certificate(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    metrics = tmp_path / "ocsp_staple.prom"
    specs = [
        CertificateSpec("www", pki_files["leaf"], pki_files["ca"], responder.url),
        CertificateSpec("frozen", pki_files["leaf"], pki_files["ca"], responder.url),
    ]
    (tmp_path / "store" / "frozen").mkdir(parents=True)
    (tmp_path / "store" / "frozen" / "pinned.der").write_bytes(pki.response())
    (tmp_path / "store" / "frozen" / "pin.json").write_text("{}")
    options = RefreshOptions(backoff=0.01, metrics_path=str(metrics))
    first = run(specs, str(tmp_path / "store"), options, clock=lambda: NOW)
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644
    got = samples(metrics)
    www = (("name", "www"),)
    facts = first.certificates[0].facts
    for key in ("this_update", "next_update", "signer_not_after", "expires_at"):
        assert got[(f"ocsp_staple_{key}_timestamp_seconds", www)] == epoch(facts[key])
    assert got[("ocsp_staple_valid", www)] == 1
    assert got[("ocsp_staple_frozen", www)] == 0
    assert got[("ocsp_staple_frozen", (("name", "frozen"),))] == 1
    assert got[("ocsp_staple_consecutive_failures", www)] == 0
    assert got[("ocsp_staple_last_attempt_outcome", (("name", "www"), ("reason", "ok")))] == 1
    assert got[("ocsp_staple_last_success_timestamp_seconds", www)] == NOW.timestamp()
    assert got[("ocsp_staple_refresh_timestamp_seconds", ())] == NOW.timestamp()

    responder.configure(sequence=["try_later", "http_503"])
    later = NOW + dt.timedelta(hours=1)
    run(
        specs[:1],
        str(tmp_path / "store"),
        RefreshOptions(backoff=0.01, metrics_path=str(metrics), force=True, attempts=2),
        clock=lambda: later,
    )
    got = samples(metrics)
    assert got[("ocsp_staple_consecutive_failures", www)] == 2
    assert got[("ocsp_staple_last_attempt_outcome", (("name", "www"), ("reason", "http_503")))] == 1
    assert ("ocsp_staple_last_attempt_outcome", (("name", "www"), ("reason", "ok"))) not in got
    assert got[("ocsp_staple_last_success_timestamp_seconds", www)] == NOW.timestamp()
    state = json.loads((tmp_path / "store" / "www" / "state.json").read_text())
    assert state["consecutive_failures"] == 2


def test_check_mode_writes_no_metrics(pki_files: dict[str, str], responder: TestResponder, tmp_path: Path) -> None:
    metrics = tmp_path / "m.prom"
    spec = CertificateSpec("www", pki_files["leaf"], pki_files["ca"], responder.url)
    options = RefreshOptions(backoff=0.01, metrics_path=str(metrics), check_mode=True)
    run([spec], str(tmp_path / "store"), options, clock=lambda: NOW)
    assert not metrics.exists()


def test_every_issue_metric_is_a_documented_gauge_and_missing_facts_are_absent(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    """Issue 6, item 2, parsed back: a certificate without a staple has no timestamps, one without an URL no series."""
    from testbed import forge

    plain = forge.make_leaf(pki.ca, "plain.example.org", now=NOW, ocsp_url=None)
    (tmp_path / "plain.pem").write_bytes(plain.pem + pki.ca.pem)
    responder.configure(fault="try_later")
    metrics = tmp_path / "ocsp_staple.prom"
    specs = [
        CertificateSpec("down", pki_files["leaf"], pki_files["ca"], responder.url),
        CertificateSpec("plain", str(tmp_path / "plain.pem")),
    ]
    result = run(
        specs,
        str(tmp_path / "store"),
        RefreshOptions(backoff=0.01, attempts=2, metrics_path=str(metrics)),
        clock=lambda: NOW,
    )
    assert [c.action for c in result.certificates] == ["failed", "not_applicable"]
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    wanted = [
        "this_update_timestamp_seconds",
        "next_update_timestamp_seconds",
        "signer_not_after_timestamp_seconds",
        "expires_at_timestamp_seconds",
        "last_attempt_outcome",
        "consecutive_failures",
        "frozen",
        "last_success_timestamp_seconds",
    ]
    for short in wanted:
        family = families[f"ocsp_staple_{short}"]
        assert (family.type, bool(family.documentation)) == ("gauge", True), short
    got = samples(metrics)
    down = (("name", "down"),)
    assert got[("ocsp_staple_valid", down)] == 0
    assert got[("ocsp_staple_failed", down)] == 1
    assert got[("ocsp_staple_consecutive_failures", down)] == 2
    assert got[("ocsp_staple_last_attempt_outcome", (("name", "down"), ("reason", "try_later")))] == 1
    assert not [key for key in got if key[0].endswith("_timestamp_seconds") and key[1] == down]
    assert not [key for key in got if ("name", "plain") in key[1]]
