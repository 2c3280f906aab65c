"""Issue 16 item 2: in ``make run`` a crashed worker restarts alone.

studio_portal.supervise runs each Procfile line, starts its command again when it exits (with
back-off), cleans up what a killed run left behind, and stops with its command on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from studio_portal.devstack import supervised_procfile

ROOT = Path(__file__).resolve().parents[1]
SUPERVISE = [sys.executable, "-m", "studio_portal.supervise", "--name", "test"]


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_command_that_exits_is_started_again_with_a_growing_wait() -> None:
    result = subprocess.run(
        [
            *SUPERVISE,
            *("--min-backoff", "0.05", "--max-restarts", "2"),
            *("--", sys.executable, "-c", "print('ran', flush=True); raise SystemExit(3)"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["ran", "ran", "ran"]
    assert "exited with 3 after" in result.stderr
    assert "restarting in 0.1 s" in result.stderr  # 0.05 s, then doubled
    assert "not restarted again" in result.stderr and result.returncode == 3


def test_a_killed_worker_is_restarted_alone_and_a_stop_signal_ends_both() -> None:
    program = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
    supervisor = subprocess.Popen(
        [*SUPERVISE, "--min-backoff", "0.05", "--", sys.executable, "-c", program],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = int(supervisor.stdout.readline())
        os.kill(first, signal.SIGKILL)  # what `kill -9` of a Dramatiq worker process does
        second = int(supervisor.stdout.readline())
        assert second != first and supervisor.poll() is None
        supervisor.send_signal(signal.SIGTERM)  # what honcho sends when `make run` stops
        assert supervisor.wait(timeout=10) == 0
        assert _wait_gone(second)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_what_a_crashed_run_left_behind_is_cleaned_up_before_the_next() -> None:
    # A parent that dies leaving a child running, as a Dramatiq parent killed with -9 leaves
    # its worker processes: the child must not live on beside the next generation.
    result = subprocess.run(
        [
            *SUPERVISE,
            *("--min-backoff", "0.05", "--max-restarts", "0"),
            *("--", "sh", "-c", "sleep 120 & echo $!; exit 1"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert _wait_gone(int(result.stdout.split()[0]))


def test_make_run_runs_every_procfile_line_under_the_supervisor() -> None:
    procfile = (ROOT / "Procfile").read_text()
    supervised = supervised_procfile(procfile)
    names = [line.split(":")[0] for line in procfile.splitlines() if line.strip()]
    assert names == ["release", "web", "worker", "renderer", "printer", "scheduler"]
    supervised_names = []
    for line in supervised.splitlines():
        name, command = line.split(": ", 1)
        supervised_names.append(name)
        assert command.startswith(f"python -m studio_portal.supervise --name {name} -- ")
    # make run migrates itself: the deploy's one-off release step is not a process to keep up.
    assert supervised_names == ["web", "worker", "renderer", "printer", "scheduler"]
    assert "--bind 0.0.0.0:${PORT:-8000}" in supervised  # honcho's shell still expands it
    assert "--workers ${WEB_CONCURRENCY:-2}" in supervised


def test_the_scheduler_that_exits_while_redis_is_away_is_restarted_alone() -> None:
    """The Procfile's own scheduler line, as make run runs it, with the broker refusing: periodiq
    sends the every-minute sweeps as it starts, its send fails, it exits (status 1), and the
    supervisor starts it again."""
    line = next(
        line
        for line in supervised_procfile((ROOT / "Procfile").read_text()).splitlines()
        if line.startswith("scheduler: ")
    )
    command = line.split(": ", 1)[1].replace("python -m", f"{sys.executable} -m", 1)
    command = command.replace(" -- ", " --min-backoff 0.05 --max-restarts 1 -- ", 1)
    with socket.socket() as probe:  # a port nothing listens on: Redis is away
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "studio_portal.settings",
        "DEBUG": "true",
        "BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    result = subprocess.run(
        command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    said = [line for line in result.stderr.splitlines() if line.startswith("[supervise")]
    assert result.returncode == 1, result.stderr[-3000:]
    assert said[1].startswith("[supervise scheduler] exited with 1 after"), said
    assert "restarting in 0.1 s" in said[1] or "restarting in 0.0 s" in said[1], said
    assert said[2].startswith("[supervise scheduler] started"), said
    assert result.stderr.count(f"Error 111 connecting to 127.0.0.1:{port}") == 2
