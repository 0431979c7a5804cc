"""The role's monitoring concern: the check command installed without PyPI, NRPE files, the refresh timer.

The node-side command is installed by the role (tasks/monitoring.yml) into a temporary prefix
on this host with Debian's /usr/bin/python3, then the NRPE command it rendered is executed
as NRPE would, in an empty environment, against a real nginx. The central side
(tasks/timer.yml) renders the systemd units without systemctl; the rendered ExecStart and
the store check are run for real against a test responder.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed import forge
from testbed.fleet import Fleet
from testbed.ocsp_responder import TestResponder
from testbed.pki import DemoPki
from testbed.wait import scaled

from ..ansible_run import NODE_PYTHON, playbook
from ..conftest import REPO, WALL_NOW

pytestmark = pytest.mark.integration

PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "monitoring.yml"
WWW = "www.demo.test"
H = dt.timedelta(hours=1)
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def run_entry(entry: str, extra: dict[str, Any]) -> dict[str, Any]:
    proc = playbook(
        PLAYBOOK, inventory="localhost,", extra_vars={"entry_point": entry, "ansible_connection": "local", **extra}
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["stats"]["localhost"]  # type: ignore[no-any-return]


def nrpe_commands(path: Path) -> dict[str, list[str]]:
    commands = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"command\[(\w+)\]=(.+)", line)
        if match:
            commands[match.group(1)] = shlex.split(match.group(2))
    return commands


def cron_commands(path: Path) -> list[str]:
    """The command of each entry of a cron.d file, as cron hands it to /bin/sh (unescaped %)."""
    out = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or "=" in line.split()[0]:
            continue
        fields = line.split(None, 6)
        assert "%" not in fields[6].replace("\\%", ""), f"an unescaped % ends a cron command: {line}"
        out.append(fields[6].replace("\\%", "%"))
    return out


def execute(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """As NRPE would: no shell of ours, an empty environment."""
    return subprocess.run(argv, capture_output=True, text=True, env=CLEAN_ENV, timeout=scaled(120), check=False)


def has_python_apt() -> bool:
    return subprocess.run([NODE_PYTHON, "-c", "import apt"], capture_output=True, check=False).returncode == 0


def test_node_check_command_runs_under_debian_python_from_the_copied_core(
    demo_fleet: Fleet, demo_pki: DemoPki, tmp_path: Path
) -> None:
    node = demo_fleet.nodes[0]
    this = WALL_NOW - H
    staple = forge.make_response(
        demo_pki.leaf(WWW).cert,
        demo_pki.ca().cert,
        demo_pki.responder(),
        this_update=this,
        next_update=this + 7 * 24 * H,
    )
    node.set_stapling(WWW, staple)
    node.reload()
    command = tmp_path / "bin" / "ocsp-staple"
    nrpe = tmp_path / "nrpe" / "ocsp_stapling.cfg"
    textfiles, cron = tmp_path / "textfile", tmp_path / "cron.d" / "ocsp-stapling-served"
    textfiles.mkdir()
    (textfiles / "ocsp_staple_served_gone.example.prom").write_text("# a certificate no longer on this node\n")
    (textfiles / "node_cpu.prom").write_text("# not ours\n")
    cron.parent.mkdir()
    extra = {
        "ansible_python_interpreter": NODE_PYTHON,
        "ocsp_stapling_monitoring_install": True,
        # Debian's packages are on this machine already: present, so nothing is downloaded.
        "ocsp_stapling_monitoring_os_packages": has_python_apt(),
        "ocsp_stapling_monitoring_prefix": str(tmp_path / "lib"),
        "ocsp_stapling_monitoring_command": str(command),
        "ocsp_stapling_monitoring_nrpe": True,
        "ocsp_stapling_monitoring_nrpe_file": str(nrpe),
        "ocsp_stapling_monitoring_textfile_dir": str(textfiles),
        "ocsp_stapling_monitoring_served_cron_file": str(cron),
        "ocsp_stapling_certificates": [
            {"name": WWW, "certificate": demo_pki.leaves[WWW].fullchain, "port": node.port},
        ],
        "ocsp_stapling_staple_dir": str(node.staple_dir),
        "ocsp_stapling_nginx_snippet_dir": str(node.conf_d),
        # Run on its own, the entry point reads the store to know what is stapled (this host is the central one).
        "ocsp_stapling_store_dir": str(tmp_path / "store"),
        "ocsp_stapling_verify_host": "127.0.0.1",
    }
    first = run_entry("monitoring", extra)
    assert first["changed"] > 0
    assert run_entry("monitoring", extra)["changed"] == 0, "a second run changes nothing"

    lib, core = tmp_path / "lib" / "ocsp_staple", REPO / "module_utils" / "ocsp_staple"
    copied = sorted(str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file())
    assert copied == sorted(str(p.relative_to(core)) for p in core.rglob("*.py"))
    assert command.read_text().splitlines()[-1] == f'exec {NODE_PYTHON} -s -m ocsp_staple "$@"'
    probe = execute(
        [
            NODE_PYTHON,
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'lib')!r}); import ocsp_staple, cryptography, OpenSSL; "
            "print(ocsp_staple.__file__, cryptography.__file__, cryptography.__version__, OpenSSL.__version__)",
        ]
    )
    core, crypto, crypto_version, openssl_version = probe.stdout.split()
    assert core == str(tmp_path / "lib" / "ocsp_staple" / "__init__.py")
    assert crypto.startswith("/usr/lib/python3/dist-packages/"), crypto  # Debian's, not a virtualenv's
    print(f"node python: cryptography {crypto_version}, pyOpenSSL {openssl_version}")

    version = execute([str(command), "--version"])
    assert (version.returncode, version.stdout.split()[0]) == (0, "ocsp-staple")

    (name, argv), *_ = nrpe_commands(nrpe).items()
    assert name == "ocsp_staple_www_demo_test"
    assert argv[:2] == [str(command), "check"]
    ok = execute(argv)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"OK: {WWW} on {node.endpoint} staple expires in 6 d ")

    newer = forge.make_response(
        demo_pki.leaf(WWW).cert,
        demo_pki.ca().cert,
        demo_pki.responder(),
        this_update=WALL_NOW,
        next_update=WALL_NOW + 7 * 24 * H,
    )
    (scheduled,) = cron_commands(cron)  # the same check, writing Prometheus textfile metrics
    assert scheduled.startswith(f"{shlex.quote(str(command))} check --connect 127.0.0.1:{node.port} ")
    prom = textfiles / "ocsp_staple_served_www.demo.test.prom"
    assert sorted(p.name for p in textfiles.iterdir()) == ["node_cpu.prom"], "the stale file of ours is removed"
    served_metric = f'ocsp_staple_served_matches_deployed{{name="{WWW}",endpoint="127.0.0.1:{node.port}"}}'
    assert execute(["/bin/sh", "-c", scheduled]).returncode == 0
    assert f"{served_metric} 1.0" in prom.read_text()

    node.staple_path(WWW).write_bytes(newer)  # deployed without a reload
    stale = execute(argv)
    assert stale.returncode == 2, stale.stdout + stale.stderr
    assert f"serves a staple that differs from {node.staple_path(WWW)}" in stale.stdout
    assert execute(["/bin/sh", "-c", scheduled]).returncode == 2
    assert f"{served_metric} 0.0" in prom.read_text()
    node.reload()
    assert execute(argv).returncode == 0


@pytest.fixture
def wall_responder(demo_pki: DemoPki) -> Any:
    server = TestResponder(demo_pki.ca(), signer=demo_pki.responder())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["systemd", "cron"])
def test_scheduled_refresh_renders_without_systemd_and_its_command_runs(
    kind: str, demo_pki: DemoPki, wall_responder: TestResponder, tmp_path: Path
) -> None:
    command = tmp_path / "central" / "bin" / "ocsp-staple"
    store = tmp_path / "store"
    (tmp_path / "metrics").mkdir()
    extra = {
        "ansible_python_interpreter": sys.executable,
        "ocsp_stapling_monitoring_install": True,
        "ocsp_stapling_monitoring_os_packages": False,
        "ocsp_stapling_monitoring_python": sys.executable,  # the central command needs requests
        "ocsp_stapling_monitoring_prefix": str(tmp_path / "central" / "lib"),
        "ocsp_stapling_monitoring_command": str(command),
        "ocsp_stapling_monitoring_nrpe": True,
        "ocsp_stapling_monitoring_nrpe_store_file": str(tmp_path / "nrpe" / "store.cfg"),
        "ocsp_stapling_monitoring_certificates_file": str(tmp_path / "central" / "certificates.json"),
        "ocsp_stapling_refresh_timer": True,
        "ocsp_stapling_refresh_timer_kind": kind,
        "ocsp_stapling_refresh_timer_manage": True,  # ignored for cron; for systemd see below
        "ocsp_stapling_refresh_timer_unit_dir": str(tmp_path / "systemd"),
        "ocsp_stapling_refresh_timer_cron_file": str(tmp_path / "cron.d" / "ocsp-stapling-refresh"),
        "ocsp_stapling_refresh_timer_log": str(tmp_path / "refresh.log"),
        "ocsp_stapling_store_dir": str(store),
        "ocsp_stapling_metrics_path": str(tmp_path / "metrics" / "ocsp_staple.prom"),
        "ocsp_stapling_certificates": [
            {"name": WWW, "certificate": demo_pki.leaves[WWW].fullchain, "responder_url": wall_responder.url},
            {"name": "no-ocsp.demo.test", "certificate": demo_pki.leaves["no-ocsp.demo.test"].fullchain},
        ],
    }
    if kind == "systemd":
        extra["ocsp_stapling_refresh_timer_manage"] = False  # render only: no systemctl on a CI runner
    run_entry("timer", extra)
    certificates = json.loads((tmp_path / "central" / "certificates.json").read_text())
    assert [c["name"] for c in certificates] == [WWW, "no-ocsp.demo.test"]

    if kind == "systemd":
        service = (tmp_path / "systemd" / "ocsp-stapling-refresh.service").read_text()
        timer = (tmp_path / "systemd" / "ocsp-stapling-refresh.timer").read_text()
        assert "OnCalendar=hourly\n" in timer
        assert "Type=oneshot\n" in service
        (exec_start,) = (line for line in service.splitlines() if line.startswith("ExecStart="))
        argv = shlex.split(exec_start.removeprefix("ExecStart="))
        analyze = shutil.which("systemd-analyze")
        if analyze:
            verified = subprocess.run(
                [analyze, "verify", str(tmp_path / "systemd" / "ocsp-stapling-refresh.service")],
                capture_output=True,
                text=True,
                timeout=scaled(120),
                check=False,
            )
            assert verified.returncode == 0, verified.stderr
    else:
        (entry,) = (
            line
            for line in (tmp_path / "cron.d" / "ocsp-stapling-refresh").read_text().splitlines()
            if line.startswith("7 * * * * root ")
        )
        argv = shlex.split(entry.removeprefix("7 * * * * root ").rsplit(" >>", 1)[0])
    assert argv[:2] == [str(command), "refresh"]
    assert argv[argv.index("--store") + 1] == str(store)

    refreshed = execute(argv)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert (store / WWW / "current.der").exists()
    assert (tmp_path / "metrics" / "ocsp_staple.prom").exists()

    (store_argv,) = nrpe_commands(tmp_path / "nrpe" / "store.cfg").values()
    checked = execute(store_argv)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"OK: {WWW} staple expires in 6 d 23 h")
    assert checked.stdout.splitlines()[0].split(" | ")[0].endswith("; not applicable: no-ocsp.demo.test")
