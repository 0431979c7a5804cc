"""execution-environment.yml: the build context ansible-builder writes, and what it installs.

No container engine runs here, so ``ansible-builder create`` (which only writes the context)
stands in for ``ansible-builder build``. The EE file is used from a tmp copy of the layout it
names (itself, the files its dependencies name, and the tarball it copies, built now where it
expects it); the context must hold a Containerfile, the tarball and the galaxy requirements that
install it. The galaxy stage is then done as the Containerfile does it: ``ansible-galaxy
collection install -r requirements.yml`` in the context's _build/ (the image's /build), and
``ansible-builder introspect`` on what that installed must list the collection's python
requirements: the repository's requirements.txt pins.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from ..ansible_run import BIN, REPO
from .installed import Installed, build_tarball

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (BIN / "ansible-builder").exists(), reason="ansible-builder is pinned in requirements-dev.txt (.venv) only"
    ),
]

EE_FILE = REPO / "execution-environment.yml"
#: What ansible-builder's introspect leaves out of a collection's requirements: already in the image.
IN_THE_IMAGE = {"ansible-core", "pyyaml"}


def _ee() -> dict[str, Any]:
    return yaml.safe_load(EE_FILE.read_text())  # type: ignore[no-any-return]


def _requirements(path: Path) -> list[Requirement]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def _builder(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-builder"), *argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tmp copy of what execution-environment.yml names, with the collection tarball built into it."""
    root = tmp_path_factory.mktemp("ee")
    ee = _ee()
    shutil.copy2(EE_FILE, root / EE_FILE.name)
    for name in ("python", "system", "galaxy"):
        if isinstance(ee["dependencies"].get(name), str):
            shutil.copy2(REPO / ee["dependencies"][name], root / ee["dependencies"][name])
    (copied,) = ee["additional_build_files"]
    tarball = build_tarball(root / Path(copied["src"]).parent)
    assert tarball == root / copied["src"], f"the EE copies {copied['src']}; the build made {tarball.name}"
    return root


@pytest.fixture(scope="module")
def context(layout: Path) -> Path:
    """``ansible-builder create``'s build context (the Containerfile named as podman names it)."""
    proc = _builder("create", "-f", EE_FILE.name, "-c", "context", "--output-filename", "Containerfile", cwd=layout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return layout / "context"


def test_create_writes_a_containerfile_and_the_tarball_the_galaxy_stage_installs(layout: Path, context: Path) -> None:
    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{_ee()["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect" in containerfile
    build = context / "_build"
    (wanted,) = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    assert wanted["type"] == "file", wanted
    (copied,) = _ee()["additional_build_files"]
    shipped = build / wanted["name"]  # the galaxy stage runs in /build, the context's _build/
    assert shipped.is_file(), f"{wanted['name']} is not in the context: {sorted(build.rglob('*.tar.gz'))}"
    assert shipped.read_bytes() == (layout / copied["src"]).read_bytes()
    assert (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    with tarfile.open(shipped) as tar:
        names = tar.getnames()
        assert "meta/execution-environment.yml" in names, names
        assert "requirements.txt" in names, names
        requirements = tar.extractfile("requirements.txt")
        assert requirements is not None
        assert requirements.read().decode() == (REPO / "requirements.txt").read_text()


def test_introspect_lists_the_python_requirements_of_the_collection_the_context_installs(
    context: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    build = context / "_build"
    (wanted,) = yaml.safe_load((build / "requirements.yml").read_text())["collections"]
    there = Installed.new(tmp_path_factory, build / wanted["name"])
    proc = there.run("ansible-galaxy", "collection", "install", "-r", "requirements.yml", cwd=build)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (there.root / "MANIFEST.json").is_file(), proc.stdout + proc.stderr
    proc = _builder("introspect", str(there.collections), cwd=there.project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = yaml.safe_load(proc.stdout)["python"]
    want = [str(req) for req in _requirements(REPO / "requirements.txt") if req.name.lower() not in IN_THE_IMAGE]
    assert listed == [f"{line}  # from collection ocsp.stapling" for line in want], proc.stdout
    assert {"cryptography", "requests", "jinja2"} <= {Requirement(line).name.lower() for line in want}


def test_the_image_gets_the_ansible_core_requirements_txt_pins_for_its_python() -> None:
    python = _ee()["dependencies"]["python_interpreter"]["python_path"].removeprefix("/usr/bin/python")
    (pinned,) = [
        req
        for req in _requirements(REPO / "requirements.txt")
        if req.name == "ansible-core" and (req.marker is None or req.marker.evaluate({"python_version": python}))
    ]
    image = Requirement(_ee()["dependencies"]["ansible_core"]["package_pip"])
    assert (image.name, image.specifier) == (pinned.name, pinned.specifier)
