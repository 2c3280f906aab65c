"""Scans and portraits on S3: the real boto3 and django-storages stack against a local moto S3
server, configured by the settings module itself from STORAGE_BACKEND=s3 and the AWS_* variables.
Every claim is checked by reading the bucket back with a plain boto3 client."""

from __future__ import annotations

import runpy
import uuid

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import schema_context
from moto.server import ThreadedMotoServer

from galleries.services.gallery import gallery_create
from galleries.services.retention import scans_purge_expired
from galleries.tests.factories import parent_session, ready_job_with_portraits, scan_with_files
from render.models import Candidate, Scan
from render.services import render_job_check_run, scan_decrypt

REGION = "eu-west-1"
SETTINGS_FILE = django_settings.BASE_DIR / "studio_portal" / "settings.py"


def _settings_from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    """Evaluate studio_portal/settings.py afresh with these variables, as a server would."""
    with monkeypatch.context() as patch:
        # A DATABASE_URL only gets parsed: no embedded PostgreSQL is started for this.
        patch.setenv("DATABASE_URL", "postgres://cradle@127.0.0.1:5432/cradle")
        for name in ("AWS_S3_REGION_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_SSE"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        return runpy.run_path(str(SETTINGS_FILE))


@pytest.fixture(scope="module")
def moto_endpoint():
    """A local S3 on a free port, with throwaway credentials in the environment for boto3."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing-key")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_SECURITY_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def bucket(moto_endpoint, settings, monkeypatch):
    """A new private bucket; Django's default storage is what settings.py makes of
    STORAGE_BACKEND=s3 pointing at it."""
    name = f"cradle-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    configured = _settings_from_env(
        monkeypatch,
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME=name,
        AWS_S3_REGION_NAME=REGION,
        AWS_S3_ENDPOINT_URL=moto_endpoint,
        AWS_S3_SSE="AES256",
    )
    settings.STORAGES = configured["STORAGES"]  # setting_changed drops the cached storages
    # The file fields hold the lazy default_storage, so they follow the override.
    assert Scan._meta.get_field("deidentified").storage is default_storage
    assert Candidate._meta.get_field("web_image").storage is default_storage
    assert type(default_storage._wrapped).__name__ != "FileSystemStorage"
    assert default_storage.bucket_name == name
    return s3, name


def _keys(s3, bucket_name: str, prefix: str = "") -> set[str]:
    listing = s3.list_objects_v2(Bucket=bucket_name, Prefix=prefix)
    return {item["Key"] for item in listing.get("Contents", [])}


def _read(s3, bucket_name: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket_name, Key=key)["Body"].read()


def test_storage_backend_s3_gives_a_private_never_overwriting_encrypted_s3_storage(
    monkeypatch,
) -> None:
    configured = _settings_from_env(
        monkeypatch,
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME="cradle-files",
        AWS_S3_REGION_NAME="eu-central-1",
        AWS_S3_ENDPOINT_URL="http://minio.internal:9000",
        AWS_S3_SSE="AES256",
    )
    default = configured["STORAGES"]["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"] == {
        "bucket_name": "cradle-files",
        "region_name": "eu-central-1",
        "endpoint_url": "http://minio.internal:9000",
        "addressing_style": None,
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
        "object_parameters": {"ServerSideEncryption": "AES256"},
    }
    plain = _settings_from_env(monkeypatch, STORAGE_BACKEND="s3", AWS_STORAGE_BUCKET_NAME="b")
    assert plain["STORAGES"]["default"]["OPTIONS"]["object_parameters"] == {}
    assert plain["STORAGES"]["default"]["OPTIONS"]["endpoint_url"] is None
    local = _settings_from_env(
        monkeypatch, STORAGE_BACKEND="django.core.files.storage.FileSystemStorage"
    )
    assert "OPTIONS" not in local["STORAGES"]["default"]


def test_s3_without_a_bucket_or_with_an_unknown_encryption_refuses_to_start(monkeypatch) -> None:
    monkeypatch.delenv("AWS_STORAGE_BUCKET_NAME", raising=False)
    with pytest.raises(ImproperlyConfigured, match="needs AWS_STORAGE_BUCKET_NAME"):
        _settings_from_env(monkeypatch, STORAGE_BACKEND="s3")
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_SSE must be AES256, aws:kms or unset"):
        _settings_from_env(
            monkeypatch, STORAGE_BACKEND="s3", AWS_STORAGE_BUCKET_NAME="b", AWS_S3_SSE="yes"
        )


def test_an_uploaded_scan_lands_encrypted_under_the_studios_prefix_in_the_bucket(
    bucket, studio, client_a, phantom_jpeg, settings
) -> None:
    s3, name = bucket
    with schema_context(studio.schema_name):
        session = parent_session()
    response = client_a.post(
        f"/sessions/{session.uid}/upload/",
        {"scan": SimpleUploadedFile("scan.jpg", phantom_jpeg, content_type="image/jpeg")},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    with schema_context(studio.schema_name):
        scan = Scan.objects.get(session=session)
        prefix = f"alpha/scans/{scan.uid}/"
        assert _keys(s3, name, prefix) == {scan.original_encrypted.name}  # until the check
        render_job_check_run(job_id=scan.jobs.get().pk, enqueue=False)  # the worker's stage
        scan.refresh_from_db()
    assert scan.original_encrypted.name.startswith(prefix)
    assert _keys(s3, name, prefix) == {scan.original_encrypted.name, scan.deidentified.name}
    stored = _read(s3, name, scan.original_encrypted.name)
    assert stored != phantom_jpeg and phantom_jpeg[:64] not in stored  # encrypted at rest
    assert scan_decrypt(stored) == phantom_jpeg
    assert _read(s3, name, scan.deidentified.name).startswith(b"\x89PNG\r\n\x1a\n")
    head = s3.head_object(Bucket=name, Key=scan.original_encrypted.name)
    assert head["ServerSideEncryption"] == "AES256"
    grants = s3.get_object_acl(Bucket=name, Key=scan.original_encrypted.name)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]  # the owner alone
    assert "URI" not in grants[0]["Grantee"]  # not AllUsers or AuthenticatedUsers
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*.*"))


def test_the_retention_sweep_deletes_the_scans_objects_and_keeps_the_portraits(
    bucket, studio
) -> None:
    s3, name = bucket
    with schema_context(studio.schema_name):
        session = parent_session()
        old = scan_with_files(session, age_days=91)
        young = scan_with_files(session, age_days=1)
        job = ready_job_with_portraits(scan=old)
        portraits = {
            field.name: field.read()
            for candidate in job.candidates.all()
            for field in (candidate.image, candidate.web_image, candidate.print_image)
        }
        old_keys = {field.name for field in old.derivative_fields()}
        young_keys = {field.name for field in young.derivative_fields()}
        assert len(old_keys) == 7 and old_keys == _keys(s3, name, f"alpha/scans/{old.uid}/")
        assert len(portraits) == 9 and set(portraits) <= _keys(s3, name, "alpha/portraits/")

        report = scans_purge_expired()

        assert report.scan_ids == [old.pk] and report.files == 7
        old.refresh_from_db()
        assert old.purged_at is not None
    assert _keys(s3, name, f"alpha/scans/{old.uid}/") == set()
    assert _keys(s3, name, f"alpha/scans/{young.uid}/") == young_keys
    for key, data in portraits.items():
        assert _read(s3, name, key) == data


def test_portraits_stream_from_the_bucket_to_the_studio_and_the_parent(
    bucket, studio, client_a
) -> None:
    s3, name = bucket
    with schema_context(studio.schema_name):
        gallery = gallery_create(job=ready_job_with_portraits(shared=2, unshared=0))
        primary = gallery.job.candidates.get(rank=0)
    in_bucket = _read(s3, name, primary.web_image.name)
    assert in_bucket[:3] == b"\xff\xd8\xff"

    studio_copy = client_a.get(f"/files/candidates/{primary.pk}/web/")
    assert studio_copy.status_code == 200 and studio_copy["Content-Type"] == "image/jpeg"
    assert b"".join(studio_copy.streaming_content) == in_bucket

    parent_copy = Client(HTTP_HOST="alpha.localhost").get(f"/g/{gallery.token}/p/{primary.pk}/")
    assert parent_copy.status_code == 200
    assert b"".join(parent_copy.streaming_content) == in_bucket


def test_an_object_gone_from_the_bucket_is_a_404_on_the_studios_file_view(
    bucket, studio, client_a
) -> None:
    s3, name = bucket
    with schema_context(studio.schema_name):
        primary = ready_job_with_portraits(shared=1, unshared=0).candidates.get(rank=0)
    s3.delete_object(Bucket=name, Key=primary.web_image.name)
    assert client_a.get(f"/files/candidates/{primary.pk}/web/").status_code == 404


def test_a_second_file_with_the_same_name_never_overwrites_the_first(bucket) -> None:
    s3, name = bucket
    first = default_storage.save("alpha/portraits/same/web.jpg", ContentFile(b"first"))
    second = default_storage.save("alpha/portraits/same/web.jpg", ContentFile(b"second"))
    assert first == "alpha/portraits/same/web.jpg" and second != first
    assert _read(s3, name, first) == b"first" and _read(s3, name, second) == b"second"


def test_the_cached_default_storage_goes_back_to_local_disk_after_the_override(
    bucket, settings
) -> None:
    # Overriding STORAGES again (as the fixture's teardown does) must reach the lazy
    # default_storage the file fields hold, or later tests would write to a stopped server.
    settings.STORAGES = {
        **django_settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    saved = Scan._meta.get_field("deidentified").storage.save("x.txt", ContentFile(b"local"))
    assert (settings.MEDIA_ROOT / saved).read_bytes() == b"local"
