"""The role, playbooks and scenarios call the project's own modules and filters by FQCN.

In the repository, ``collections/ansible_collections/ocsp/stapling`` is a committed tree of
relative symlinks onto library/, module_utils/, filter_plugins/, doc_fragments/, meta/,
galaxy.yml and requirements.txt, and ansible.cfg puts ``./collections`` first on ``collections_path``: the same
``ocsp.stapling.X`` names resolve to the repository's files here and to the installed
collection elsewhere (README, "One source, two shapes").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREE = REPO / "collections" / "ansible_collections" / "ocsp" / "stapling"
MODULES = sorted(p.stem for p in (REPO / "library").glob("*.py"))
FILTERS = [
    "ocsp_urls",
    "ocsp_must_staple",
    "ocsp_staple_verdict",
    "ocsp_stapling_node",
    "ocsp_operator",
    "ocsp_stapling_union",
    "ocsp_nginx_includes",
    "ocsp_stapling_unknown_variables",
]
YAML_ROOTS = ["roles", "playbooks", "molecule", "site.yml", "tests/integration/playbooks"]


def _yaml_files() -> list[Path]:
    out: list[Path] = []
    for root in YAML_ROOTS:
        p = REPO / root
        out += [p] if p.is_file() else sorted([*p.rglob("*.yml"), *p.rglob("*.yaml"), *p.rglob("*.j2")])
    return out


def test_the_symlink_tree_points_at_the_repository_sources() -> None:
    links = {
        "plugins/modules": "library",
        "plugins/module_utils": "module_utils",
        "plugins/filter": "filter_plugins",
        "plugins/doc_fragments": "doc_fragments",
        "roles": "roles",
        "meta": "meta",
        "galaxy.yml": "galaxy.yml",
        "requirements.txt": "requirements.txt",
    }
    for link, target in links.items():
        path = TREE / link
        assert path.is_symlink(), f"{path}: not a symlink"
        assert not os.path.isabs(os.readlink(path)), f"{path}: absolute link {os.readlink(path)}"
        assert path.resolve() == (REPO / target).resolve(), f"{path} -> {path.resolve()}, want {REPO / target}"
    cfg = (REPO / "ansible.cfg").read_text()
    m = re.search(r"^collections_path\s*=\s*(\S+)", cfg, re.MULTILINE)
    assert m, "ansible.cfg: no collections_path"
    assert m.group(1).split(":")[0] == "./collections", (
        f"ansible.cfg: collections_path {m.group(1)} must start with ./collections"
    )


def test_every_module_and_filter_is_called_by_fqcn() -> None:
    # A task key, alone or carrying a YAML anchor / alias (verify.yml shares its arguments so).
    short_module = re.compile(rf"^\s*(?:- )?({'|'.join(MODULES)}):\s*(?:[&*][\w-]+\s*)?$", re.MULTILINE)
    short_filter = re.compile(rf"\|\s*({'|'.join(FILTERS)})\b")
    offenders = []
    for path in _yaml_files():
        text = path.read_text()
        for m in [*short_module.finditer(text), *short_filter.finditer(text)]:
            line = text.count("\n", 0, m.start()) + 1
            offenders.append(f"{path.relative_to(REPO)}:{line}: {m.group(1)} (want ocsp.stapling.{m.group(1)})")
    assert offenders == []


def test_the_scan_sees_the_calls_it_checks() -> None:
    # Guards the test above against matching nothing: the role does call these by FQCN.
    text = "\n".join(p.read_text() for p in _yaml_files())
    for name in ["ocsp_deploy", "ocsp_served_info", "ocsp_store_info", "ocsp_response", "ocsp_freeze", "ocsp_switch"]:
        assert f"ocsp.stapling.{name}:" in text, name
    for name in ["ocsp_stapling_node", "ocsp_stapling_union", "ocsp_operator", "ocsp_nginx_includes"]:
        assert re.search(rf"ocsp\.stapling\.{name}\b", text), name
