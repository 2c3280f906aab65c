"""A short run of `manage.py chaos` in a subprocess: real Redis, a real web server, real
`rundramatiq` workers killed with SIGKILL mid-render and mid-upscale, one broker restart, and
one send while redis-server is killed. The full run (20 kills) is `python manage.py chaos
--json`; its counts are in docs/ARCHITECTURE.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_killed_workers_and_brokers_lose_no_job_no_delivery_no_print_file_and_repeat_none() -> None:
    # The chaos command runs outside pytest's test database: its own studio, its own broker;
    # DEBUG as `make test` runs it (the development secrets).
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env["DEBUG"] = "true"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "chaos",
            *("--kills", "1", "--jobs", "2", "--queued", "1", "--lease", "4"),
            *("--outage-sends", "1", "--print-kills", "1"),
            *("--timeout", "400"),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["kills"] == 1 and report["broker_restarts"] == 1
    assert report["messages_queued_after_restart"] == report["messages_queued_before_restart"] > 0
    assert report["broker_kills"] == 1 and report["send_answers_while_broker_dead"] == {"202": 1}
    assert report["jobs_delivered"] == report["jobs"] == 4
    assert report["jobs_with_one_delivery"] == 4
    assert report["deliveries_with_exactly_one_email"] == 4 and report["emails_received"] == 4
    assert report["jobs_with_a_full_candidate_set"] == 4 and report["jobs_with_one_primary"] == 4
    assert report["print_kills"] == 1 and report["print_files_made"] == report["print_files_asked"]
    assert report["lost_jobs"] == report["lost_deliveries"] == 0
    assert report["stuck_jobs"] == report["missing_print_files"] == 0
    assert report["web_answered_throughout"] is True and report["web_failures"] == {}
    assert report["ok"] is True
