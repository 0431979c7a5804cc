"""Clear failures of the node modules (issue 11), run by Ansible under Debian's /usr/bin/python3:

* a node whose cryptography is missing or older than 36.0: one line naming the package, the
  Python, the version found and the minimum (a stand-in package on PYTHONPATH plays the node);
* ocsp_deploy failing: every documented return value is still there, so the role's task fails
  with the module's own message, not with a ``changed_when`` error about a missing key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ..ansible_run import NODE_PYTHON, REPO, playbook, task_results

pytestmark = pytest.mark.integration

DEPLOY_ARGS = {
    "certificates": [
        {
            "name": "www",
            "stapled": True,
            "content": "MAMKAQM=",
            "certificate": "/nonexistent/www.pem",
            "staple_path": "/nonexistent/ocsp/www.der",
            "snippet_path": "/nonexistent/conf.d/ocsp-www.conf",
        }
    ]
}
MODULES = {
    "ocsp_deploy": DEPLOY_ARGS,
    "ocsp_staple": {"content": "MAMKAQM=", "dest": "/nonexistent/www.der", "certificate": "/nonexistent/www.pem"},
    "ocsp_served_info": {"certificate": "/nonexistent/www.pem", "port": 9},
}


def run_tasks(tmp_path: Path, tasks: list[dict[str, Any]], environment: dict[str, str] | None = None) -> Any:
    play: dict[str, Any] = {
        "name": "Node modules",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": NODE_PYTHON, "ansible_connection": "local"},
        "tasks": tasks,
    }
    if environment:
        play["environment"] = environment
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return playbook(path, inventory="localhost,", timeout=180)


def stand_in_cryptography(root: Path, body: str) -> str:
    package = root / "fake" / "cryptography"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    return str(root / "fake")


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ('__version__ = "35.0.0"\n', "has version 35.0.0 "),
        ('raise ImportError("No module named \'cryptography\'")\n', "has none installed "),
    ],
)
def test_node_modules_name_the_cryptography_they_need(tmp_path: Path, body: str, found: str) -> None:
    fake = stand_in_cryptography(tmp_path, body)
    tasks = [{"name": name, name: args, "ignore_errors": True} for name, args in MODULES.items()]
    proc = run_tasks(tmp_path, tasks, environment={"PYTHONPATH": fake})
    for name in MODULES:
        (result,) = task_results(proc, name)
        assert result.get("failed"), (name, result)
        msg = result["msg"]
        assert "\n" not in msg
        assert msg.startswith(f"{name} needs the Python package cryptography >= 36.0 on this host: "), msg
        assert f"{NODE_PYTHON} (Python 3." in msg, msg
        assert found in msg, msg


def test_a_failing_deploy_still_returns_every_documented_key(tmp_path: Path) -> None:
    proc = run_tasks(tmp_path, [{"name": "deploy", "ocsp_deploy": DEPLOY_ARGS, "ignore_errors": True}])
    (result,) = task_results(proc, "deploy")
    documented = yaml.safe_load(_return_doc())
    always = {key for key, spec in documented.items() if spec["returned"] == "always"}
    assert always == {"reload", "certificates"}
    assert always <= set(result), result
    assert "/nonexistent/www.pem" in result["msg"]


def test_the_role_task_fails_with_the_module_message_not_a_changed_when_error(tmp_path: Path) -> None:
    node = {"deploy": DEPLOY_ARGS["certificates"], "checks": [], "plan": {}}
    task = {
        "name": "Deploy through the role",
        "ansible.builtin.include_role": {
            "name": "ocsp_stapling",
            "tasks_from": "deploy",
        },
        "vars": {"_ocsp_stapling_node": node},
    }
    proc = run_tasks(tmp_path, [task])
    assert proc.returncode != 0
    (result,) = task_results(
        proc, "ocsp_stapling : Install the staples and stapling snippets after re-validating them on the node"
    )
    assert "changed_when" not in result["msg"], result["msg"]
    assert "/nonexistent/www.pem" in result["msg"], result["msg"]
    assert result["reload"] is False


def _return_doc() -> str:
    source = (REPO / "library" / "ocsp_deploy.py").read_text()
    return source.split('RETURN = r"""', 1)[1].split('"""', 1)[0]
