"""scripts/build_collection.py: the collection is the repository's sources, renamed mechanically.

Assembles (no tarball) into a tmp dir and pins what a collection user depends on: the layout,
no test tooling, no import or fragment name left in its repository shape, and the role's path
to the core pointing at plugins/module_utils. tests/integration/test_collection.py installs the
built tarball and runs it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("collection")
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_collection.py"), "--out", str(out), "--no-tarball"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out / "ansible_collections" / "ocsp" / "stapling"


def test_each_source_tree_lands_in_its_collection_place(collection: Path) -> None:
    pairs = {
        "library": "plugins/modules",
        "filter_plugins": "plugins/filter",
        "doc_fragments": "plugins/doc_fragments",
        "playbooks": "playbooks",
    }
    for src, dest in pairs.items():
        want = sorted(p.name for p in (REPO / src).glob("*.py*") if p.suffix in {".py", ".yml"})
        got = sorted(p.name for p in (collection / dest).iterdir() if p.suffix in {".py", ".yml"})
        assert set(want) <= set(got), f"{dest}: missing {sorted(set(want) - set(got))}"
    core = sorted(p.relative_to(REPO / "module_utils") for p in (REPO / "module_utils").rglob("*.py"))
    utils = collection / "plugins" / "module_utils"
    shipped = sorted(p.relative_to(utils) for p in utils.rglob("*.py"))
    assert shipped == core
    assert (collection / "playbooks" / "site.yml").is_file()
    assert (collection / "roles" / "ocsp_stapling" / "meta" / "argument_specs.yml").is_file()
    assert (collection / "galaxy.yml").is_file()
    assert (collection / "meta" / "runtime.yml").is_file()


def test_no_test_tooling_ships(collection: Path) -> None:
    tooling = {"testbed", "tests", "molecule", "benchmarks", "__pycache__"}
    assert sorted(tooling & {p.name for p in collection.rglob("*")}) == []
    imports_testbed = re.compile(r"^\s*(from|import) testbed\b", re.MULTILINE)
    offenders = [str(p) for p in collection.rglob("*.py") if imports_testbed.search(p.read_text())]
    assert offenders == []


def test_modules_import_the_core_by_its_collection_name(collection: Path) -> None:
    for path in sorted((collection / "plugins" / "modules").glob("*.py")):
        text = path.read_text()
        assert "ansible.module_utils.ocsp_staple" not in text, path.name
        assert "from ansible_collections.ocsp.stapling.plugins.module_utils.ocsp_staple." in text, path.name


def test_doc_fragments_are_named_by_fqcn(collection: Path) -> None:
    for path in sorted((collection / "plugins" / "modules").glob("*.py")):
        block = re.search(r"^extends_documentation_fragment:\n((?:[ \t]+- .*\n)+)", path.read_text(), re.MULTILINE)
        assert block is not None, f"{path.name}: no extends_documentation_fragment"
        names = re.findall(r"- (\S+)", block.group(1))
        assert names, path.name
        assert [n for n in names if not n.startswith("ocsp.stapling.ocsp_staple")] == [], path.name


def test_role_finds_the_core_under_plugins(collection: Path) -> None:
    role = collection / "roles" / "ocsp_stapling"
    for rel in ("defaults/main.yml", "meta/argument_specs.yml"):
        text = (role / rel).read_text()
        assert "{{ role_path }}/../../plugins/module_utils/ocsp_staple" in text, rel
        assert "{{ role_path }}/../../module_utils/" not in text, rel
    assert (role / "../../plugins/module_utils/ocsp_staple/__init__.py").resolve().is_file()


def test_playbooks_import_site_from_beside_them(collection: Path) -> None:
    for path in sorted((collection / "playbooks").glob("*.yml")):
        assert "../site.yml" not in path.read_text(), path.name


def test_execution_environment_metadata_names_the_shipped_requirements(collection: Path) -> None:
    # ansible-builder introspect reads meta/execution-environment.yml of each installed collection.
    meta = yaml.safe_load((collection / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"]["python"] == "requirements.txt"
    assert (collection / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
