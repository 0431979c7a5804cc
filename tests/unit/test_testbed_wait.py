"""The testbed's bounded waits (testbed.wait) and what "gone" means for a process (testbed.fleet._alive)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.fleet import FleetError, _alive, _wait_gone
from testbed.wait import SCALE_ENV, WaitTimeout, poll, readline, scale, scaled, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    calls = []

    def third_time() -> str | None:
        calls.append(1)
        return "ready" if len(calls) >= 3 else None

    assert wait_until(third_time, 10, "the third call") == "ready"
    assert len(calls) == 3


def test_wait_until_names_what_it_awaited_and_for_how_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCALE_ENV, raising=False)
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"^timed out after 0\.2 s waiting for the moon$"):
        wait_until(lambda: False, 0.2, "the moon")
    assert time.monotonic() - started >= 0.2
    with pytest.raises(FleetError, match=r"^timed out after 0\.1 s waiting for node1$"):
        wait_until(lambda: 0, 0.1, "node1", error=FleetError)


def test_poll_checks_at_least_once_and_an_exception_ends_the_wait() -> None:
    assert poll(lambda: 7, 0) == 7
    assert poll(lambda: None, 0) is None

    def dead() -> bool:
        raise RuntimeError("the child died")

    with pytest.raises(RuntimeError, match="the child died"):
        poll(dead, 60)


def test_the_scale_factor_stretches_every_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCALE_ENV, raising=False)
    assert (scale(), scaled(2)) == (1.0, 2)
    monkeypatch.setenv(SCALE_ENV, "3")
    assert scaled(2) == 6
    with pytest.raises(WaitTimeout, match=r"^timed out after 0\.3 s waiting for x$"):
        wait_until(lambda: False, 0.1, "x")
    for bad in ("0", "-1", "fast", "inf", "nan"):
        monkeypatch.setenv(SCALE_ENV, bad)
        with pytest.raises(ValueError, match=rf"^{SCALE_ENV}='{bad}': expected a positive number"):
            scale()


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)


def test_readline_reads_a_line_late_or_gives_up_at_its_deadline() -> None:
    late = _child("import time; time.sleep(0.3); print('ready', flush=True); print('more', flush=True)")
    silent = _child("import time; time.sleep(3600)")
    try:
        assert readline(late.stdout, 30, "the ready line") == "ready"  # type: ignore[arg-type]
        assert readline(late.stdout, 30, "the second line") == "more"  # type: ignore[arg-type]
        assert readline(late.stdout, 30, "end of file") == ""  # type: ignore[arg-type]
        with pytest.raises(WaitTimeout, match=r"waiting for a line nobody writes$"):
            readline(silent.stdout, 0.2, "a line nobody writes")  # type: ignore[arg-type]
    finally:
        for child in (late, silent):
            child.kill()
            child.wait(timeout=scaled(30))
            assert child.stdout is not None
            child.stdout.close()


# The main thread leaves with the exit system call (only that thread ends); another thread keeps
# the listening socket, as a dying multi-threaded responder does for a moment after SIGKILL.
SYS_EXIT = {"x86_64": 60, "aarch64": 93}.get(os.uname().machine)
LEADER_EXITS = """
import ctypes, socket, sys, threading, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
threading.Thread(target=time.sleep, args=(3600,)).start()
ctypes.CDLL(None).syscall({nr}, 0)
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(2)):
            return True
    except OSError:
        return False


@pytest.mark.skipif(SYS_EXIT is None or not Path("/proc/self/task").exists(), reason="Linux x86_64/aarch64 only")
def test_a_process_whose_main_thread_is_a_zombie_is_alive_until_its_last_thread_exits() -> None:
    child = _child(LEADER_EXITS.format(nr=SYS_EXIT))
    try:
        port = int(readline(child.stdout, 30, "the child's port"))  # type: ignore[arg-type]
        wait_until(lambda: _state(child.pid) == "Z", 30, f"the main thread of pid {child.pid} to exit")
        assert _alive(child.pid), "a zombie main thread with a live thread is a live process"
        assert _accepts(port), "and its sockets are still open"
        assert not _wait_gone([child.pid], 0.1)
        os.kill(child.pid, signal.SIGKILL)
        assert _wait_gone([child.pid], 30)
        assert not _accepts(port), "gone means its sockets are closed"
    finally:
        child.kill()
        child.wait(timeout=scaled(30))
        assert child.stdout is not None
        child.stdout.close()
    assert not _alive(child.pid)
