"""The built collection, installed with ansible-galaxy and used from a directory outside the repository.

``make collection``'s build (scripts/build_collection.py) makes the tarball; ``ansible-galaxy
collection install`` puts it in a tmp collections path; a project directory of its own (an
ansible.cfg naming only that path: no library/, module_utils/, roles_path or ./collections of
the repository) runs ``ansible-playbook ocsp.stapling.site`` against a demo fleet (test
responder + nginx nodes on 127.0.0.1, testbed.inventory) twice: changes on the first run,
``changed=0`` on the second, every node serving the stored staple. ``ansible-doc`` renders
every module and the role by FQCN from the installed copy, and the monitoring install copies
the core from wherever the collection is installed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ocsp_staple.node.live import fetch_served_staple

from testbed.fleet import NGINX
from testbed.inventory import Bed, running_bed
from testbed.wait import scaled

from ..ansible_run import REPO
from .installed import Installed, build_tarball

pytestmark = pytest.mark.integration

MODULES = sorted(p.stem for p in (REPO / "library").glob("*.py"))


def _filters() -> list[str]:
    """Every filter the plugins register (FilterModule.filters() of each filter_plugins/*.py)."""
    names = []
    for path in sorted((REPO / "filter_plugins").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_filters_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names += list(module.FilterModule().filters())
    return sorted(names)


STAPLED = ("www.demo.test", "must-staple.demo.test")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tarball(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, tarball: Path) -> Installed:
    there = Installed.new(tmp_path_factory, tarball)
    # With the repository's ansible.cfg, ansible-galaxy would find ocsp.stapling in ./collections
    # (the symlink tree) and install nothing: install as the project does.
    proc = there.run("ansible-galaxy", "collection", "install", str(tarball), "-p", str(there.collections))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (there.root / "MANIFEST.json").is_file(), proc.stdout + proc.stderr
    return there


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    if not Path(NGINX).exists():
        pytest.skip(f"nginx not installed at {NGINX}")
    with running_bed(tmp_path_factory.mktemp("bed"), nodes=2) as the_bed:
        yield the_bed
    assert not any(node.running() for node in the_bed.fleet.nodes)


def stats(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)["stats"]  # type: ignore[no-any-return]


def test_the_installed_collection_runs_site_by_fqcn_then_changes_nothing(installed: Installed, bed: Bed) -> None:
    assert not (installed.project / "library").exists()
    assert REPO not in installed.project.parents
    first = stats(installed.run("ansible-playbook", "-i", str(bed.inventory), "ocsp.stapling.site"))
    assert sum(host["changed"] for host in first.values()) > 0, first
    for name in STAPLED:
        stored = (bed.store / name / "current.der").read_bytes()
        for node in bed.fleet.nodes:
            got = fetch_served_staple(node.host, node.port, servername=name, timeout=scaled(10)).staple
            assert got == stored, f"{node.name} {name}: serves what the central store holds"
    second = stats(installed.run("ansible-playbook", "-i", str(bed.inventory), "ocsp.stapling.site"))
    assert {host: counts["changed"] for host, counts in second.items()} == dict.fromkeys(second, 0), second
    assert all(counts["failures"] == 0 and counts["unreachable"] == 0 for counts in second.values()), second


def test_ansible_doc_renders_every_module_filter_and_the_role_from_the_installed_copy(installed: Installed) -> None:
    for module in MODULES:
        proc = installed.run("ansible-doc", "--json", f"ocsp.stapling.{module}")
        assert proc.returncode == 0, f"{module}: {proc.stderr}"
        assert proc.stderr.strip() == "", f"{module}: {proc.stderr}"
        doc = json.loads(proc.stdout)[f"ocsp.stapling.{module}"]["doc"]
        assert Path(doc["filename"]).resolve().is_relative_to(installed.root.resolve()), doc["filename"]
        assert doc["short_description"], module
    filters = _filters()
    assert len(filters) == 8, filters
    for name in filters:
        proc = installed.run("ansible-doc", "-t", "filter", "--json", f"ocsp.stapling.{name}")
        assert proc.returncode == 0, f"filter {name}: {proc.stderr}"
        doc = json.loads(proc.stdout)[f"ocsp.stapling.{name}"]["doc"]
        assert Path(doc["filename"]).resolve().is_relative_to(installed.root.resolve()), doc["filename"]
        assert doc["short_description"], name
    proc = installed.run("ansible-doc", "-t", "role", "--json", "ocsp.stapling.ocsp_stapling")
    assert proc.returncode == 0, proc.stderr
    entry_points = json.loads(proc.stdout)["ocsp.stapling.ocsp_stapling"]["entry_points"]
    assert "main" in entry_points, sorted(entry_points)


def test_the_monitoring_install_copies_the_core_from_the_installed_collection(
    installed: Installed, tmp_path: Path
) -> None:
    # The role's default core path, resolved inside the installed collection, holds the whole core.
    core = installed.root / "plugins" / "module_utils" / "ocsp_staple"
    proc = installed.run(
        "ansible",
        "localhost",
        "-m",
        "ansible.builtin.include_role",
        "-a",
        "name=ocsp.stapling.ocsp_stapling tasks_from=command",
        "-e",
        json.dumps(
            {
                "ansible_python_interpreter": sys.executable,
                "ansible_connection": "local",
                "ocsp_stapling_monitoring_os_packages": False,
                "ocsp_stapling_monitoring_prefix": str(tmp_path / "lib"),
                "ocsp_stapling_monitoring_command": str(tmp_path / "bin" / "ocsp-staple"),
                "ocsp_stapling_monitoring_python": "/usr/bin/python3",
                "_ocsp_stapling_command_packages": [],
            }
        ),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    lib = tmp_path / "lib" / "ocsp_staple"
    copied = sorted(p.relative_to(lib) for p in lib.rglob("*.py"))
    assert copied == sorted(p.relative_to(core) for p in core.rglob("*.py"))
    version = subprocess.run(
        [str(tmp_path / "bin" / "ocsp-staple"), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0, version.stderr


def _readme_requirements_yml() -> dict[str, list[dict[str, str]]]:
    """README's requirements.yml example: the yaml block that names the tarball with type: file."""
    blocks = re.findall(r"^```yaml\n(.*?)^```$", (REPO / "README.md").read_text(), re.MULTILINE | re.DOTALL)
    (example,) = [block for block in blocks if "ocsp-stapling-" in block and "type: file" in block]
    return yaml.safe_load(example)  # type: ignore[no-any-return]


def test_the_readme_requirements_yml_installs_the_tarball(
    tarball: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    example = _readme_requirements_yml()
    (entry,) = example["collections"]
    assert entry["type"] == "file", entry
    assert entry["name"] == f"<path>/{tarball.name}", "README names the tarball galaxy.yml's version builds"
    there = Installed.new(tmp_path_factory, tarball)
    entry["name"] = entry["name"].replace("<path>", str(tarball.parent))
    (there.project / "requirements.yml").write_text(yaml.safe_dump(example))
    proc = there.run("ansible-galaxy", "collection", "install", "-r", "requirements.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (there.root / "MANIFEST.json").is_file(), proc.stdout + proc.stderr
    proc = there.run("ansible-playbook", "ocsp.stapling.freeze", "--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"playbook: {there.root / 'playbooks' / 'freeze.yml'}" in proc.stdout, proc.stdout
