"""Stdout callback for tests: the whole run as one JSON document (plays -> tasks -> hosts).

ansible.posix.json does this, but collections cannot be installed here (no Galaxy), so the
tests carry this small equivalent. Used via ANSIBLE_STDOUT_CALLBACK=json_run.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: json_run
type: stdout
short_description: the run as one JSON document (tests only)
description: Prints plays, tasks and per-host results plus stats as JSON at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json_run"

    def __init__(self) -> None:
        super().__init__()
        self.results: list[dict[str, Any]] = []

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self.results.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task(self, task: Any) -> dict[str, Any]:
        entry = {"task": {"name": task.get_name()}, "hosts": {}}
        self.results[-1]["tasks"].append(entry)
        return entry

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._task(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._task(task)

    def _record(self, result: Any, **extra: Any) -> None:
        if not self.results:
            self.results.append({"play": {"name": "adhoc"}, "tasks": []})
        tasks = self.results[-1]["tasks"]
        name = result._task.get_name()
        if not tasks or tasks[-1]["task"]["name"] != name:
            self._task(result._task)
        data = dict(result._result)
        data.update(extra)
        tasks[-1]["hosts"][result._host.get_name()] = data

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self.results, "stats": summary}, default=str))
