"""meta/argument_specs.yml and defaults/main.yml list the same variables with the same defaults."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import yaml

from ..conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import role_specs

ROLE = REPO / "roles" / "ocsp_stapling"


def load(path: str) -> Any:
    return yaml.safe_load((ROLE / path).read_text())


@pytest.mark.parametrize("entry_point", sorted(load("meta/argument_specs.yml")["argument_specs"]))
def test_specs_and_defaults_agree(entry_point: str) -> None:
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"][entry_point]["options"]
    assert set(options) <= set(defaults) | {"ocsp_stapling_certificates"}, sorted(set(options) - set(defaults))
    for name, spec in options.items():
        assert name.startswith("ocsp_stapling_")
        assert spec.get("description"), f"{name} has no description"
        if name == "ocsp_stapling_certificates":
            assert spec["required"] is True
            continue
        assert spec.get("default") == defaults[name], (
            f"{name}: spec default {spec.get('default')!r} != {defaults[name]!r}"
        )


def test_every_default_is_documented_by_some_entry_point() -> None:
    specs = load("meta/argument_specs.yml")["argument_specs"]
    documented = {name for entry in specs.values() for name in entry["options"]}
    assert documented == set(load("defaults/main.yml")) | {"ocsp_stapling_certificates"}


def test_the_file_is_what_scripts_role_specs_writes() -> None:
    """Each entry point lists exactly the variables its tasks, templates, handlers and vars read."""
    assert sorted(load("meta/argument_specs.yml")["argument_specs"]) == sorted(role_specs.ENTRY_POINTS)
    want = role_specs.render()
    got = (ROLE / "meta" / "argument_specs.yml").read_text()
    assert got == want, "meta/argument_specs.yml is out of date: run .venv/bin/python scripts/role_specs.py --write"


@pytest.mark.parametrize(
    ("entry_point", "name", "how"),
    [
        ("main", "ocsp_stapling_nginx_reload_argv", "a handler main notifies"),
        ("main", "ocsp_stapling_force_disable_must_staple", "vars/main.yml's _ocsp_stapling_node"),
        ("main", "ocsp_stapling_monitoring_warning", "monitoring.yml, included by main, then a template import"),
        ("monitoring", "ocsp_stapling_monitoring_served_cron_schedule", "a template the tasks render"),
        ("timer", "ocsp_stapling_refresh_timer_on_calendar", "ocsp-stapling-refresh.{{ item }}.j2"),
        ("disable", "ocsp_stapling_disable_reason", "the entry point's own tasks"),
    ],
)
def test_the_scan_follows_every_way_a_variable_is_read(entry_point: str, name: str, how: str) -> None:
    assert name in role_specs.reads(entry_point), f"{entry_point} reads {name} through {how}"


@pytest.mark.parametrize(
    ("entry_point", "name"),
    [
        ("enable", "ocsp_stapling_nginx_reload_argv"),
        ("thaw", "ocsp_stapling_refresh_timer_on_calendar"),
        ("disable", "ocsp_stapling_monitoring_nrpe_file"),
        ("freeze", "ocsp_stapling_staple_mode"),
    ],
)
def test_an_entry_point_does_not_list_what_it_never_reads(entry_point: str, name: str) -> None:
    options = load("meta/argument_specs.yml")["argument_specs"][entry_point]["options"]
    assert name not in options
    assert name not in role_specs.reads(entry_point)


def test_the_monitoring_install_copies_every_layer_of_the_core() -> None:
    """command.yml globs one directory per layer: the list must name every package of the core."""
    layers = yaml.safe_load((REPO / "roles" / "ocsp_stapling" / "vars" / "main.yml").read_text())[
        "_ocsp_stapling_core_layers"
    ]
    core = REPO / "module_utils" / "ocsp_staple"
    packages = sorted(str(p.parent.relative_to(core)).replace(".", "") for p in core.rglob("__init__.py"))
    assert sorted(layers) == packages
