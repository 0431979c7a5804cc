"""The built collection tarball, and project directories outside the repository that install it.

``build_tarball`` runs scripts/build_collection.py (``make collection``'s build); ``Installed`` is
a project directory of its own whose ansible.cfg names only a tmp collections path (no
library/, module_utils/, roles_path or ./collections of the repository), and runs ansible
commands there. tests/integration/test_collection.py and test_execution_environment.py use both.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..ansible_run import BIN, REPO, ansible_env


def build_tarball(out: Path) -> Path:
    """Build the collection into ``out``; return the tarball."""
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_collection.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    (tarball,) = out.glob("ocsp-stapling-*.tar.gz")
    return tarball


@dataclass
class Installed:
    collections: Path  # the collections path the tarball is installed into
    project: Path  # a directory outside the repository with its own ansible.cfg
    tarball: Path

    @classmethod
    def new(cls, tmp_path_factory: pytest.TempPathFactory, tarball: Path) -> Installed:
        """A fresh project directory and an empty collections path (nothing installed yet)."""
        collections = tmp_path_factory.mktemp("collections")
        project = tmp_path_factory.mktemp("project")
        (project / "ansible.cfg").write_text(
            "[defaults]\n"
            f"collections_path = {collections}\n"
            "interpreter_python = auto_silent\n"
            "gathering = explicit\n"
            "retry_files_enabled = false\n"
            "forks = 10\n"
        )
        return cls(collections, project, tarball)

    @property
    def root(self) -> Path:
        return self.collections / "ansible_collections" / "ocsp" / "stapling"

    def env(self) -> dict[str, str]:
        # ansible_env() points ANSIBLE_CONFIG at the repository: replace it with the project's own.
        return ansible_env(ANSIBLE_CONFIG=str(self.project / "ansible.cfg"))

    def run(self, *argv: str, timeout: int = 600, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run BIN/argv[0] in the project directory (or ``cwd``) with the project's ansible.cfg."""
        return subprocess.run(
            [str(BIN / argv[0]), *argv[1:]],
            cwd=cwd or self.project,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
