"""monitoring/prometheus: the alert rules pass `promtool check/test rules`, over metrics the project writes.

Two writers: the central refresh (central/metrics.py) and the nodes' live checks
(``ocsp-staple check --connect --metrics-file``, monitor/served_metrics.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ocsp_staple.central.options import RefreshOptions
from ocsp_staple.central.refresh import run
from ocsp_staple.central.switch import set_switch
from ocsp_staple.monitor import served_metrics
from ocsp_staple.node.live import Served
from ocsp_staple.node.served import inspect_served
from ocsp_staple.spec import CertificateSpec

from testbed.ocsp_responder import TestResponder

from ..conftest import NOW, Pki

RULES_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"
RULES = RULES_DIR / "ocsp-stapling.rules.yml"
RULE_TESTS = RULES_DIR / "ocsp-stapling.rules.test.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (Debian package prometheus; scripts/setup.sh installs it)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def _promtool_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_are_valid() -> None:
    done = _promtool_run("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass() -> None:
    done = _promtool_run("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bocsp_staple_[a-z_]+\b", text))


def test_every_metric_the_rules_read_is_one_the_refresh_writes(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    """A renamed or dropped gauge would silence an alert: every name the rules use must be written."""
    store = tmp_path / "store"
    specs = [
        CertificateSpec("www", pki_files["leaf"], pki_files["ca"], responder.url),
        CertificateSpec("pinned", pki_files["leaf"], pki_files["ca"], responder.url),
    ]
    (store / "pinned").mkdir(parents=True)
    (store / "pinned" / "pinned.der").write_bytes(pki.response())
    (store / "pinned" / "pin.json").write_text(
        '{"staple": "pinned.der", "frozen_since": "2026-01-01T00:00:00Z", "frozen_by": "alice"}'
    )
    set_switch(str(store), enabled=False, who="alice", now=NOW, reason="drill", names=["www"])
    metrics = tmp_path / "ocsp_staple.prom"
    run(specs, str(store), RefreshOptions(backoff=0.01, metrics_path=str(metrics)), clock=lambda: NOW)
    deployed = tmp_path / "deployed.der"
    deployed.write_bytes(pki.response())
    served = Served("127.0.0.1", 8443, "www", deployed.read_bytes(), pki.leaf.cert, [pki.ca.cert], "TLSv1.3")
    report = inspect_served(served, pki.pair, now=NOW, expect_file=str(deployed))
    node_text = served_metrics.render(report, name="www", endpoint="127.0.0.1:8443", now=NOW).decode()
    assert 'ocsp_staple_served_matches_deployed{name="www",endpoint="127.0.0.1:8443"} 1.0' in node_text
    written = _metric_names(metrics.read_text()) | _metric_names(node_text)
    used = _metric_names(RULES.read_text())
    assert used, "no ocsp_staple_* metric found in the rules"
    assert used <= written, f"rules read metrics nothing writes: {sorted(used - written)}"
    # The rule tests feed series by these names too: they must not test metrics that do not exist.
    assert _metric_names(RULE_TESTS.read_text()) <= written
    text = metrics.read_text()
    assert 'ocsp_staple_stapling_disabled{name="www"} 1.0' in text
    assert 'ocsp_staple_stapling_disabled{name="pinned"} 0.0' in text
    assert 'ocsp_staple_frozen_since_timestamp_seconds{name="pinned"} 1.7672256e+09' in text
    assert 'ocsp_staple_frozen_since_timestamp_seconds{name="www"}' not in text
