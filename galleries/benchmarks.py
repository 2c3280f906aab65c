"""Benchmarks for the gallery page and the retention sweep; run through ``manage.py bench``.

``gallery``: a real gunicorn server (one sync worker, DEBUG off) on localhost over the same
database, timing the parent's gallery page against ``/favicon.ico`` (a bare Django view behind
the same middleware; ``/healthz`` answers before it), interleaved so both see the same load.

``retention``: 100 studios × 1,000 scans swept by ``scans_purge_expired``. Making 100 migrated
schemas the normal way takes minutes, so one is migrated and the other 99 are copies made with
the base schema's ``pg_dump --schema-only`` DDL replayed under new names (django-tenants'
``clone_schema`` when no pg_dump is found); only the sweep is timed.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import TAG_TEXT

Log = Callable[[str], None]
IDLE_BETWEEN_REQUESTS_S = 0.005


# Gallery page ---------------------------------------------------------------------------------


def _jpeg(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def _bench_gallery_make() -> tuple[object, object]:
    from galleries.services.gallery import gallery_create
    from render.models import Candidate, ParentSession, RenderJob

    session = ParentSession.objects.create(
        parent_name="benchmark",
        email="bench@example.com",
        consent_at=timezone.now(),
        consent_text_version=settings.CONSENT_TEXT_VERSION,
        skin_swatches=["#a07e56"],
        target_tone_hex="#a07e56",
    )
    job = RenderJob.objects.create(session=session, base_seed=1, state=RenderJob.State.READY)
    for rank in range(3):
        candidate = Candidate(
            job=job, seed=rank, rank=rank, score=1.0, is_primary=rank == 0, shared_with_parent=True
        )
        data = ContentFile(_jpeg((640, 640), (200, 160 + rank * 20, 130)))
        candidate.image.save(f"bench-{rank}.jpg", data, save=False)
        candidate.web_image.save(f"bench-web-{rank}.jpg", data, save=False)
        candidate.save()
    return session, gallery_create(job=job)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, host: str, path: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return response.status, body, elapsed


def _server_start(port: int, log: Log) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        # DEBUG off demands real secrets; the benchmark's server gets throwaway ones.
        "SECRET_KEY": secrets.token_urlsafe(40),
        # The page never decrypts a scan; production refuses the development key.
        "SCAN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "studio_portal.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--log-level",
        "warning",
    ]
    # The server's log goes to a file: an unread pipe fills up and then blocks the worker.
    server_log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=server_log,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            server_log.seek(0)
            raise RuntimeError(f"gunicorn exited: {server_log.read().decode()[-2000:]}")
        try:
            if _get(port, "localhost", "/healthz")[0] in (200, 404):
                log(f"gunicorn up on 127.0.0.1:{port}")
                return server
        except OSError:
            time.sleep(0.3)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError("gunicorn did not start within 90 s")


# The baseline: a cached view behind the same middleware as the gallery page (host lookup,
# sessions, security headers), so the ratio measures the page's own work.
BASELINE_PATH = "/favicon.ico"


def bench_gallery(*, runs: int, log: Log) -> dict[str, object]:
    """Median latency of a gallery page vs ``/favicon.ico`` on one running server, in a throwaway
    studio of its own that is dropped afterwards (nothing lands in the demo studio)."""
    from studio_portal.tenants.services import studio_throwaway

    with (
        contextlib.redirect_stdout(sys.stderr),  # the new schema's migrations print
        studio_throwaway(prefix="scratch-gallery", name="bench gallery") as studio,
    ):
        return _bench_gallery_in(studio, runs=runs, log=log)


def _bench_gallery_in(studio: object, *, runs: int, log: Log) -> dict[str, object]:
    host = studio.domains.get(is_primary=True).domain
    with schema_context(studio.schema_name):
        session, gallery = _bench_gallery_make()
    page = f"/g/{gallery.token}/"
    port = _free_port()
    server = _server_start(port, log)
    requests = max(200, 100 * runs)
    try:
        status, body, _ = _get(port, host, page)
        if status != 200 or TAG_TEXT.encode() not in body:
            raise RuntimeError(f"the gallery page answered {status} without the tag")
        for _ in range(30):  # warm both paths: imports, template cache, connections
            _get(port, host, page)
            _get(port, host, BASELINE_PATH)
        page_ms: list[float] = []
        health_ms: list[float] = []
        for i in range(requests):
            # Alternate which goes first so neither always follows the other.
            order = (page, BASELINE_PATH) if i % 2 else (BASELINE_PATH, page)
            for path in order:
                # Each request meets an idle server: the page counts its open after it is sent,
                # and that write must not be billed to whichever request comes next.
                time.sleep(IDLE_BETWEEN_REQUESTS_S)
                status, _, ms = _get(port, host, path)
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
                (page_ms if path == page else health_ms).append(ms)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        with schema_context(studio.schema_name):
            for candidate in gallery.job.candidates.all():
                for field_file in (candidate.image, candidate.web_image):
                    field_file.delete(save=False)
            session.delete()
    median, baseline = statistics.median(page_ms), statistics.median(health_ms)
    max_age = settings.DATABASES["default"].get("CONN_MAX_AGE", 0)
    log(
        f"{requests} requests each: gallery median {median:.2f} ms "
        f"(p90 {statistics.quantiles(page_ms, n=10)[-1]:.2f}), "
        f"{BASELINE_PATH} median {baseline:.2f} ms"
    )
    return {
        "median_ms": round(median, 3),
        "baseline_median_ms": round(baseline, 3),
        "ratio": round(median / baseline, 3),
        "requests_each": requests,
        "server": (
            "gunicorn, 1 sync worker, DEBUG off, new TCP connection per request, "
            f"{IDLE_BETWEEN_REQUESTS_S * 1000:.0f} ms idle before each"
        ),
        "database_connections": (
            "new per request (CONN_MAX_AGE 0)" if max_age == 0 else f"kept (CONN_MAX_AGE {max_age})"
        ),
    }


# Retention sweep ------------------------------------------------------------------------------

BENCH_PREFIX = "bench_ret_"


def _bench_studios_drop() -> None:
    from studio_portal.tenants.models import Studio

    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [BENCH_PREFIX + "%"]
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP SCHEMA "{name}" CASCADE')
    Studio.objects.filter(schema_name__startswith=BENCH_PREFIX).delete()


def _pg_dump_binary() -> str | None:
    """The embedded server's own pg_dump first (a system one may be an older major version)."""
    try:
        import pgserver
    except ImportError:
        return shutil.which("pg_dump")
    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return str(bundled) if bundled.exists() else shutil.which("pg_dump")


def _schema_ddl(schema: str) -> str | None:
    """The schema's tables, indexes and constraints as SQL (``pg_dump --schema-only``)."""
    binary = _pg_dump_binary()
    if binary is None:
        return None
    db = settings.DATABASES["default"]
    command = [binary, "--schema-only", "--no-owner", "--no-privileges", "-n", schema]
    command += ["-d", str(db["NAME"]), "-U", str(db["USER"] or "postgres")]
    if db.get("HOST"):
        command += ["-h", str(db["HOST"])]
    if db.get("PORT"):
        command += ["-p", str(db["PORT"])]
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    return done.stdout if done.returncode == 0 else None


def _bench_studios_make(studios: int, log: Log) -> list[str]:
    from django_tenants.clone import CloneSchema

    from studio_portal.tenants.models import Studio

    base = f"{BENCH_PREFIX}000"
    started = time.perf_counter()
    Studio(schema_name=base, name="Retention bench 0").save(verbosity=0)  # creates + migrates
    log(f"migrated {base} in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    names = [f"{BENCH_PREFIX}{n:03d}" for n in range(1, studios)]
    ddl = _schema_ddl(base)
    with connection.cursor() as cursor:
        for name in names:
            if ddl is not None:  # replaying the DDL takes ~0.2 s; clone_schema ~10 s
                cursor.execute(ddl.replace(base, name))
            else:
                CloneSchema().clone_schema(base, name, clone_mode="NODATA")
    connection.set_schema_to_public()
    # bulk_create skips Studio.save(), so no second schema is created for the copies.
    Studio.objects.bulk_create(
        [Studio(schema_name=name, name=f"Retention bench {name[-3:]}") for name in names]
    )
    how = "pg_dump DDL" if ddl is not None else "clone_schema"
    log(f"copied {len(names)} schemas ({how}) in {time.perf_counter() - started:.1f} s")
    return [base, *names]


def _bench_scans_fill(schemas: list[str], per_studio: int, expired_share: float, log: Log) -> int:
    """``per_studio`` scans in each studio; the expired ones have files on disk."""
    from galleries.services.retention import scan_derivative_field_names
    from render.models import ParentSession, Scan

    started = time.perf_counter()
    fields = scan_derivative_field_names()
    file_fields = fields[:3]  # encrypted original, de-identified image, cues: real files
    media = Path(settings.MEDIA_ROOT)
    now = timezone.now()
    old, fresh = now - timedelta(days=120), now - timedelta(days=5)
    expired_per_studio = int(per_studio * expired_share)
    files = 0
    for schema in schemas:
        with schema_context(schema):
            session = ParentSession.objects.create(
                parent_name="bench",
                consent_at=now,
                consent_text_version="bench",
                skin_swatches=["#a07e56"],
                target_tone_hex="#a07e56",
            )
            scans = []
            for n in range(per_studio):
                expired = n < expired_per_studio
                folder = f"{schema}/scans/{n:05d}"
                paths = {name: f"{folder}/{name}.bin" for name in fields}
                if expired:
                    (media / folder).mkdir(parents=True, exist_ok=True)
                    for name in file_fields:
                        (media / paths[name]).write_bytes(b"x")
                        files += 1
                scans.append(
                    Scan(
                        session=session,
                        sha256="0" * 64,
                        detected_type="jpeg",
                        size_bytes=1,
                        width=1,
                        height=1,
                        **{name: paths[name] for name in (file_fields if expired else fields)},
                    )
                )
            Scan.objects.bulk_create(scans, batch_size=1000)
            # auto_now_add ignores a given created_at: set the upload times afterwards.
            ids = [s.pk for s in scans]
            Scan.objects.filter(pk__in=ids[:expired_per_studio]).update(created_at=old)
            Scan.objects.filter(pk__in=ids[expired_per_studio:]).update(created_at=fresh)
    elapsed = time.perf_counter() - started
    log(f"filled {len(schemas) * per_studio} scans, {files} files in {elapsed:.1f} s")
    return files


def bench_retention(
    *, runs: int, log: Log, studios: int = 100, per_studio: int = 1000
) -> dict[str, object]:
    """One sweep over ``studios × per_studio`` scans, half past the window (3 files each)."""
    from galleries.services.retention import scans_purge_expired
    from render.models import Scan
    from studio_portal.audit.models import AuditLogEntry

    media = Path(tempfile.mkdtemp(prefix="cradle-retention-bench-"))
    _bench_studios_drop()
    try:
        with override_settings(MEDIA_ROOT=media):
            schemas = _bench_studios_make(studios, log)
            files = _bench_scans_fill(schemas, per_studio, 0.5, log)
            started = time.perf_counter()
            purged = deleted_files = 0
            for schema in schemas:
                with schema_context(schema):
                    report = scans_purge_expired()
                purged += report.scans
                deleted_files += report.files
            seconds = time.perf_counter() - started
            left_on_disk = sum(1 for path in media.rglob("*.bin"))
            with schema_context(schemas[-1]):
                audit_rows = AuditLogEntry.objects.filter(action="scan.purged").count()
                kept = Scan.objects.filter(purged_at__isnull=True).count()
    finally:
        _bench_studios_drop()
        shutil.rmtree(media, ignore_errors=True)
    log(
        f"swept {studios * per_studio} scans in {studios} studios: {purged} purged, "
        f"{deleted_files} files deleted ({left_on_disk} of {files} left) in {seconds:.2f} s"
    )
    return {
        "seconds": round(seconds, 3),
        "scans": studios * per_studio,
        "studios": studios,
        "purged": purged,
        "files_deleted": files - left_on_disk,
        "audit_rows_last_studio": audit_rows,
        "kept_last_studio": kept,
    }
