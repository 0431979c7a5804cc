"""The core's layering, checked two ways.

1. The import graph of module_utils/ocsp_staple read with ``ast`` (every Import/ImportFrom node,
   in functions and under ``if TYPE_CHECKING:`` too): no cycles, imports only go downward
   (ground <- central, node <- monitor <- cli), central and node never import each other, nothing
   but the cli imports the cli, nothing imports the test tooling, and the subpackage ``__init__``
   files import nothing. A synthetic package proves each check can fail.
2. Ansible's own module_utils discovery (what AnsiballZ packs): per library module, which core
   files ship. No module ships test tooling or the cli; ocsp_switch and ocsp_deploy stay within
   their line budgets; ocsp_deploy ships nothing from central/.

The logic lives in scripts/layout_figures.py (which also prints these figures); this file only
asserts on it.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_figures() -> ModuleType:
    name = "layout_figures"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "layout_figures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


lf: Any = _load_figures()

LIBRARY_MODULES = [path.stem for path in lf.library_modules()]
#: Lines of ocsp_staple code a module may ship (AnsiballZ sends them to every node on every task): the
#: targets of issue 13. ocsp_deploy meets its target because it no longer ships the TLS client (the role's
#: verify step, ocsp_served_info, checks what nginx serves) nor the AIA / Must-Staple / request code
#: (aia.py); ocsp_switch because the Must-Staple guard is spec's, not the whole plan. docs/ARCHITECTURE.md.
LINE_BUDGETS = {"ocsp_switch": 1_600, "ocsp_deploy": 2_000}


def pairs(edges: Any) -> set[tuple[str, str]]:
    return {(edge.src, edge.dst) for edge in edges}


# --- 1. the ast import graph -------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Any:
    return lf.build_graph()


def test_graph_sees_the_core(graph: Any) -> None:
    layers = {graph.layer(module) for module in graph.modules}
    assert set(lf.LAYERS) <= layers, f"layers without modules: {set(lf.LAYERS) - layers}"
    assert len(graph.edges) > 50, "the import graph is suspiciously small: is the scanner reading the core?"


def test_every_module_has_a_layer(graph: Any) -> None:
    stray = lf.unclassified(graph)
    assert not stray, f"modules in no layer (add the subpackage to the layering, or move them): {stray}"


def test_no_import_cycles(graph: Any) -> None:
    found = lf.cycles(graph)
    assert not found, "import cycles in the core:\n" + "\n\n".join(
        f"cycle among {', '.join(sorted({edge.src for edge in cycle}))}:\n{lf.report(cycle)}" for cycle in found
    )


def test_no_upward_imports(graph: Any) -> None:
    edges = lf.upward_imports(graph)
    assert not edges, "imports of a higher layer (ground < central, node < monitor < cli):\n" + lf.report(edges)


def test_central_and_node_do_not_import_each_other(graph: Any) -> None:
    edges = lf.sideways_imports(graph)
    assert not edges, "central and node import each other:\n" + lf.report(edges)


def test_core_does_not_import_the_cli(graph: Any) -> None:
    edges = lf.cli_imports(graph)
    assert not edges, "the core (outside cli/ and __main__) imports the cli:\n" + lf.report(edges)


def test_core_does_not_import_test_tooling(graph: Any) -> None:
    edges = lf.banned_imports(graph)
    assert not edges, "the core imports the test tooling (testbed, forge, responder):\n" + lf.report(edges)


def test_subpackage_inits_import_nothing(graph: Any) -> None:
    edges = lf.dirty_inits(graph)
    assert not edges, "__init__ files Ansible ships with every module must not import:\n" + lf.report(edges)


# --- the checker can fail ----------------------------------------------------------------------

#: A small package laid out like the core, every import allowed.
CLEAN = {
    "__init__.py": '"""root"""\n',
    "errors.py": "class E(Exception): ...\n",
    "spec.py": "from .errors import E\nfrom pkg import errors\n",
    "central/__init__.py": "",
    "central/store.py": "from ..spec import E\nfrom . import fetch\n",
    "central/fetch.py": "from ansible.module_utils.pkg.errors import E\n",
    "node/__init__.py": "",
    "node/install.py": "from ..errors import E\n",
    "node/deploy.py": "from .install import E\n",
    "monitor/__init__.py": "",
    "monitor/check.py": "from ..central.store import fetch\nfrom ..node import deploy\nfrom .. import spec\n",
    "cli/__init__.py": "from ..monitor.check import fetch\nfrom . import show\n",
    "cli/show.py": "from . import common\n",
    "cli/common.py": "from ..node.deploy import E\n",
    "__main__.py": "from .cli import show\n",
}

#: The same package with one fault of each kind, hidden where a naive scan would miss it.
FAULTS = {
    # cycle through an absolute import and a function-local one: install -> deploy -> install
    "node/install.py": "from ..errors import E\n\ndef later():\n    from . import deploy\n",
    "node/deploy.py": "import pkg.node.install\n",
    # upward: ground -> central under TYPE_CHECKING, ground -> node in a method
    "spec.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from .central.store import Store\n"
        "class C:\n"
        "    def m(self):\n"
        "        from ansible.module_utils.pkg.node import install\n"
    ),
    # sideways, test tooling (new and old names)
    "central/store.py": (
        "from ..node.install import E\n"
        "try:\n"
        "    import testbed.forge\n"
        "except ImportError:\n"
        "    pass\n"
        "from .. import responder\n"
    ),
    # the cli from the core
    "plan.py": "def f():\n    from .cli.show import render\n",
    "central/fetch.py": "def f():\n    from testbed.ocsp_responder import TestResponder\n",
    # an __init__ Ansible ships that imports
    "central/__init__.py": "from . import store\n",
    # a subpackage in no layer
    "extra/__init__.py": "",
}


def write_package(root: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_checker_passes_a_clean_package(tmp_path: Path) -> None:
    graph = lf.build_graph(write_package(tmp_path, CLEAN), "pkg")
    assert ("pkg.cli", "pkg.monitor.check") in pairs(graph.edges)
    assert ("pkg.central.fetch", "pkg.errors") in pairs(graph.edges)  # absolute ansible.module_utils spelling
    assert ("pkg.spec", "pkg.errors") in pairs(graph.edges)  # absolute pkg. spelling
    assert lf.unclassified(graph) == []
    assert lf.cycles(graph) == []
    assert lf.upward_imports(graph) == []
    assert lf.sideways_imports(graph) == []
    assert lf.cli_imports(graph) == []
    assert lf.banned_imports(graph) == []
    assert lf.dirty_inits(graph) == []


def test_checker_reports_every_fault(tmp_path: Path) -> None:
    graph = lf.build_graph(write_package(tmp_path, {**CLEAN, **FAULTS}), "pkg")

    assert lf.unclassified(graph) == ["pkg.extra"]

    found = lf.cycles(graph)
    assert [pairs(cycle) for cycle in found] == [
        {("pkg.node.install", "pkg.node.deploy"), ("pkg.node.deploy", "pkg.node.install")}
    ]
    assert {edge.line for edge in found[0] if edge.src == "pkg.node.install"} == {4}  # the function-local one

    assert pairs(lf.upward_imports(graph)) == {
        ("pkg.spec", "pkg.central"),
        ("pkg.spec", "pkg.central.store"),
        ("pkg.spec", "pkg.node"),
        ("pkg.spec", "pkg.node.install"),
    }
    assert pairs(lf.sideways_imports(graph)) == {
        ("pkg.central.store", "pkg.node"),
        ("pkg.central.store", "pkg.node.install"),
    }
    assert pairs(lf.cli_imports(graph)) == {("pkg.plan", "pkg.cli"), ("pkg.plan", "pkg.cli.show")}
    banned = lf.banned_imports(graph)
    assert {(edge.src, edge.line) for edge in banned} == {
        ("pkg.central.store", 3),
        ("pkg.central.store", 6),
        ("pkg.central.fetch", 2),
    }
    assert {(edge.src, edge.line) for edge in lf.dirty_inits(graph)} == {("pkg.central", 1)}

    # the failure messages name file, line and statement
    message = lf.report(lf.sideways_imports(graph))
    assert "pkg/central/store.py:1: pkg.central.store -> pkg.node.install" in message
    assert "from ..node.install import E" in message


def test_relative_import_beyond_the_package_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="beyond the top-level package"):
        lf.build_graph(write_package(tmp_path, {**CLEAN, "errors.py": "from .. import elsewhere\n"}), "pkg")


# --- 2. what Ansible ships ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def payloads() -> Any:
    """Each module's payload per Ansible's module_utils discovery (ansible-core of this interpreter)."""
    pytest.importorskip("ansible")
    return lf.payloads_in_child(sys.executable)


def describe(core: Mapping[str, int]) -> str:
    rows = sorted(core.items(), key=lambda item: -item[1])
    return "\n".join(f"  {lines:5d}  {path}" for path, lines in rows) + f"\n  {sum(core.values()):5d}  total"


def test_every_library_module_is_discovered(payloads: Any) -> None:
    assert sorted(payloads) == LIBRARY_MODULES
    for name, payload in payloads.items():
        assert "ocsp_staple/__init__.py" in payload.core, f"{name}: ships nothing from the core?"


@pytest.mark.parametrize("module", LIBRARY_MODULES)
def test_ansible_ships_what_the_graph_predicts(module: str, payloads: Any, graph: Any) -> None:
    expected = lf.expected_core(graph, REPO / "library" / f"{module}.py")
    assert payloads[module].core == expected, (
        f"{module}: Ansible's discovery and the ast graph disagree\n"
        f"only Ansible: {sorted(set(payloads[module].core) - set(expected))}\n"
        f"only the graph: {sorted(set(expected) - set(payloads[module].core))}"
    )


@pytest.mark.parametrize("module", LIBRARY_MODULES)
def test_no_module_ships_test_tooling_or_the_cli(module: str, payloads: Any) -> None:
    bad = [
        name
        for name in payloads[module].files
        if lf.BANNED & set(Path(name).with_suffix("").parts)
        or name.startswith(("ansible/module_utils/ocsp_staple/cli/", "ansible/module_utils/ocsp_staple/__main__"))
    ]
    assert not bad, f"{module} ships files that must never leave the controller: {bad}"


@pytest.mark.parametrize(("module", "budget"), sorted(LINE_BUDGETS.items()))
def test_line_budget(module: str, budget: int, payloads: Any) -> None:
    payload = payloads[module]
    assert payload.core_lines <= budget, (
        f"{module} ships {payload.core_lines} lines of ocsp_staple code (budget {budget}):\n{describe(payload.core)}"
    )


def test_deploy_ships_nothing_from_central(payloads: Any, graph: Any) -> None:
    central = [path for path in payloads["ocsp_deploy"].core if path.startswith("ocsp_staple/central/")]
    deploy = REPO / "library" / "ocsp_deploy.py"
    why = lf.chain(graph, lf.library_imports(graph, deploy), "ocsp_staple.central")
    assert not central, (
        f"ocsp_deploy ships central/ (deploy needs nothing from the central store code): {central}\n"
        f"import chain from library/ocsp_deploy.py:\n{lf.report(why)}"
    )
