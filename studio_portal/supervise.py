"""Run one command and start it again whenever it exits, waiting longer after each quick crash.

    python -m studio_portal.supervise --name worker -- python manage.py rundramatiq …

``make run`` (studio_portal.devstack) runs every Procfile line under it. Honcho stops every
process as soon as one exits, and ``kill -9`` of one Dramatiq worker process makes the whole
``rundramatiq`` exit; under this supervisor that worker restarts alone while web and scheduler
carry on. In production each Procfile line stands alone and its platform restarts it
(systemd ``Restart=always``, Heroku, Kubernetes), so the Procfile itself stays plain.

Each run of the command gets its own process group. When it exits, whatever it left behind
(a Dramatiq parent killed with SIGKILL leaves its worker processes running) is killed before
the next run, so two generations never consume the same queues. SIGTERM or SIGINT to the
supervisor is passed on to the command's group; the supervisor exits once the command has, or
kills it after STOP_WAIT seconds (honcho itself kills what still runs 5 s after its SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

STOP_WAIT = 4.0


@dataclass
class Supervisor:
    command: list[str]
    name: str = "process"
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    # A run that lasted this long was healthy: the next restart waits the shortest back-off.
    stable_after: float = 30.0
    # Stop instead of restarting after this many restarts (tests); None: never stop.
    max_restarts: int | None = None
    restarts: int = 0
    _child: subprocess.Popen | None = field(default=None, repr=False)
    _stopping: int = 0  # the signal that asked us to stop, 0 while running

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        delay = self.min_backoff
        code = 0
        while not self._stopping:
            started = time.monotonic()
            self._child = subprocess.Popen(self.command, start_new_session=True)
            self._say(f"started (pid {self._child.pid})")
            code = self._wait()
            self._kill_group(signal.SIGKILL)  # leftovers of this run, before the next one
            if self._stopping:
                break
            ran = time.monotonic() - started
            if ran >= self.stable_after:
                delay = self.min_backoff
            if self.max_restarts is not None and self.restarts >= self.max_restarts:
                self._say(f"exited with {code} after {ran:.1f} s; not restarted again")
                return code
            self._say(f"exited with {code} after {ran:.1f} s; restarting in {delay:.1f} s")
            self.restarts += 1
            if self._sleep(delay):
                break
            delay = min(delay * 2, self.max_backoff)
        return 0 if self._stopping else code

    def _wait(self) -> int:
        assert self._child is not None
        deadline = None
        while True:
            try:
                return self._child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            if self._stopping and deadline is None:
                deadline = time.monotonic() + STOP_WAIT
            if deadline is not None and time.monotonic() > deadline:
                self._say(f"still running {STOP_WAIT:.0f} s after the stop signal; killing it")
                self._kill_group(signal.SIGKILL)

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless asked to stop meanwhile; True when asked to stop."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if self._stopping:
                return True
            time.sleep(min(0.1, seconds))
        return bool(self._stopping)

    def _stop(self, signum: int, frame: object) -> None:
        self._stopping = signum
        self._kill_group(signum)

    def _kill_group(self, signum: int) -> None:
        if self._child is None:
            return
        try:
            os.killpg(self._child.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already

    def _say(self, message: str) -> None:
        sys.stderr.write(f"[supervise {self.name}] {message}\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m studio_portal.supervise", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--name", default="")
    parser.add_argument("--min-backoff", type=float, default=0.5, help="seconds")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="seconds")
    parser.add_argument("--stable-after", type=float, default=30.0, help="seconds")
    parser.add_argument("--max-restarts", type=int, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    return Supervisor(
        command=command,
        name=args.name or os.path.basename(command[0]),
        min_backoff=args.min_backoff,
        max_backoff=args.max_backoff,
        stable_after=args.stable_after,
        max_restarts=args.max_restarts,
    ).run()


if __name__ == "__main__":
    sys.exit(main())
