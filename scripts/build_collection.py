#!/usr/bin/env python3
"""Assemble the ocsp.stapling collection from the repository's sources and build its tarball.

One source, two shapes: the repository runs from library/, module_utils/, filter_plugins/,
doc_fragments/, roles/ and playbooks/ as they are; this script copies them into the layout of a
collection (``<out>/ansible_collections/ocsp/stapling/``) and rewrites, mechanically, the few
names that differ between the two shapes:

- ``ansible.module_utils.ocsp_staple`` -> ``ansible_collections.ocsp.stapling.plugins.module_utils.ocsp_staple``
- the doc fragment names under ``extends_documentation_fragment`` -> ``ocsp.stapling.<name>``
- the role's path to the core (``role_path/../../module_utils``) -> ``role_path/../../plugins/module_utils``
- the playbooks' ``import_playbook: ../site.yml`` -> ``site.yml`` (site.yml sits in playbooks/)

then runs ``ansible-galaxy collection build``. testbed/, tests/ and everything else that is test
tooling stay out. Each rewrite must match at least once where it is expected, so a renamed
source fails the build instead of shipping an unrewritten name.

    scripts/build_collection.py [--out build/collection] [--no-tarball]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAMESPACE, NAME = "ocsp", "stapling"
FQ_UTILS = f"ansible_collections.{NAMESPACE}.{NAME}.plugins.module_utils"

# (source in the repository, destination in the collection)
TREES = (
    ("library", "plugins/modules"),
    ("module_utils", "plugins/module_utils"),
    ("filter_plugins", "plugins/filter"),
    ("doc_fragments", "plugins/doc_fragments"),
    ("roles", "roles"),
    ("playbooks", "playbooks"),
)
FILES = (
    ("galaxy.yml", "galaxy.yml"),
    ("meta/runtime.yml", "meta/runtime.yml"),
    # What an execution environment needs: ansible-builder introspect reads the meta file, which
    # names requirements.txt (the repository's pins for the controller and the central host).
    ("meta/execution-environment.yml", "meta/execution-environment.yml"),
    ("requirements.txt", "requirements.txt"),
    ("README.md", "README.md"),
    ("site.yml", "playbooks/site.yml"),
)
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

_FRAGMENT = re.compile(r"^([ \t]*- )(ocsp_staple(?:\.\w+)?)[ \t]*$", re.MULTILINE)
_FRAGMENT_BLOCK = re.compile(r"^extends_documentation_fragment:\n((?:[ \t]+- .*\n)+)", re.MULTILINE)


class BuildError(Exception):
    """A source did not have the shape a rewrite expects."""


def _sub(pattern: str, repl: str, text: str, *, where: Path) -> str:
    if pattern not in text:
        raise BuildError(f"{where}: expected {pattern!r} to rewrite, found none")
    return text.replace(pattern, repl)


def _rewrite_module(text: str, *, where: Path) -> str:
    text = _sub("ansible.module_utils.ocsp_staple", f"{FQ_UTILS}.ocsp_staple", text, where=where)
    block = _FRAGMENT_BLOCK.search(text)
    if block is None:
        return text
    fq = _FRAGMENT.sub(rf"\g<1>{NAMESPACE}.{NAME}.\g<2>", block.group(1))
    return text[: block.start(1)] + fq + text[block.end(1) :]


def rewrite(root: Path) -> None:
    """Rewrite, in place, the names that differ between the repository and the collection."""
    for path in sorted((root / "plugins/modules").glob("*.py")):
        path.write_text(_rewrite_module(path.read_text(), where=path))
    for path in sorted((root / "plugins/module_utils").rglob("*.py")):
        text = path.read_text()
        path.write_text(text.replace("ansible.module_utils.ocsp_staple", f"{FQ_UTILS}.ocsp_staple"))
    role = root / "roles/ocsp_stapling"
    for rel in ("defaults/main.yml", "meta/argument_specs.yml"):
        path = role / rel
        core = "{{ role_path }}/../../module_utils/ocsp_staple"
        moved = "{{ role_path }}/../../plugins/module_utils/ocsp_staple"
        path.write_text(_sub(core, moved, path.read_text(), where=path))
    for path in sorted((root / "playbooks").glob("*.yml")):
        text = path.read_text()
        path.write_text(text.replace("import_playbook: ../site.yml", "import_playbook: site.yml"))


def assemble(out: Path) -> Path:
    """Copy the sources into ``out/ansible_collections/ocsp/stapling`` (emptied first); return it."""
    root = out / "ansible_collections" / NAMESPACE / NAME
    if root.exists():
        shutil.rmtree(root)
    for src, dest in TREES:
        shutil.copytree(REPO / src, root / dest, ignore=IGNORE)
    for src, dest in FILES:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / src, root / dest)
    rewrite(root)
    return root


def build(root: Path, *, dest: Path) -> Path:
    """Run ``ansible-galaxy collection build``; return the tarball."""
    dest.mkdir(parents=True, exist_ok=True)
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    command = [str(galaxy) if galaxy.exists() else "ansible-galaxy", "collection", "build", "--force"]
    subprocess.run([*command, "--output-path", str(dest), str(root)], check=True)
    tarballs = sorted(dest.glob(f"{NAMESPACE}-{NAME}-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not tarballs:
        raise BuildError(f"ansible-galaxy collection build left no {NAMESPACE}-{NAME}-*.tar.gz in {dest}")
    return tarballs[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "collection")
    parser.add_argument("--no-tarball", action="store_true", help="assemble only")
    args = parser.parse_args(argv)
    try:
        root = assemble(args.out.resolve())
        print(f"assembled {root}")
        if not args.no_tarball:
            print(f"built {build(root, dest=args.out.resolve())}")
    except BuildError as exc:
        print(f"build_collection: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
