#!/usr/bin/env python3
"""Generate roles/ocsp_stapling/meta/argument_specs.yml: each entry point lists only the variables it reads.

What an entry point reads is found in the role's own files, transitively: its tasks file, every
task file it imports or includes, the templates it renders, the handlers it notifies, and the
definitions in vars/main.yml of every internal ``_ocsp_stapling_*`` variable those name. Each
``ocsp_stapling_*`` name met on the way that defaults/main.yml defines is an option of the entry
point (ocsp_stapling_certificates, which has no default, counts too).

Each option is written out once, with a YAML anchor, where it first appears (entry points in the
order of ENTRY_POINTS); later entry points refer to it with an alias, so a definition has one copy.
The definitions (description, type, default, ...) are read from the file as it is: to add a
variable, put its definition under any entry point, then run

    .venv/bin/python scripts/role_specs.py --write

tests/unit/test_role_specs.py fails when the file differs from what this script writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLE = REPO / "roles" / "ocsp_stapling"
SPECS = ROLE / "meta" / "argument_specs.yml"

# entry point -> its description (short, long); the order is the order of the file.
ENTRY_POINTS: dict[str, tuple[str, list[str]]] = {
    "main": (
        "Deploy known-good OCSP staples to nginx nodes, reload safely, verify what clients see",
        [
            "Runs on the nginx nodes. Reads the staple to deploy for each certificate from the central store"
            " (the pinned one when frozen), re-validates it on the node against the node's own certificate,"
            " installs it atomically, renders the per-certificate stapling snippet, runs the nginx config test"
            " and reloads only when something changed, then makes a real TLS handshake and fails the host when"
            " the served staple differs from the deployed file."
        ],
    ),
    "refresh": (
        "Fetch, validate and store OCSP staples on the central host",
        [
            "Runs on the central host. Fetches only what is due, retries until a good answer comes back,"
            " and replaces a staple only by a valid one that is not older and does not expire earlier."
        ],
    ),
    "freeze": (
        "Pin a known-good OCSP staple in the central store (playbooks/freeze.yml)",
        [
            "Runs on the central host. Obtains a valid staple (the CA's longest-lived valid answer, or the current"
            " staple) and pins it with who, when and why; nothing is pinned when nothing valid is found."
        ],
    ),
    "thaw": ("Remove the pins from the central store (playbooks/thaw.yml)", []),
    "disable": (
        "Record the audited switch that turns stapling off (playbooks/disable.yml)",
        [
            "Runs on the central host. Refused for Must-Staple certificates unless"
            " O(ocsp_stapling_force_disable_must_staple)."
        ],
    ),
    "enable": ("Remove the switch that turns stapling off (playbooks/enable.yml)", []),
    "monitoring": (
        "Install the ocsp-staple check command and the NRPE live checks on a node",
        ["Runs on the nginx nodes (tag ocsp_stapling_monitoring, also part of main). See docs/MONITORING.md."],
    ),
    "timer": (
        "Install the command, the store check and the scheduled refresh on the central host",
        ["Runs on the central host (tag ocsp_stapling_monitoring, also part of refresh). See docs/MONITORING.md."],
    ),
}

_NAME = re.compile(r"\b_?ocsp_stapling_[a-z0-9_]*[a-z0-9]")
_TASK_FILE = re.compile(r"(?:import_tasks|include_tasks):\s*(?:\n\s+file:\s*)?([\w./-]+\.yml)")
_TASKS_FROM = re.compile(r"tasks_from:\s*([\w-]+)")
# Any template name in the text: a task's src, a lookup('template', ...), a {% include %} in a template.
_TEMPLATE = re.compile(r"[\w.-]*(?:\{\{[^}]*\}\})?[\w.-]*\.j2\b")
_NOTIFY = re.compile(r"notify:\s*((?:\n\s+-\s*.+)+|.+)")


class SpecError(Exception):
    """The role's files and its argument specs disagree."""


def _templates(text: str) -> list[Path]:
    found = []
    for src in _TEMPLATE.findall(text):
        if "{{" in src:  # ocsp-stapling-refresh.{{ item }}.j2: every template of that shape
            pattern = re.sub(r"\{\{.*?\}\}", "*", src)
            found += sorted((ROLE / "templates").glob(pattern))
        else:
            found.append(ROLE / "templates" / Path(src).name)
    return found


def _notified(text: str) -> set[str]:
    topics = set()
    for block in _NOTIFY.findall(text):
        for line in block.splitlines():
            topic = line.strip().lstrip("-").strip().strip("\"'")
            if topic:
                topics.add(topic)
    return topics


def reads(entry_point: str) -> set[str]:
    """Every ``ocsp_stapling_*`` name (defined in defaults/main.yml or not) the entry point reads."""
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    vars_text = {name: yaml.safe_dump({name: value}) for name, value in variables.items()}
    handlers = yaml.safe_load((ROLE / "handlers" / "main.yml").read_text()) or []
    seen_files: set[Path] = set()
    pending = [ROLE / "tasks" / f"{entry_point}.yml"]
    texts: list[str] = []
    while pending:
        path = pending.pop()
        if path in seen_files:
            continue
        if not path.is_file():
            raise SpecError(f"{entry_point}: {path.relative_to(REPO)} is referenced but does not exist")
        seen_files.add(path)
        text = path.read_text()
        texts.append(text)
        if path.suffix == ".yml":
            pending += [path.parent / name for name in _TASK_FILE.findall(text)]
            pending += [ROLE / "tasks" / f"{name}.yml" for name in _TASKS_FROM.findall(text)]
        pending += _templates(text)
    topics = set().union(*(_notified(text) for text in texts))
    texts += [yaml.safe_dump(h) for h in handlers if h.get("listen") in topics or h.get("name") in topics]
    names: set[str] = set()
    queue = [name for text in texts for name in _NAME.findall(text)]
    while queue:
        name = queue.pop()
        if name in names:
            continue
        names.add(name)
        if name in vars_text:
            queue += _NAME.findall(vars_text[name])
    return {name for name in names if not name.startswith("_")}


def options_of(entry_point: str, defaults: dict[str, Any]) -> list[str]:
    known = set(defaults) | {"ocsp_stapling_certificates"}
    return sorted(reads(entry_point) & known)


def definitions(specs: dict[str, Any]) -> dict[str, Any]:
    """Every option's definition in the current file (aliases already resolved by the YAML loader)."""
    found: dict[str, Any] = {}
    for entry in specs["argument_specs"].values():
        for name, spec in (entry.get("options") or {}).items():
            found.setdefault(name, spec)
    return found


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint (and the rest of the repository) wants."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _block(data: Any, indent: int) -> str:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True, default_flow_style=False)
    return "".join(" " * indent + line if line.strip() else line for line in text.splitlines(keepends=True))


def render() -> str:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    defined = definitions(yaml.safe_load(SPECS.read_text()))
    out = [
        "---\n",
        "# Generated by scripts/role_specs.py from the role's files: each entry point lists the variables it\n",
        "# reads. Edit a definition where it is written out (the first entry point that reads it), then run\n",
        "# `.venv/bin/python scripts/role_specs.py --write`. tests/unit/test_role_specs.py checks it.\n",
        "argument_specs:\n",
    ]
    written: set[str] = set()
    for entry_point, (short, long) in ENTRY_POINTS.items():
        out.append(f"  {entry_point}:\n")
        out.append(_block({"short_description": short}, 4))
        if long:
            out.append(_block({"description": long}, 4))
        names = options_of(entry_point, defaults)
        if not names:
            raise SpecError(f"{entry_point}: reads no ocsp_stapling_* variable (tasks/{entry_point}.yml)")
        out.append("    options:\n")
        for name in names:
            if name not in defined:
                raise SpecError(
                    f"{name}: read by entry point {entry_point} but defined under no entry point of {SPECS}"
                )
            if name in written:
                out.append(f"      {name}: *{name}\n")
                continue
            written.add(name)
            out.append(f"      {name}: &{name}\n")
            out.append(_block(defined[name], 8))
    unread = sorted((set(defaults) | {"ocsp_stapling_certificates"}) - written)
    if unread:
        raise SpecError(f"defaults/main.yml: no entry point reads {', '.join(unread)}")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SPECS.relative_to(REPO)}")
    args = parser.parse_args(argv)
    try:
        text = render()
    except SpecError as exc:
        print(f"role_specs: {exc}", file=sys.stderr)
        return 1
    if args.write:
        SPECS.write_text(text)
        print(f"wrote {SPECS.relative_to(REPO)}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
