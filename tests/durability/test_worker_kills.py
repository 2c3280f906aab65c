"""A short run of `manage.py chaos` (1 kill, 3 jobs, one broker restart) in a subprocess: real
Redis, real `rundramatiq` workers killed with SIGKILL mid-render. The full run (20 kills) is
`python manage.py chaos --json`; its counts are in docs/ARCHITECTURE.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_killed_workers_and_a_restarted_broker_lose_no_job_and_repeat_none() -> None:
    # The chaos command runs outside pytest's test database: its own studio, its own broker.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "chaos",
            *("--kills", "1", "--jobs", "2", "--queued", "1", "--lease", "4"),
            *("--timeout", "240"),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["kills"] == 1 and report["broker_restarts"] == 1
    assert report["messages_queued_after_restart"] == report["messages_queued_before_restart"] > 0
    assert report["jobs_delivered"] == report["jobs"] == 3
    assert report["jobs_with_one_delivery"] == 3
    assert report["deliveries_with_exactly_one_email"] == 3 and report["emails_received"] == 3
    assert report["jobs_with_a_full_candidate_set"] == 3 and report["jobs_with_one_primary"] == 3
    assert report["lost_jobs"] == 0 and report["ok"] is True
