"""Run ansible / ansible-playbook from tests with the repository's configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: Debian's interpreter with its own python3-cryptography: what a cache node runs modules with.
NODE_PYTHON = "/usr/bin/python3"


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="json_run",
        ANSIBLE_CALLBACK_PLUGINS=str(REPO / "tests" / "plugins" / "callback"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(REPO / ".tmp" / "ansible-local"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def adhoc(
    module: str, args: dict[str, Any] | str, *, python: str = sys.executable, check: bool = False, timeout: int = 120
) -> tuple[int, dict[str, Any]]:
    """``ansible localhost -m MODULE -a ARGS``; returns (exit code, the host's result)."""
    cmd = [
        str(BIN / "ansible"),
        "localhost",
        "-m",
        module,
        "-a",
        args if isinstance(args, str) else json.dumps(args),
        "-e",
        f"ansible_python_interpreter={python}",
    ]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), timeout=timeout, check=False)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"ansible printed no JSON (rc {proc.returncode}): {proc.stdout}\n{proc.stderr}") from None
    result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc.returncode, result


def playbook(
    path: str | Path,
    *,
    extra_vars: dict[str, Any] | None = None,
    inventory: str | Path | None = None,
    args: list[str] | None = None,
    timeout: int = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ansible-playbook with the JSON callback; the caller inspects rc / stdout."""
    cmd = [str(BIN / "ansible-playbook"), str(path)]
    if inventory:
        cmd += ["-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += args or []
    return subprocess.run(
        cmd, capture_output=True, text=True, env=ansible_env(**(env or {})), timeout=timeout, check=False
    )


def task_results(proc: subprocess.CompletedProcess[str], task_name: str) -> list[dict[str, Any]]:
    """Every host result of the task named ``task_name`` in a JSON-callback run."""
    data = json.loads(proc.stdout)
    found = []
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == task_name:
                found.extend(task["hosts"].values())
    return found
