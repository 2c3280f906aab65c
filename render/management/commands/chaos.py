"""Durability under failure, on the Redis broker, with real web and worker processes:

0. Start a web server (``runserver``) and ask it for the job list every half second from start
   to end: it must answer every time.
1. Queue scans for a studio of this run's own (dropped at the end); start ``manage.py
   rundramatiq``; kill -9 its whole process group while a job is being rendered, ``--kills``
   times, restarting it each time. Each
   job that reaches "ready" is sent to the parent by email through the web server's API (to a
   local fake SendGrid that counts what it receives).
2. Queue more scans with no worker running, restart the broker (SHUTDOWN, start again: queued
   messages must survive on disk), then start a worker.
3. Kill the broker (kill -9 of redis-server) and press Send for ``--outage-sends`` ready jobs
   while it is down: each send must answer 202 and its deliveries wait, unsent, in the database
   (studio_portal.outbox). The broker comes back after ``--outage`` seconds.
4. Choose primaries through the API (each asks for a print file) and kill -9 the worker during
   an upscale, ``--print-kills`` times.
5. Every job must finish exactly once (ready → delivered, one set of candidates, one primary),
   with exactly one delivery row and exactly one email received per job, and every print file
   asked for made. Prints the counts, among them lost deliveries, stuck jobs and missing print
   files (goal 0 each) and whether the web server answered throughout.

The scheduler's sweeps (render_jobs_sweep, deliveries_sweep) run here every few seconds with
short leases, as the scheduler would every minute with long ones. Short timings make this take
minutes, not hours: a job lease of ``--lease`` seconds (the workers read
RENDER_JOB_LEASE_SECONDS) and a broker heartbeat timeout of a few seconds, after which a dead
worker's unacknowledged messages go back on the queue.
"""

from __future__ import annotations

import contextlib
import hashlib
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
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dramatiq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

CHAOS_SUBDOMAIN_PREFIX = "chaos-"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _FakeSendGrid:
    """Accepts SendGrid's mail/send and counts mails per message. The message id it answers
    is the digest of the mail's custom args (what names a Cradle delivery), so a delivery sent
    twice gets the same id twice and its row's ``provider_id`` finds the count."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                args = json.dumps(body.get("custom_args", {}), sort_keys=True)
                message_id = "chaos-" + hashlib.sha256(args.encode()).hexdigest()[:24]
                fake.received[message_id] += 1
                self.send_response(202)
                self.send_header("X-Message-Id", message_id)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


class _WebWatch:
    """Asks the web server for the studio's job list every half second, in a thread, and
    counts the answers that were not a 200 (a refused connection, a timeout, a 5xx)."""

    def __init__(self, get: object) -> None:
        self.get = get
        self.requests = 0
        self.failures: Counter[str] = Counter()
        self.slowest_ms = 0.0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped.wait(0.5):
            started = time.perf_counter()
            code, _ = self.get("GET", "/api/jobs/?state=delivered", timeout=10)
            self.slowest_ms = max(self.slowest_ms, (time.perf_counter() - started) * 1000)
            self.requests += 1
            if code != 200:
                self.failures[str(code)] += 1

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=15)


class _Timeout(Exception):
    pass


def _use_broker(broker: dramatiq.Broker) -> None:
    """Send this process's own messages (uploads, sweeps) on ``broker``: the actors were
    declared on the settings' broker at start-up, which is the developer's, not the one this
    command kills."""
    declared = dramatiq.get_broker()
    kinds = {type(middleware) for middleware in broker.middleware}
    for middleware in declared.middleware:
        if type(middleware) not in kinds:  # periodiq's: actors declared later still need it
            broker.add_middleware(middleware)
    for name in declared.get_declared_actors():
        actor = declared.get_actor(name)
        actor.broker = broker
        broker.declare_actor(actor)
    dramatiq.set_broker(broker)


class Command(BaseCommand):
    help = "Kill workers mid-render and restart the broker; check every job finishes once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kills", type=int, default=20)
        parser.add_argument("--jobs", type=int, default=6, help="scans queued for the kill phase")
        parser.add_argument("--queued", type=int, default=3, help="scans queued across the restart")
        parser.add_argument("--lease", type=int, default=6, help="job lease seconds in workers")
        parser.add_argument(
            "--outage-sends", type=int, default=3, help="jobs sent while the broker is killed"
        )
        parser.add_argument("--outage", type=float, default=5, help="seconds the broker is down")
        parser.add_argument(
            "--print-kills", type=int, default=2, help="workers killed during a print upscale"
        )
        parser.add_argument(
            "--sweep-lease",
            type=int,
            default=30,
            help="seconds after which the sweeps count a message lost (the scheduler: minutes)",
        )
        parser.add_argument("--timeout", type=int, default=1800, help="give up after (seconds)")
        parser.add_argument("--json", action="store_true")

    # Set-up -----------------------------------------------------------------------------------

    def handle(self, *args: object, **options: object) -> None:
        from dramatiq.brokers.redis import RedisBroker

        self.options = options
        self.broker_url, self.embedded = self._broker_url()
        self.broker = RedisBroker(url=self.broker_url)
        self.broker.client.flushdb()  # a clean queue: earlier runs' leftovers are not ours
        _use_broker(self.broker)
        self.mail = _FakeSendGrid()
        # Migrations print as they go; stdout is kept for the one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            self.studio = self._chaos_studio()
        self.host, self.api_key = self._api_access()
        self.deadline = time.monotonic() + int(options["timeout"])
        self.worker: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.watch: _WebWatch | None = None
        self.jobs: list[int] = []
        self.sent: set[int] = set()
        self.held: set[int] = set()  # ready jobs kept back for the broker-outage sends
        self.prints: list[int] = []
        self.next_sweep = 0.0
        self.sweep_resends = 0
        kills = broker_restarts = broker_kills = print_kills = 0
        queued_before = queued_after = 0
        outage_answers: Counter[str] = Counter()
        timed_out = False
        started = time.monotonic()
        try:
            self._start_web()
            self.watch = _WebWatch(self._api)
            try:
                self.jobs += self._queue_scans(int(options["jobs"]))
                self._start_worker()
                while kills < int(options["kills"]):
                    self._send_ready_jobs()
                    self._sweep()
                    if self._job_in_render() is not None:
                        time.sleep(random.uniform(0.2, 1.5))  # somewhere inside the render
                        self._kill_worker()
                        kills += 1
                        self._log(f"kill {kills}: worker killed mid-render; restarting")
                        self._start_worker()
                        continue
                    if self._all_finished():
                        self.jobs += self._queue_scans(2)  # work flows until all kills are done
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
                if self.embedded and int(options["outage_sends"]):
                    outage_answers = self._sends_while_the_broker_is_dead(
                        int(options["outage_sends"])
                    )
                    broker_kills = 1
                    self._wait_until_finished()
                print_kills = self._prints_with_a_worker_killed(int(options["print_kills"]))
                self._wait_until_prints_made()
            except _Timeout:
                timed_out = True
            finally:
                if self.watch is not None:
                    self.watch.stop()
                self._stop_worker()
                self._stop_web()
                self.mail.server.shutdown()
            report = self._report(
                kills=kills,
                broker_restarts=broker_restarts,
                before=queued_before,
                after=queued_after,
                broker_kills=broker_kills,
                outage_answers=outage_answers,
                print_kills=print_kills,
                timed_out=timed_out,
            )
        finally:
            self._drop_chaos_studio()
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

    def _chaos_studio(self):
        """A studio of this run's own, dropped at the end: two runs at once (two checkouts'
        test suites on one database) must not sweep each other's jobs onto their brokers."""
        from django.core.management import call_command

        from studio_portal.tenants.models import Studio
        from studio_portal.tenants.services import public_tenant_ensure, studio_create

        # A fresh machine's database may never have been migrated (CI runs no `make run`).
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        public_tenant_ensure()
        return studio_create(
            name="Chaos Studio",
            subdomain=CHAOS_SUBDOMAIN_PREFIX + os.urandom(4).hex(),
            owner_username="owner",
            owner_email="owner@chaos.example",
            owner_password=os.urandom(16).hex(),
            plan=Studio.Plan.STUDIO,
        )

    def _drop_chaos_studio(self) -> None:
        connection.set_schema_to_public()
        schema_name = self.studio.schema_name
        self.studio.delete(force_drop=True)
        shutil.rmtree(Path(settings.MEDIA_ROOT) / schema_name, ignore_errors=True)

    def _api_access(self) -> tuple[str, str]:
        """The chaos studio's host and a fresh API key of its owner, for the web server."""
        from studio_portal.accounts.models import User
        from studio_portal.api.services import api_key_create

        with schema_context(self.studio.schema_name):
            owner = User.objects.get(username="owner")
            _, raw_key = api_key_create(user=owner, name="chaos", created_by=owner)
        connection.set_schema_to_public()
        return self.studio.domains.get(is_primary=True).domain, raw_key

    def _queue_scans(self, count: int) -> list[int]:
        """Sessions and uploads in the chaos studio; their first messages go on the chaos broker
        through the outbox, as a web upload's do."""
        from PIL import Image

        from render.pipeline.phantom import make_phantom
        from render.services import parent_session_create, scan_upload

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
                job = scan_upload(session=session, data=buffer.getvalue())
                ids.append(job.pk)
        return ids

    # The web server ---------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            BROKER_URL=self.broker_url,
            DEBUG="true" if settings.DEBUG else "false",
            RENDER_JOB_LEASE_SECONDS=str(self.options["lease"]),
            # Print files only when phase 4 asks for them: the kill phases count renders and
            # deliveries, and an upscale would hold one of the two worker threads.
            PRINT_FILES_AUTOMATIC="false",
        )
        return env

    def _start_web(self) -> None:
        (settings.LOCAL_DIR / "chaos").mkdir(parents=True, exist_ok=True)
        log = open(settings.LOCAL_DIR / "chaos" / "web.log", "ab")
        port = _free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.web = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=Path(settings.BASE_DIR),
            env=self._env(),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while self._api("GET", "/healthz", timeout=2)[0] != 200:
            if time.monotonic() > deadline or self.web.poll() is not None:
                raise CommandError("the web server did not start; see .local/chaos/web.log")
            time.sleep(0.3)

    def _stop_web(self) -> None:
        if self.web is None:
            return
        os.killpg(self.web.pid, signal.SIGTERM)
        try:
            self.web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.web.pid, signal.SIGKILL)
            self.web.wait()
        self.web = None

    def _api(
        self, method: str, path: str, body: object = None, timeout: float = 30
    ) -> tuple[int, object]:
        """One request to the web server on the chaos studio's host; (0, None) when it does
        not answer at all."""
        request = urllib.request.Request(
            self.web_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Host": self.host,
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
            },
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                raw = response.read()
                code = response.status
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except OSError:
            return 0, None
        try:
            return code, json.loads(raw) if raw else None
        except ValueError:
            return code, None

    # The worker -------------------------------------------------------------------------------

    def _worker_env(self) -> dict[str, str]:
        env = self._env()
        env.update(
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
        log = open(settings.LOCAL_DIR / "chaos" / "worker.log", "ab")
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

    def _kill_embedded_broker(self) -> None:
        """kill -9 of the redis-server this command started: no SHUTDOWN, no final save."""
        from studio_portal.embedded import port_open

        pid = int(self.broker.client.info("server")["process_id"])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while port_open(self.redis_port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _start_embedded_broker(self) -> None:
        from studio_portal.embedded import embedded_redis_url

        embedded_redis_url(self.redis_dir, port=self.redis_port)

    def _restart_embedded_broker(self) -> None:
        from studio_portal.embedded import embedded_redis_url, port_open

        try:
            self.broker.client.shutdown(save=True)
        except Exception:  # noqa: BLE001 - the connection drops as the server stops
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
        except Exception:  # noqa: BLE001 - the connection drops as the server stops
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
        """A sonographer presses Send as soon as a job is ready: the web server makes the
        gallery and queues the delivery; a worker sends it."""
        from render.models import RenderJob

        with schema_context(self.studio.schema_name):
            ready = RenderJob.objects.filter(pk__in=self.jobs, state=RenderJob.State.READY)
            waiting = list(ready.exclude(pk__in=self.sent | self.held).values_list("pk", "uid"))
        connection.set_schema_to_public()
        for pk, uid in waiting:
            if self._send(uid) == 202:
                self.sent.add(pk)

    def _send(self, job_uid: object) -> int:
        """Gallery and Send through the API; the send's status code (0: no answer)."""
        code, gallery = self._api("POST", "/api/galleries/", {"job": str(job_uid)})
        if code not in (200, 201) or not isinstance(gallery, dict):
            self._log(f"making the gallery answered {code}")
            return code
        code, _ = self._api(
            "POST", f"/api/galleries/{gallery['uid']}/send/", {"channels": ["email"]}
        )
        return code

    def _sends_while_the_broker_is_dead(self, count: int) -> Counter[str]:
        """Phase 3: ready jobs are sent while redis-server is killed; the answers are counted."""
        from render.models import RenderJob

        jobs = self._queue_scans(count)
        self.jobs += jobs
        self.held |= set(jobs)
        while True:
            with schema_context(self.studio.schema_name):
                waiting = RenderJob.objects.filter(pk__in=jobs).exclude(
                    state__in=(*RenderJob.REVIEWABLE, *RenderJob.FINISHED)
                )
                if not waiting.exists():
                    break
            self._keep_worker_running()
            self._sweep()
            self._check_deadline()
            time.sleep(0.5)
        self._kill_embedded_broker()
        self._log(f"broker killed; sending {count} galleries while it is down")
        answers: Counter[str] = Counter()
        with schema_context(self.studio.schema_name):
            uids = dict(
                RenderJob.objects.filter(pk__in=jobs, state=RenderJob.State.READY).values_list(
                    "pk", "uid"
                )
            )
        connection.set_schema_to_public()
        for pk, uid in uids.items():
            code = self._send(uid)
            answers[str(code)] += 1
            if code == 202:
                self.sent.add(pk)
        time.sleep(float(self.options["outage"]))
        self._start_embedded_broker()
        self._log("broker back")
        self.held -= set(jobs)
        return answers

    def _prints_with_a_worker_killed(self, kills_wanted: int) -> int:
        """Phase 4: choose delivered jobs' primaries again through the API (which asks for
        their print files), one at a time, and kill -9 the worker while each upscale runs,
        until ``kills_wanted`` upscales were interrupted."""
        from render.models import Candidate

        with schema_context(self.studio.schema_name):
            primaries = list(
                Candidate.objects.filter(job__in=self.jobs, is_primary=True, print_image="")
                .order_by("job_id")
                .values_list("pk", flat=True)
            )
        connection.set_schema_to_public()
        kills = 0
        for pk in primaries:
            if kills >= kills_wanted:
                break
            code, _ = self._api("POST", f"/api/candidates/{pk}/primary/")
            if code != 200:
                self._log(f"choosing primary {pk} answered {code}")
                continue
            self.prints.append(pk)
            if self._print_started(pk):
                time.sleep(random.uniform(0.3, 2.0))  # somewhere inside the upscale
                self._kill_worker()
                kills += 1
                self._log(f"print kill {kills}: worker killed mid-upscale; restarting")
                self._start_worker()
        return kills

    def _print_started(self, candidate_id: int) -> bool:
        """Wait until a worker has begun this candidate's upscale (its try is counted first)."""
        from render.models import Candidate

        while True:
            with schema_context(self.studio.schema_name):
                candidate = Candidate.objects.get(pk=candidate_id)
            if candidate.print_image:
                return False  # made before it could be interrupted
            if candidate.print_attempts >= 1:
                return True
            self._keep_worker_running()
            self._sweep()
            self._check_deadline()
            time.sleep(0.1)

    def _wait_until_prints_made(self) -> None:
        from render.models import Candidate

        while True:
            with schema_context(self.studio.schema_name):
                pending = [
                    c
                    for c in Candidate.objects.filter(pk__in=self.prints)
                    if not c.print_image and not c.print_given_up
                ]
            if not pending:
                return
            self._keep_worker_running()
            self._sweep()
            self._check_deadline()
            time.sleep(0.5)

    def _sweep(self) -> None:
        """What the scheduler's sweeps do every minute, every two seconds with short leases."""
        from galleries.services.sending import deliveries_sweep_due
        from render.print_size import candidate_prints_sweep_due
        from render.services import render_jobs_sweep_due

        if time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + 2
        lease = timedelta(seconds=int(self.options["sweep_lease"]))
        with schema_context(self.studio.schema_name):
            self.sweep_resends += render_jobs_sweep_due(lease=lease).requeued
            self.sweep_resends += deliveries_sweep_due(lease=lease).requeued
            # Longer than an upscale takes on a busy CPU, so a print being made is not redone.
            self.sweep_resends += candidate_prints_sweep_due(lease=lease * 4)
        connection.set_schema_to_public()

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
            self._keep_worker_running()
            self._sweep()
            self._check_deadline()
            time.sleep(0.5)

    def _keep_worker_running(self) -> None:
        if self.worker is not None and self.worker.poll() is not None:
            self._log("the worker exited by itself; restarting it")
            self._start_worker()

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            self._log(f"still unfinished after {self.options['timeout']} s; reporting")
            raise _Timeout

    def _log(self, message: str) -> None:
        self.stderr.write(f"[chaos] {message}")

    # Counting ---------------------------------------------------------------------------------

    def _report(
        self,
        *,
        kills: int,
        broker_restarts: int,
        before: int,
        after: int,
        broker_kills: int,
        outage_answers: Counter[str],
        print_kills: int,
        timed_out: bool,
    ) -> dict:
        from galleries.models import Delivery
        from render.models import Candidate, RenderJob

        with schema_context(self.studio.schema_name):
            jobs = RenderJob.objects.filter(pk__in=self.jobs)
            states = Counter(jobs.values_list("state", flat=True))
            deliveries = list(
                Delivery.objects.filter(gallery__job__in=jobs).values_list(
                    "gallery__job", "status", "provider_id"
                )
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
            prints = list(Candidate.objects.filter(pk__in=self.prints))
        per_job = Counter(job for job, _, _ in deliveries)
        mails = [self.mail.received.get(provider_id, 0) for _, _, provider_id in deliveries]
        expected = settings.RENDER_CANDIDATES
        n = len(self.jobs)
        outage_sends = sum(outage_answers.values())
        report = {
            "broker": self.broker_url,
            "kills": kills,
            "broker_restarts": broker_restarts,
            "messages_queued_before_restart": before,
            "messages_queued_after_restart": after,
            "broker_kills": broker_kills,
            "sends_while_broker_dead": outage_sends,
            "send_answers_while_broker_dead": dict(outage_answers),
            "print_kills": print_kills,
            "jobs": n,
            "states": dict(states),
            "jobs_delivered": states.get(RenderJob.State.DELIVERED, 0),
            "jobs_with_one_delivery": sum(1 for pk in self.jobs if per_job.get(pk) == 1),
            "emails_received": sum(mails),
            "deliveries_with_exactly_one_email": sum(1 for m in mails if m == 1),
            "jobs_with_a_full_candidate_set": sum(
                1 for pk in self.jobs if candidates.get(pk) == expected
            ),
            "jobs_with_one_primary": sum(1 for pk in self.jobs if primaries.get(pk) == 1),
            "stage_claims_total": sum(attempts),
            "sweep_resends": self.sweep_resends,
            "lost_jobs": n - sum(states.values()),
            # A job sent but no email received, or one never sent at all: the parent has nothing.
            "lost_deliveries": sum(1 for m in mails if m == 0)
            + sum(1 for pk in self.jobs if pk not in per_job),
            "stuck_jobs": sum(
                count for state, count in states.items() if state not in RenderJob.FINISHED
            ),
            "print_files_asked": len(prints),
            "print_files_made": sum(1 for c in prints if c.print_image),
            "print_tries_total": sum(c.print_attempts for c in prints),
            "missing_print_files": sum(1 for c in prints if not c.print_image),
            "web_requests": self.watch.requests,
            "web_failures": dict(self.watch.failures),
            "web_slowest_ms": round(self.watch.slowest_ms),
            "web_answered_throughout": self.watch.requests > 0 and not self.watch.failures,
            "timed_out": timed_out,
        }
        report["ok"] = (
            not timed_out
            and report["jobs_delivered"] == n
            and report["jobs_with_one_delivery"] == n
            and report["deliveries_with_exactly_one_email"] == n == len(mails)
            and report["jobs_with_a_full_candidate_set"] == n
            and report["jobs_with_one_primary"] == n
            and report["lost_jobs"] == report["lost_deliveries"] == report["stuck_jobs"] == 0
            and report["missing_print_files"] == 0
            and report["web_answered_throughout"]
            and outage_answers.get("202", 0) == outage_sends
            and kills == int(self.options["kills"])
            and print_kills == int(self.options["print_kills"])
        )
        connection.set_schema_to_public()
        return report
