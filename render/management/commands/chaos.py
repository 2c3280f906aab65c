"""Durability under failure, on the Redis broker, with real worker processes:

1. Queue scans for a dedicated "chaos" studio; start ``manage.py rundramatiq``; kill -9 its whole
   process group while a job is being rendered, ``--kills`` times, restarting it each time. Each
   job that reaches "ready" is sent to the parent by email (through a local fake SendGrid that
   counts what it receives).
2. Queue more scans with no worker running, restart the broker (SHUTDOWN, start again: queued
   messages must survive on disk), then start a worker.
3. Every job must finish exactly once (ready → delivered, one set of candidates, one primary),
   with exactly one delivery row and exactly one email received per job. Prints the counts.

Short timings make this take minutes, not hours: a job lease of ``--lease`` seconds (the
workers read RENDER_JOB_LEASE_SECONDS) and a broker heartbeat timeout of a few seconds, after
which a dead worker's unacknowledged messages go back on the queue.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

CHAOS_SUBDOMAIN = "chaos"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _FakeSendGrid:
    """Accepts SendGrid's mail/send and counts mails per Cradle delivery id."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                delivery = str(body.get("custom_args", {}).get("cradle_delivery", "?"))
                fake.received[delivery] += 1
                self.send_response(202)
                self.send_header("X-Message-Id", f"chaos-{delivery}-{fake.received[delivery]}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


class Command(BaseCommand):
    help = "Kill workers mid-render and restart the broker; check every job finishes once."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--kills", type=int, default=20)
        parser.add_argument("--jobs", type=int, default=6, help="scans queued for the kill phase")
        parser.add_argument("--queued", type=int, default=3, help="scans queued across the restart")
        parser.add_argument("--lease", type=int, default=6, help="job lease seconds in workers")
        parser.add_argument("--timeout", type=int, default=1800, help="give up after (seconds)")
        parser.add_argument("--json", action="store_true")

    # Set-up -----------------------------------------------------------------------------------

    def handle(self, *args: object, **options: object) -> None:
        from dramatiq.brokers.redis import RedisBroker

        self.options = options
        self.broker_url, self.embedded = self._broker_url()
        self.broker = RedisBroker(url=self.broker_url)
        self.broker.client.flushdb()  # a clean queue: earlier runs' leftovers are not ours
        self.mail = _FakeSendGrid()
        # Migrations print as they go; stdout is kept for the one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            self.studio = self._chaos_studio()
        self.deadline = time.monotonic() + int(options["timeout"])
        self.worker: subprocess.Popen | None = None
        self.jobs: list[int] = []
        self.sent: set[int] = set()
        kills = broker_restarts = 0
        started = time.monotonic()
        try:
            self.jobs += self._queue_scans(int(options["jobs"]))
            self._start_worker()
            while kills < int(options["kills"]):
                self._send_ready_jobs()
                if self._job_in_render() is not None:
                    time.sleep(random.uniform(0.2, 1.5))  # somewhere inside the render
                    self._kill_worker()
                    kills += 1
                    self._log(f"kill {kills}: worker killed mid-render; restarting")
                    self._start_worker()
                    continue
                if self._all_finished():
                    self.jobs += self._queue_scans(2)  # keep work flowing until all kills are done
                self._check_deadline()
                time.sleep(0.2)
            self._wait_until_finished()
            # Broker restart with jobs queued and no worker to take them.
            self._stop_worker()
            restart_jobs = self._queue_scans(int(options["queued"]))
            self.jobs += restart_jobs
            queued_before = self._queued_messages()
            if self.embedded:
                self._restart_embedded_broker()
                broker_restarts = 1
            queued_after = self._queued_messages()
            self._start_worker()
            self._wait_until_finished()
        finally:
            self._stop_worker()
            self.mail.server.shutdown()
        report = self._report(kills, broker_restarts, queued_before, queued_after)
        if self.embedded:
            self._stop_embedded_broker()
        report["seconds"] = round(time.monotonic() - started, 1)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for key, value in report.items():
                self.stdout.write(f"{key}: {value}")
        if not report["ok"]:
            raise CommandError("durability check failed: see the counts above")

    def _broker_url(self) -> tuple[str, bool]:
        url = os.environ.get("CHAOS_BROKER_URL", "")
        if url:
            return url, False
        from studio_portal.embedded import embedded_redis_url

        # A private server on a free port, never one left running by another checkout or run:
        # the broker restart below must restart the server that holds *these* messages.
        self.redis_port = _free_port()
        self.redis_dir = settings.LOCAL_DIR / "chaos" / f"broker-{self.redis_port}"
        return embedded_redis_url(self.redis_dir, port=self.redis_port), True

    def _chaos_studio(self):  # noqa: ANN202
        from django.core.management import call_command

        from studio_portal.tenants.models import Studio
        from studio_portal.tenants.services import public_tenant_ensure, studio_create

        # A fresh machine's database may never have been migrated (CI runs no `make run`).
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        studio = Studio.objects.filter(schema_name=CHAOS_SUBDOMAIN).first()
        if studio is None:
            public_tenant_ensure()
            studio = studio_create(
                name="Chaos Studio",
                subdomain=CHAOS_SUBDOMAIN,
                owner_username="owner",
                owner_email="owner@chaos.example",
                owner_password=os.urandom(16).hex(),
                plan=Studio.Plan.STUDIO,
            )
        return studio

    def _queue_scans(self, count: int) -> list[int]:
        """Sessions and uploads in the chaos studio; their first messages go on the chaos broker."""
        from PIL import Image

        from render.pipeline.phantom import make_phantom
        from render.services import parent_session_create, scan_upload
        from render.tasks import render_job_vision

        ids = []
        with schema_context(self.studio.schema_name):
            for _ in range(count):
                buffer = io.BytesIO()
                phantom = make_phantom(seed=random.randrange(1000))
                Image.fromarray(phantom.image).save(buffer, format="JPEG", quality=92)
                session = parent_session_create(
                    parent_name="Chaos Parent",
                    email="parent@chaos.example",
                    consent_given=True,
                    skin_swatches=["#a07e56"],
                )
                job = scan_upload(session=session, data=buffer.getvalue(), enqueue=False)
                self.broker.enqueue(render_job_vision.message(self.studio.schema_name, job.pk))
                ids.append(job.pk)
        return ids

    # The worker -------------------------------------------------------------------------------

    def _worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            BROKER_URL=self.broker_url,
            RENDER_JOB_LEASE_SECONDS=str(self.options["lease"]),
            # The print file is its own idempotent background job; leaving it out keeps the
            # two worker threads on what is counted here (renders and deliveries).
            PRINT_FILES_AUTOMATIC="false",
            DRAMATIQ_HEARTBEAT_TIMEOUT_MS="4000",
            # Maintenance (putting a dead worker's messages back) on 1 in 10 broker commands.
            DRAMATIQ_MAINTENANCE_CHANCE="100000",
            EMAIL_DELIVERY_BACKEND="sendgrid",
            SENDGRID_API_KEY="SG.chaos",
            SENDGRID_API_BASE=self.mail.url,
            CACHE_URL="",
        )
        return env

    def _start_worker(self) -> None:
        (settings.LOCAL_DIR / "chaos").mkdir(parents=True, exist_ok=True)
        log = open(settings.LOCAL_DIR / "chaos" / "worker.log", "ab")  # noqa: SIM115
        self.worker_started_at = timezone.now()
        self.worker = subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
            cwd=Path(settings.BASE_DIR),
            env=self._worker_env(),
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: kill -9 takes every process
        )

    def _kill_worker(self) -> None:
        if self.worker is None:
            return
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        self.worker = None

    def _stop_worker(self) -> None:
        if self.worker is None:
            return
        os.killpg(self.worker.pid, signal.SIGTERM)
        try:
            self.worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
        self.worker = None

    def _restart_embedded_broker(self) -> None:
        from studio_portal.embedded import embedded_redis_url, port_open

        try:
            self.broker.client.shutdown(save=True)
        except Exception:  # noqa: BLE001, S110 - the connection drops as the server stops
            pass
        # Wait for the old server to be gone: starting while its port still answers would
        # "reuse" a server that is about to exit.
        deadline = time.monotonic() + 15
        while port_open(self.redis_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        embedded_redis_url(self.redis_dir, port=self.redis_port)
        self._log("broker restarted with jobs queued")

    def _stop_embedded_broker(self) -> None:
        try:
            self.broker.client.shutdown(nosave=True)
        except Exception:  # noqa: BLE001, S110 - the connection drops as the server stops
            pass
        shutil.rmtree(self.redis_dir, ignore_errors=True)

    def _queued_messages(self) -> int:
        client = self.broker.client
        total = 0
        for key in client.scan_iter("dramatiq:*"):
            kind = client.type(key).decode()
            if kind == "list":
                total += client.llen(key)
            elif kind == "zset" and key.decode().endswith(".DQ"):
                total += client.zcard(key)
        return total

    # Watching jobs ----------------------------------------------------------------------------

    def _job_in_render(self) -> int | None:
        """A job this worker has started rendering (not one a killed worker left marked so)."""
        from render.models import RenderJob

        with schema_context(self.studio.schema_name):
            rendering = RenderJob.objects.filter(pk__in=self.jobs, state=RenderJob.State.RENDER)
            for pk, stage_log in rendering.values_list("pk", "stage_log"):
                started_at = stage_log.get("render", {}).get("started_at", "")
                if started_at and datetime.fromisoformat(started_at) >= self.worker_started_at:
                    return pk
        return None

    def _send_ready_jobs(self) -> None:
        """A sonographer presses Send as soon as a job is ready: the delivery runs on a worker."""
        from galleries.services import gallery_send
        from galleries.tasks import delivery_send_task
        from render.models import RenderJob

        with schema_context(self.studio.schema_name):
            ready = RenderJob.objects.filter(pk__in=self.jobs, state=RenderJob.State.READY)
            for job in ready.exclude(pk__in=self.sent):
                deliveries = gallery_send(job=job, channels=["email"], enqueue=False)
                for delivery in deliveries:
                    self.broker.enqueue(
                        delivery_send_task.message(self.studio.schema_name, delivery.pk)
                    )
                self.sent.add(job.pk)

    def _all_finished(self) -> bool:
        from render.models import RenderJob

        with schema_context(self.studio.schema_name):
            return (
                not RenderJob.objects.filter(pk__in=self.jobs)
                .exclude(state__in=RenderJob.FINISHED)
                .exists()
            )

    def _wait_until_finished(self) -> None:
        while not self._all_finished():
            self._send_ready_jobs()
            if self.worker is not None and self.worker.poll() is not None:
                self._log("the worker exited by itself; restarting it")
                self._start_worker()
            self._check_deadline()
            time.sleep(0.5)

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            self._stop_worker()
            raise CommandError(f"jobs still unfinished after {self.options['timeout']} s")

    def _log(self, message: str) -> None:
        self.stderr.write(f"[chaos] {message}")

    # Counting ---------------------------------------------------------------------------------

    def _report(self, kills: int, broker_restarts: int, before: int, after: int) -> dict:
        from galleries.models import Delivery
        from render.models import Candidate, RenderJob

        with schema_context(self.studio.schema_name):
            jobs = RenderJob.objects.filter(pk__in=self.jobs)
            states = Counter(jobs.values_list("state", flat=True))
            deliveries = Counter(
                Delivery.objects.filter(gallery__job__in=jobs).values_list(
                    "gallery__job", flat=True
                )
            )
            delivery_ids = list(
                Delivery.objects.filter(gallery__job__in=jobs).values_list("pk", flat=True)
            )
            candidates = Counter(
                Candidate.objects.filter(job__in=jobs).values_list("job", flat=True)
            )
            primaries = Counter(
                Candidate.objects.filter(job__in=jobs, is_primary=True).values_list(
                    "job", flat=True
                )
            )
            attempts = list(jobs.values_list("attempts", flat=True))
        mails = [self.mail.received.get(str(pk), 0) for pk in delivery_ids]
        expected = settings.RENDER_CANDIDATES
        report = {
            "broker": self.broker_url,
            "kills": kills,
            "broker_restarts": broker_restarts,
            "messages_queued_before_restart": before,
            "messages_queued_after_restart": after,
            "jobs": len(self.jobs),
            "states": dict(states),
            "jobs_delivered": states.get(RenderJob.State.DELIVERED, 0),
            "jobs_with_one_delivery": sum(1 for pk in self.jobs if deliveries.get(pk) == 1),
            "emails_received": sum(mails),
            "deliveries_with_exactly_one_email": sum(1 for n in mails if n == 1),
            "jobs_with_a_full_candidate_set": sum(
                1 for pk in self.jobs if candidates.get(pk) == expected
            ),
            "jobs_with_one_primary": sum(1 for pk in self.jobs if primaries.get(pk) == 1),
            "stage_claims_total": sum(attempts),
            "lost_jobs": len(self.jobs) - sum(states.values()),
        }
        n = len(self.jobs)
        report["ok"] = (
            report["jobs_delivered"] == n
            and report["jobs_with_one_delivery"] == n
            and report["deliveries_with_exactly_one_email"] == n == len(mails)
            and report["jobs_with_a_full_candidate_set"] == n
            and report["jobs_with_one_primary"] == n
            and report["lost_jobs"] == 0
            and kills == int(self.options["kills"])
        )
        connection.set_schema_to_public()
        return report
