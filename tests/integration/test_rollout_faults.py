"""Faults during rollout (issue 7): what breaks, what must keep working, what must stay intact.

* one node unreachable (an ssh host on a closed port of 127.0.0.1): the other nodes complete
  and the run's summary (the recap) names the unreachable one;
* ``nginx -t`` failing on one node (a broken nginx.conf): no reload there, the old staple is
  still served (real TLS client), nginx's own message is in the task failure, the others reload;
* the writer killed mid-write (SIGKILL inside :func:`fsutil.atomic_write` at each step, and at
  random moments from outside): the old file is intact, never a half-written one;
* two refresh runs at once (two ``ocsp-staple refresh`` processes; and a run that meets a held
  lock waits for it): the store stays consistent;
* no space left on the staple filesystem (a 64 KiB tmpfs, root only): the old staple is intact
  and the error is one clear line.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocsp_staple.central.lock import locked
from ocsp_staple.central.store import Store
from ocsp_staple.certs import load_pair
from ocsp_staple.errors import StoreError
from ocsp_staple.fsutil import atomic_write
from ocsp_staple.node.install import apply_install, plan_install
from ocsp_staple.node.live import fetch_served_staple
from ocsp_staple.policy import validate

from testbed.fleet import Fleet, running_fleet, sites_from_pki
from testbed.ocsp_responder import TestResponder
from testbed.pki import LeafSpec, write_demo_pki
from testbed.wait import poll, readline, scaled, wait_until

from ..ansible_run import NODE_PYTHON, REPO, playbook, task_results
from ..conftest import NOW, Pki, build_pki, responder_stats

pytestmark = pytest.mark.integration

SITE = "www.demo.test"
SITE_YML = REPO / "site.yml"
ROLE = "ocsp_stapling : "  # how task names of the role appear in the run
STAPLE_YML = Path(__file__).parent / "playbooks" / "staple.yml"


# --- a fleet of three nginx nodes, a responder on the real clock, an inventory for site.yml -------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Rollout:
    def __init__(self, root: Path, fleet: Fleet, responder: TestResponder) -> None:
        self.root = root
        self.fleet = fleet
        self.responder = responder
        self.store = root / "store"
        self.inventory = root / "hosts.yml"
        node_root = "{{ rollout_node_root }}"
        nodes: dict[str, Any] = {node.name: {"ocsp_stapling_verify_port": node.port} for node in fleet.nodes}
        # An unreachable node: ssh to a closed port of 127.0.0.1 (loopback only, refused at once).
        nodes["ghost"] = {
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": closed_port(),
            "ansible_user": "nobody",
        }
        site = fleet.sites[0]
        inventory = {
            "all": {
                "vars": {
                    "rollout_node_root": f"{fleet.root}/{{{{ inventory_hostname }}}}",
                    "rollout_nginx_argv": "{{ ['/usr/sbin/nginx', '-p', rollout_node_root ~ '/', "
                    "'-c', rollout_node_root ~ '/nginx.conf', '-e', rollout_node_root ~ '/logs/error.log'] }}",
                    "ocsp_stapling_store_dir": str(self.store),
                    "ocsp_stapling_attempts": 3,
                    "ocsp_stapling_deadline": 20,
                    "ocsp_stapling_timeout": 5,
                    "ocsp_stapling_certificates": [
                        {
                            "name": SITE,
                            "certificate": site.certificate,
                            "responder_url": responder.url,
                            "node_certificate": f"{node_root}/ssl/{SITE}.pem",
                            "server_block": SITE,
                        }
                    ],
                    "ocsp_stapling_staple_dir": f"{node_root}/ocsp",
                    "ocsp_stapling_nginx_snippet_dir": f"{node_root}/conf.d",
                    "ocsp_stapling_nginx_test_argv": "{{ rollout_nginx_argv + ['-t'] }}",
                    "ocsp_stapling_nginx_reload_argv": "{{ rollout_nginx_argv + ['-s', 'reload'] }}",
                    "ocsp_stapling_verify_host": "127.0.0.1",
                },
                "children": {
                    "ocsp_central": {
                        "hosts": {
                            "central": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                            }
                        }
                    },
                    "ocsp_nodes": {
                        "hosts": nodes,
                        "vars": {"ansible_connection": "local", "ansible_python_interpreter": NODE_PYTHON},
                    },
                },
            }
        }
        self.inventory.write_text(json.dumps(inventory, indent=2))

    def site(self, *args: str, **extra: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        proc = playbook(
            SITE_YML, inventory=self.inventory, extra_vars=extra or None, args=list(args), timeout=int(scaled(300))
        )
        try:
            stats = json.loads(proc.stdout)["stats"]
        except (ValueError, KeyError):
            raise AssertionError(f"no JSON from site.yml (rc {proc.returncode}): {proc.stdout} {proc.stderr}") from None
        return proc, stats

    def current(self) -> bytes:
        return (self.store / SITE / "current.der").read_bytes()

    def served(self, node_name: str) -> bytes | None:
        node = next(n for n in self.fleet.nodes if n.name == node_name)
        return fetch_served_staple(node.host, node.port, servername=SITE, timeout=scaled(10)).staple


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    root = tmp_path_factory.mktemp("rollout")
    pki = write_demo_pki(root / "pki", leaves=(LeafSpec(SITE),))
    responder = TestResponder(pki.ca(), signer=pki.responder(), hang=2.0)
    responder.start()
    try:
        with running_fleet(root / "fleet", sites=sites_from_pki(str(root / "pki")), nodes=3) as fleet:
            yield Rollout(root, fleet, responder)
    finally:
        responder.stop()


def test_an_unreachable_node_does_not_stop_the_others_and_the_recap_names_it(rollout: Rollout) -> None:
    proc, stats = rollout.site()
    assert proc.returncode == 4, proc.stderr  # ansible-playbook's exit status for unreachable hosts
    assert stats["ghost"]["unreachable"] == 1
    (ghost,) = [
        r
        for r in task_results(
            proc, ROLE + "Install the staples and stapling snippets after re-validating them on the node"
        )
        if r.get("unreachable") and "Connection refused" in r.get("msg", "")
    ]
    assert ghost["unreachable"] is True
    current = rollout.current()
    for node in rollout.fleet.nodes:
        assert stats[node.name]["failures"] == 0, stats
        assert stats[node.name]["unreachable"] == 0, stats
        assert stats[node.name]["changed"] > 0
        assert rollout.served(node.name) == current  # deployed, reloaded and verified on every other node


def test_a_failing_nginx_test_keeps_the_old_staple_served_shows_nginx_message_and_heals_next_run(
    rollout: Rollout,
) -> None:
    if not (rollout.store / SITE / "current.der").exists():
        rollout.site()
    old = rollout.current()
    broken = rollout.fleet.nodes[1]
    conf = broken.conf.read_text()
    time.sleep(1.1)  # the next answer's thisUpdate is a second later: a newer staple for every node
    try:
        broken.conf.write_text(conf + "this_is_not_a_directive on;\n")
        proc, stats = rollout.site("--limit", "all:!ghost", ocsp_stapling_force_refresh=True)
        new = rollout.current()
        assert new != old
        assert proc.returncode == 2
        assert stats[broken.name]["failures"] == 1
        (failure,) = [r for r in task_results(proc, ROLE + "Test the nginx configuration") if r.get("failed")]
        assert 'unknown directive "this_is_not_a_directive"' in failure["stderr"]
        reloads = task_results(proc, ROLE + "Reload nginx")
        assert len(reloads) == 2  # the other two nodes only
        assert all(r["changed"] for r in reloads)
        assert rollout.served(broken.name) == old  # no reload: the old staple is still served
        for node in rollout.fleet.nodes:
            if node is not broken:
                assert stats[node.name]["failures"] == 0
                assert rollout.served(node.name) == new
    finally:
        broken.conf.write_text(conf)
    # Config fixed, no new staple: the node's files are already right, but nginx still serves the old
    # staple. The next run notices in the deploy pass, tests and reloads that node only, and verifies.
    proc, stats = rollout.site("--limit", "all:!ghost")
    assert proc.returncode == 0, proc.stdout[-2000:]
    reloads = task_results(proc, ROLE + "Reload nginx")
    assert len(reloads) == 1
    assert rollout.served(broken.name) == new
    for node in rollout.fleet.nodes:
        assert rollout.served(node.name) == new


# --- the writer killed mid-write ----------------------------------------------------------------

KILL_AT = {
    # os.write writes half the bytes, then the process dies
    "mid-write": "real = os.write\n"
    "def hook(fd, data):\n    real(fd, bytes(data)[: len(data) // 2]); os.kill(os.getpid(), signal.SIGKILL)\n"
    "os.write = hook\n",
    # every byte written to the temporary file, before fsync
    "before-fsync": "def hook(fd):\n    os.kill(os.getpid(), signal.SIGKILL)\nos.fsync = hook\n",
    # written and fsync'd, before the rename over the final name
    "before-rename": "def hook(src, dst):\n    os.kill(os.getpid(), signal.SIGKILL)\nos.replace = hook\n",
}


@pytest.mark.parametrize("point", sorted(KILL_AT))
def test_a_writer_killed_mid_write_leaves_the_old_file_intact(point: str, tmp_path: Path) -> None:
    target = tmp_path / "staple.der"
    old = b"old staple " * 100
    target.write_bytes(old)
    script = (
        "import os, signal, sys\n"
        f"sys.path.insert(0, {str(REPO / 'module_utils')!r})\n"
        "from ocsp_staple.fsutil import atomic_write\n"
        f"{KILL_AT[point]}"
        f"atomic_write({str(target)!r}, b'new staple ' * 1000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=scaled(60), check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert target.read_bytes() == old
    # What a crash leaves is a hidden temporary file, never anything under the final name.
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".staple.der.") and name.endswith(".tmp") for name in leftovers), leftovers


def test_a_writer_killed_at_random_moments_never_leaves_a_mixed_file(tmp_path: Path) -> None:
    target = tmp_path / "staple.der"
    versions = {b"A" * 300_000, b"B" * 300_000}
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'module_utils')!r})\n"
        "from ocsp_staple.fsutil import atomic_write\n"
        "print('ready', flush=True)\n"
        "for i in range(100000):\n"
        f"    atomic_write({str(target)!r}, (b'A' if i % 2 else b'B') * 300_000)\n"
    )
    atomic_write(str(target), b"A" * 300_000)
    rng = random.Random(5)  # noqa: S311 - kill moments, not cryptography
    for _ in range(12):
        with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as child:
            try:
                assert child.stdout is not None
                assert readline(child.stdout, 30, "the writer's ready line") == "ready"
                time.sleep(rng.uniform(0.005, 0.15))  # the kill moment, not a wait for anything
            finally:
                child.kill()
                child.wait(timeout=scaled(30))
        assert target.read_bytes() in versions


# --- two refresh runs at once ---------------------------------------------------------------------


def refresh_command(pki_files: dict[str, str], responder: TestResponder, store: Path, tmp: Path) -> list[str]:
    certificates = tmp / "certificates.json"
    certificates.write_text(
        json.dumps([{"name": "www.example.org", "certificate": pki_files["chain"], "responder_url": responder.url}])
    )
    return [
        sys.executable, "-m", "ocsp_staple", "refresh", "--store", str(store), "--certificates", str(certificates),
        "--force", "--attempts", "3", "--now", NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]  # fmt: skip


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "module_utils")}


def assert_store_consistent(store: Path, pki: Pki) -> None:
    name = store / "www.example.org"
    assert validate((name / "current.der").read_bytes(), pki.pair, now=NOW).valid
    history = sorted((name / "history").glob("*.der"))
    assert history
    assert all(validate(p.read_bytes(), pki.pair, now=NOW).valid for p in history)
    assert (name / "history" / history[-1].name).read_bytes() == (name / "current.der").read_bytes()
    assert json.loads((name / "state.json").read_text())["name"] == "www.example.org"
    assert not [p for p in name.rglob("*.tmp")], "temporary files left behind"


def test_two_refresh_processes_at_once_leave_a_consistent_store(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    responder.configure(sequence=["try_later", "good", "short_lived", "good"], latency=0.2)
    store = tmp_path / "store"
    command = refresh_command(pki_files, responder, store, tmp_path)
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env()) for _ in range(2)]
    outputs = [run.communicate(timeout=scaled(120))[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert_store_consistent(store, pki)


def test_a_refresh_waits_for_the_lock_held_by_another_run(
    pki: Pki, pki_files: dict[str, str], responder: TestResponder, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    lock = Path(Store(str(store)).ensure("www.example.org")) / ".lock"
    command = refresh_command(pki_files, responder, store, tmp_path)
    with locked(str(lock), timeout=5):
        run = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env())
        try:
            wait_until(lambda: responder_stats(responder.url)["requests"] >= 1, 30, "the run's first fetch")
            # ... and waits for the lock: it does not finish while the lock is held (lock_timeout is 120 s)
            assert poll(lambda: run.poll() is not None, 1.0) is None, "the run ended while the lock was held"
            assert not (store / "www.example.org" / "current.der").exists()
        except BaseException:
            run.kill()
            run.wait(timeout=scaled(30))
            raise
    output = run.communicate(timeout=scaled(120))[0]
    assert run.returncode == 0, output
    assert_store_consistent(store, pki)


# --- no space left on the staple filesystem --------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs mounted for the test (root only), unmounted afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 KiB tmpfs needs root")
    mount = tmp_path / "staples"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)


def fill(directory: Path) -> None:
    """Fill the filesystem to the last byte (bounded: 64 KiB take 16 page-sized writes and a few smaller)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (4096,) * 32 + (512,) * 16 + (1,) * 64:
            try:
                handle.write(b"\0" * size)
            except OSError:
                continue


def test_no_space_left_keeps_the_old_staple_with_a_clear_error(tiny_fs: Path, tmp_path: Path) -> None:
    live_pki = build_pki("ec", now=dt.datetime.now(dt.UTC).replace(microsecond=0))
    chain = live_pki.write_files(tmp_path)["chain"]
    dest = tiny_fs / "www.example.org.der"
    old = live_pki.response(this_update=live_pki.now - dt.timedelta(hours=2))
    new = live_pki.response(this_update=live_pki.now - dt.timedelta(minutes=5))
    atomic_write(str(dest), old)
    fill(tiny_fs)

    # The core: apply_install raises one StoreError line naming the file and the OS error.
    plan = plan_install(new, load_pair(chain), dest=str(dest), now=live_pki.now)
    with pytest.raises(StoreError) as caught:
        apply_install(plan)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{dest}: write failed, previous file kept: No space left on device"), message
    assert dest.read_bytes() == old

    # The module (what the role runs on a node): the task fails with that line, the old staple stays.
    proc = playbook(
        STAPLE_YML,
        extra_vars={
            "staple_b64": base64.b64encode(new).decode(),
            "dest": str(dest),
            "certificate": chain,
            "ansible_python_interpreter": NODE_PYTHON,
        },
    )
    (result,) = task_results(proc, "Install the staple on the node")
    assert result["failed"] is True
    assert "\n" not in result["msg"]
    assert result["msg"] == message
    assert dest.read_bytes() == old
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["filler", dest.name]  # no temporary file left
