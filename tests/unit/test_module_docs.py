"""Every module's documented options (doc fragments merged) match its argument_spec."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys
from typing import Any

import pytest

from ..ansible_run import BIN, ansible_env
from ..conftest import REPO

pytest.importorskip("ansible")
pytestmark = pytest.mark.integration

MODULES = sorted(path.stem for path in (REPO / "library").glob("*.py"))


class _Captured(Exception):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__("argument_spec captured")
        self.spec = spec


def argument_spec(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the module's main() until it builds AnsibleModule, and keep the argument_spec."""
    import ocsp_staple
    from ansible.module_utils import basic

    # On the controller the core is the package ``ocsp_staple``; modules import it through Ansible's name.
    monkeypatch.setitem(sys.modules, "ansible.module_utils.ocsp_staple", ocsp_staple)
    for info in pkgutil.iter_modules(ocsp_staple.__path__):
        if info.name.startswith("_"):
            continue  # __main__ runs the CLI
        module = importlib.import_module(f"ocsp_staple.{info.name}")
        monkeypatch.setitem(sys.modules, f"ansible.module_utils.ocsp_staple.{info.name}", module)

    def capture(*, argument_spec: dict[str, Any], **_kw: Any) -> None:
        raise _Captured(argument_spec)

    monkeypatch.setattr(basic, "AnsibleModule", capture)
    spec = importlib.util.spec_from_file_location(f"library_{name}", REPO / "library" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(_Captured) as captured:
        module.main()
    return captured.value.spec


@pytest.fixture(scope="module")
def documented() -> dict[str, Any]:
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "-t", "module", "-M", str(REPO / "library"), *MODULES],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return {name: doc["doc"] for name, doc in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("name", MODULES)
def test_documented_options_match_the_argument_spec(
    name: str, documented: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = argument_spec(name, monkeypatch)
    options = documented[name]["options"]
    assert set(options) == set(spec)
    for option, arg in spec.items():
        doc = options[option]
        assert doc.get("type", "str") == arg.get("type", "str"), option
        assert bool(doc.get("required", False)) == bool(arg.get("required", False)), option
        assert doc.get("default") == arg.get("default"), option


@pytest.mark.parametrize("name", MODULES)
def test_check_mode_is_supported_and_documented(name: str, documented: dict[str, Any]) -> None:
    doc = documented[name]
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert "supports_check_mode=True" in (REPO / "library" / f"{name}.py").read_text()
