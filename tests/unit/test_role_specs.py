"""meta/argument_specs.yml and defaults/main.yml list the same variables with the same defaults."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ..conftest import REPO

ROLE = REPO / "roles" / "ocsp_stapling"


def load(path: str) -> Any:
    return yaml.safe_load((ROLE / path).read_text())


@pytest.mark.parametrize("entry_point", sorted(load("meta/argument_specs.yml")["argument_specs"]))
def test_specs_and_defaults_agree(entry_point: str) -> None:
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"][entry_point]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        assert name.startswith("ocsp_stapling_")
        assert spec.get("description"), f"{name} has no description"
        if name == "ocsp_stapling_certificates":
            assert spec["required"] is True
            continue
        assert spec.get("default") == defaults[name], (
            f"{name}: spec default {spec.get('default')!r} != {defaults[name]!r}"
        )


def test_the_monitoring_install_copies_every_layer_of_the_core() -> None:
    """command.yml globs one directory per layer: the list must name every package of the core."""
    layers = yaml.safe_load((REPO / "roles" / "ocsp_stapling" / "vars" / "main.yml").read_text())[
        "_ocsp_stapling_core_layers"
    ]
    core = REPO / "module_utils" / "ocsp_staple"
    packages = sorted(str(p.parent.relative_to(core)).replace(".", "") for p in core.rglob("__init__.py"))
    assert sorted(layers) == packages
