"""Layout figures of the core: what each Ansible module ships, and the layers' import graph.

Run ``.venv/bin/python scripts/layout_figures.py``: prints markdown tables (per library module,
the ``ocsp_staple`` files Ansible ships with it and their lines; per layer, its modules and lines).

This file is also the one place that holds the logic ``tests/unit/test_layout.py`` asserts on:

* ``build_graph`` reads every ``Import``/``ImportFrom`` node of the core with ``ast`` (imports
  inside functions and under ``if TYPE_CHECKING:`` count: they are edges too), resolving relative
  imports and the absolute ``ocsp_staple.``/``ansible.module_utils.ocsp_staple.`` spellings;
  ``cycles``, ``upward_imports``, ``sideways_imports``, ``cli_imports``, ``banned_imports`` and
  ``dirty_inits`` each check one rule of the layering.
* ``shipped`` asks Ansible's own module_utils discovery
  (``ansible.executor.module_common.recursive_finder``, what AnsiballZ packs) which files go into
  a module's payload. It imports Ansible lazily: the graph part needs only the standard library.

The layers (imports only go downward)::

    cli      -> anything in the core (cli/ and __main__.py; nothing else imports it)
    monitor  -> ground, central, node, monitor
    central  -> ground, central        node -> ground, node     (never each other)
    ground   -> ground                 (the modules directly in ocsp_staple/)
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The directory Ansible's ``module_utils`` setting points at (ansible.cfg).
MODULE_UTILS = REPO / "module_utils"
PACKAGE = "ocsp_staple"
LIBRARY = REPO / "library"

LAYERS = ("ground", "central", "node", "monitor", "cli")
#: Which layers each layer may import (cli is checked by its own rule: nothing but cli imports it).
ALLOWED: Mapping[str, frozenset[str]] = {
    "ground": frozenset({"ground"}),
    "central": frozenset({"ground", "central"}),
    "node": frozenset({"ground", "node"}),
    "monitor": frozenset({"ground", "central", "node", "monitor"}),
    "cli": frozenset(LAYERS),
}
#: The layers that must not import each other.
SIDEWAYS = frozenset({"central", "node"})
#: Subpackages whose ``__init__.py`` must not import anything (Ansible ships every ``__init__`` it
#: passes); the package's own ``__init__`` (shipped with every module) is held to the same rule.
CLEAN_INITS = ("", "central", "node", "monitor")
#: Test tooling: never imported by the core, never shipped. ``forge``/``responder`` are its old names.
BANNED = frozenset({"testbed", "forge", "responder", "ocsp_responder"})
#: Prefixes under which the core is imported absolutely.
ABSOLUTE_PREFIXES = ("ansible.module_utils.",)


@dataclass(frozen=True)
class Edge:
    """One import statement of the core, resolved: ``src`` imports ``dst`` (dotted module names)."""

    src: str
    dst: str
    path: Path
    line: int
    statement: str

    def __str__(self) -> str:
        try:
            where = self.path.relative_to(REPO)
        except ValueError:
            where = self.path
        return f"{where}:{self.line}: {self.src} -> {self.dst}  ({self.statement})"


@dataclass
class Graph:
    """The core's modules (dotted name -> file), their layers and every import statement."""

    package: str
    modules: dict[str, Path]
    #: Imports of other modules of the core.
    edges: list[Edge] = field(default_factory=list)
    #: Every imported dotted name, inside or outside the core (``dst`` is the name as imported).
    imports: list[Edge] = field(default_factory=list)

    def layer(self, module: str) -> str:
        return layer_of(module, self.package, is_package=self.modules[module].name == "__init__.py")

    def lines(self, module: str) -> int:
        return count_lines(self.modules[module].read_bytes())


def layer_of(module: str, package: str = PACKAGE, *, is_package: bool = False) -> str:
    """The layer of a dotted module name of the core: its subpackage, or ground for top-level modules."""
    parts = module.split(".")
    if parts[0] != package:
        raise ValueError(f"{module} is not in {package}")
    rest = parts[1:]
    if not rest:
        return "ground"  # the package's own __init__
    if rest == ["__main__"]:
        return "cli"
    if len(rest) == 1 and not is_package:
        return "ground"
    return rest[0] if rest[0] in LAYERS[1:] else f"unknown:{rest[0]}"


def count_lines(data: bytes) -> int:
    return len(data.splitlines())


def discover(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every ``.py`` file of ``root/package`` by dotted module name (a package is its ``__init__``)."""
    base = root / package
    if not base.is_dir():
        raise FileNotFoundError(base)
    modules: dict[str, Path] = {}
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        modules[".".join(parts)] = path
    return modules


def _normalise(name: str, package: str) -> str:
    """Map the absolute spellings of the core (``ansible.module_utils.ocsp_staple.x``) to ``ocsp_staple.x``."""
    for prefix in ABSOLUTE_PREFIXES:
        if name == prefix + package or name.startswith(prefix + package + "."):
            return name[len(prefix) :]
    return name


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[tuple[str, str]]:
    """(base, candidate) pairs: ``base`` is certainly imported; ``candidate`` may be a submodule or an attribute."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, alias.name
        return
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        if node.level - 1 > len(here) - 1:
            raise ValueError(f"{module}: relative import beyond the top-level package: {ast.unparse(node)}")
        anchor = here[: len(here) - (node.level - 1)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    else:
        base = node.module or ""
    for alias in node.names:
        yield base, f"{base}.{alias.name}" if alias.name != "*" else base


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def build_graph(root: Path = MODULE_UTILS, package: str = PACKAGE) -> Graph:
    """The import graph of ``root/package``: every Import/ImportFrom node anywhere in each file.

    ``from X import y`` is an edge to ``X.y`` when the core has that module, else to ``X`` (y is an
    attribute). Importing a module also runs the ``__init__`` of each package above it: those are
    edges too, except the importer's own enclosing packages (Python has already started them
    before the importer runs, so ``from . import sibling`` is no cycle with the package's __init__).
    """
    modules = discover(root, package)
    graph = Graph(package=package, modules=modules)
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        is_package = path.name == "__init__.py"
        enclosing = {module, *_ancestors(module)}
        for node in _statements(tree):
            statement = ast.unparse(node)
            targets: dict[str, None] = {}
            for raw_base, raw_candidate in _imported_names(node, module, is_package):
                base, candidate = _normalise(raw_base, package), _normalise(raw_candidate, package)
                for name in dict.fromkeys((base, candidate)):
                    graph.imports.append(Edge(module, name, path, node.lineno, statement))
                explicit = candidate if candidate in modules else base
                if explicit not in modules:
                    continue
                targets.update(dict.fromkeys(a for a in _ancestors(explicit) if a in modules and a not in enclosing))
                if explicit != module:
                    targets[explicit] = None
            graph.edges += [Edge(module, target, path, node.lineno, statement) for target in targets]
    return graph


# --- the rules -------------------------------------------------------------------------------


def unclassified(graph: Graph) -> list[str]:
    """Modules that sit in no known layer (a new subpackage must be given its place in the layering)."""
    return [module for module in graph.modules if graph.layer(module) not in LAYERS]


def cycles(graph: Graph) -> list[list[Edge]]:
    """Each import cycle (strongly connected component of more than one module) as its edges."""
    successors: dict[str, list[str]] = {module: [] for module in graph.modules}
    for edge in graph.edges:
        successors[edge.src].append(edge.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(start: str) -> None:  # Tarjan's algorithm, iterative
        work: list[tuple[str, Iterator[str]]] = [(start, iter(successors[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)

    for module in graph.modules:
        if module not in index:
            connect(module)
    return [
        sorted((e for e in graph.edges if e.src in comp and e.dst in comp), key=lambda e: (e.src, e.line))
        for comp in components
    ]


def upward_imports(graph: Graph) -> list[Edge]:
    """Imports of a layer the importer may not use (cli targets excluded: ``cli_imports`` reports them)."""
    return [
        e
        for e in graph.edges
        if graph.layer(e.dst) != "cli"
        and graph.layer(e.src) in ALLOWED
        and graph.layer(e.dst) not in ALLOWED[graph.layer(e.src)]
        and {graph.layer(e.src), graph.layer(e.dst)} != SIDEWAYS
    ]


def sideways_imports(graph: Graph) -> list[Edge]:
    """central importing node or node importing central."""
    return [e for e in graph.edges if {graph.layer(e.src), graph.layer(e.dst)} == SIDEWAYS]


def cli_imports(graph: Graph) -> list[Edge]:
    """The core (outside cli/ and __main__) importing the cli layer."""
    return [e for e in graph.edges if graph.layer(e.dst) == "cli" and graph.layer(e.src) != "cli"]


def _per_statement(edges: Iterable[Edge]) -> list[Edge]:
    """One edge per import statement (the first name it imports that matters)."""
    return list({(e.path, e.line): e for e in reversed(list(edges))}.values())[::-1]


def banned_imports(graph: Graph) -> list[Edge]:
    """Import statements, anywhere in the core, of the test tooling (testbed, forge, responder)."""
    return _per_statement(e for e in graph.imports if BANNED & set(e.dst.split(".")))


def dirty_inits(graph: Graph) -> list[Edge]:
    """Import statements in the ``__init__.py`` files that must stay empty of imports."""
    clean = {".".join(filter(None, (graph.package, sub))) for sub in CLEAN_INITS}
    return _per_statement(e for e in graph.imports if e.src in clean and graph.modules[e.src].name == "__init__.py")


def chain(graph: Graph, starts: Iterable[str], goal: str) -> list[Edge]:
    """A shortest import chain from any of ``starts`` to a module in (or under) ``goal``, or []."""
    succ: dict[str, list[Edge]] = {}
    for e in graph.edges:
        succ.setdefault(e.src, []).append(e)
    parents: dict[str, Edge | None] = {s: None for s in starts if s in graph.modules}
    queue = list(parents)
    while queue:
        node = queue.pop(0)
        if node == goal or node.startswith(goal + "."):
            path: list[Edge] = []
            while (step := parents[node]) is not None:
                path.append(step)
                node = step.src
            return path[::-1]
        for e in succ.get(node, []):
            if e.dst not in parents:
                parents[e.dst] = e
                queue.append(e.dst)
    return []


def library_imports(graph: Graph, module_path: Path) -> list[str]:
    """The core modules a library module imports itself (as ``ansible.module_utils.ocsp_staple...``)."""
    tree = ast.parse(module_path.read_bytes(), filename=str(module_path))
    found: dict[str, None] = {}
    for node in _statements(tree):
        for base, candidate in _imported_names(node, f"ansible.modules.{module_path.stem}", False):
            for name in (_normalise(base, graph.package), _normalise(candidate, graph.package)):
                if name in graph.modules:
                    found[name] = None
    return list(found)


def expected_core(graph: Graph, module_path: Path) -> dict[str, int]:
    """What the ast graph says a library module's payload holds from the core (path -> lines):
    every module reachable from its imports, plus the packages above each (their ``__init__``)."""
    succ: dict[str, set[str]] = {}
    for e in graph.edges:
        succ.setdefault(e.src, set()).add(e.dst)
    todo = library_imports(graph, module_path)
    reached: set[str] = set()
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += sorted(succ.get(module, ()))
    rel = {str(graph.modules[m].relative_to(MODULE_UTILS)): graph.lines(m) for m in reached}
    return dict(sorted(rel.items()))


def report(edges: Iterable[object]) -> str:
    return "\n".join(f"  {e}" for e in edges)


# --- what Ansible ships -----------------------------------------------------------------------


_ANSIBLE_READY = False


def _init_ansible() -> None:
    """Set Ansible up as its CLI does before it builds a module payload (once per process).

    Installs the collection loader (module_utils redirects resolve through ``ansible.builtin``)
    and puts this checkout's module_utils first on the search path. Both change process-wide
    state: the test calls ``shipped`` in a child process (``--json``), not in pytest's.
    """
    global _ANSIBLE_READY  # noqa: PLW0603
    if _ANSIBLE_READY:
        return
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    from ansible.plugins.loader import init_plugin_loader, module_utils_loader  # type: ignore[import-untyped]

    init_plugin_loader()
    module_utils_loader.add_directory(str(MODULE_UTILS))
    _ANSIBLE_READY = True


def shipped(module_path: Path) -> dict[str, bytes]:
    """The files (zip path -> content) Ansible's module_utils discovery packs with this module.

    Calls ``ansible.executor.module_common.recursive_finder`` as ``_find_module_utils`` does;
    its signature grew ``date_time`` and ``extension_manager`` over the releases, so those are
    passed by name only when the installed ansible-core takes them.
    """
    _init_ansible()
    from ansible.executor import module_common  # type: ignore[import-untyped]

    finder = module_common.recursive_finder
    params = inspect.signature(finder).parameters
    kwargs: dict[str, object] = {}
    if "date_time" in params:
        kwargs["date_time"] = dt.datetime.now(dt.UTC)
    if "extension_manager" in params:
        from ansible._internal._ansiballz import _builder  # type: ignore[import-untyped]

        kwargs["extension_manager"] = _builder.ExtensionManager()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w") as zf:
        name = module_path.stem
        finder(name, f"ansible.modules.{name}", module_path.read_bytes(), zf, **kwargs)
        return {info.filename: zf.read(info) for info in zf.infolist()}


def shipped_core(files: Mapping[str, bytes], module: str = "module") -> dict[str, int]:
    """The ``ocsp_staple`` files (path relative to module_utils -> lines) among a payload's ``files``."""
    prefix = "ansible/module_utils/"
    core: dict[str, int] = {}
    for name, data in files.items():
        if not name.startswith(f"{prefix}{PACKAGE}/"):
            continue
        rel = name[len(prefix) :]
        local = MODULE_UTILS / rel
        if not local.is_file() or local.read_bytes() != data:
            raise AssertionError(f"{module}: Ansible shipped {name}, not this checkout's {local}")
        core[rel] = count_lines(data)
    return dict(sorted(core.items()))


def library_modules() -> list[Path]:
    return sorted(LIBRARY.glob("*.py"))


@dataclass(frozen=True)
class Payload:
    """What Ansible packs with one library module: every zip path, and the core's files with their lines."""

    module: str
    files: tuple[str, ...]
    core: dict[str, int]

    @property
    def core_lines(self) -> int:
        return sum(self.core.values())


def payloads() -> dict[str, Payload]:
    """Each library module's payload, discovered in this process (see ``_init_ansible``)."""
    out: dict[str, Payload] = {}
    for module_path in library_modules():
        files = shipped(module_path)
        out[module_path.stem] = Payload(module_path.stem, tuple(sorted(files)), shipped_core(files, module_path.name))
    return out


def payloads_in_child(python: str = sys.executable) -> dict[str, Payload]:
    """``payloads()`` computed by ``python`` running this script with ``--json``: the caller's
    process (pytest's) keeps no collection loader and no extra module_utils path."""
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(__file__).name} --json failed ({proc.returncode}):\n{proc.stderr}")
    data = json.loads(proc.stdout)
    return {name: Payload(name, tuple(p["files"]), dict(p["core"])) for name, p in data.items()}


def module_layer(rel: str) -> str:
    """The layer of a shipped file given as ``ocsp_staple/.../x.py``."""
    parts = Path(rel).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return layer_of(".".join(parts[:-1] if is_package else parts), is_package=is_package)


# --- the figures ------------------------------------------------------------------------------


def figures() -> str:
    graph = build_graph()
    out = [
        "### What each module ships from ocsp_staple (Ansible's own module_utils discovery)",
        "",
        "| module | files | lines | " + " | ".join(LAYERS[:-1]) + " | shipped files (lines) |",
        "|---|--:|--:|" + "--:|" * (len(LAYERS) - 1) + "---|",
    ]
    for name, payload in payloads().items():
        core = payload.core
        per_layer = dict.fromkeys(LAYERS, 0)
        for rel, lines in core.items():
            per_layer[module_layer(rel)] = per_layer.get(module_layer(rel), 0) + lines
        files = ", ".join(f"{rel.removeprefix(PACKAGE + '/').removesuffix('.py')} ({n})" for rel, n in core.items())
        layer_cells = " | ".join(str(per_layer[layer]) for layer in LAYERS[:-1])
        out.append(f"| {name} | {len(core)} | {sum(core.values())} | {layer_cells} | {files} |")

    out += [
        "",
        "### Layers of module_utils/ocsp_staple (ast import graph)",
        "",
        "| layer | modules | lines | may import | imports in use |",
        "|---|--:|--:|---|---|",
    ]
    for layer in LAYERS:
        members = [m for m in graph.modules if graph.layer(m) == layer]
        used = sorted({graph.layer(e.dst) for e in graph.edges if graph.layer(e.src) == layer}, key=LAYERS.index)
        allowed = [name for name in LAYERS if name in ALLOWED[layer]]
        lines = sum(graph.lines(m) for m in members)
        out.append(f"| {layer} | {len(members)} | {lines} | {', '.join(allowed)} | {', '.join(used) or '-'} |")
    total = sum(graph.lines(m) for m in graph.modules)
    out.append(f"| **total** | {len(graph.modules)} | {total} | | |")

    problems = {
        "cycles": [e for c in cycles(graph) for e in c],
        "upward imports": upward_imports(graph),
        "central<->node imports": sideways_imports(graph),
        "imports of cli from the core": cli_imports(graph),
        "imports of test tooling": banned_imports(graph),
        "imports in __init__ files that must stay empty": dirty_inits(graph),
    }
    found = {k: v for k, v in problems.items() if v}
    out.append("")
    if not found and not unclassified(graph):
        out.append("Layering rules: no violations.")
    for what, edges in found.items():
        out.append(f"**{what}:**")
        out += [f"- `{e}`" for e in edges]
    out += [f"**module in no layer:** `{m}`" for m in unclassified(graph)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--json"]:
        data = {name: {"files": list(p.files), "core": p.core} for name, p in payloads().items()}
        print(json.dumps(data, indent=1))
        return 0
    if args:
        print(f"usage: {Path(__file__).name} [--json]", file=sys.stderr)
        return 2
    print(figures())
    return 0


if __name__ == "__main__":
    sys.exit(main())
