"""schemathesis against the OpenAPI document: generated requests (valid and invalid) for every
operation, with a real API key on a studio's host, through the WSGI app. No request may get a
server error. Bounded: a few examples per operation, offline, in one test."""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode, urlsplit

import hypothesis
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, Phase, given
from schemathesis.generation import GenerationMode

from tests.api.conftest import api_client_for
from tests.test_studio_isolation import _make_finished_job

EXAMPLES_PER_OPERATION = 10


def send_with_django_client(client: Client, case, headers: dict[str, str]):
    """Send a schemathesis case through Django's test client (this test's connection and
    transaction), using schemathesis' own serialization of path, query and body."""
    request = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    query = request.get("params") or {}
    path = urlsplit(request["url"]).path + ("?" + urlencode(query, doseq=True) if query else "")
    headers = dict(request["headers"])
    content_type = headers.pop("Content-Type", "application/octet-stream")
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    extra["HTTP_HOST"] = headers.get("Host", "")
    if "json" in request:
        return client.generic(
            case.method, path, json.dumps(request["json"]), "application/json", **extra
        )
    data = request.get("data")
    if isinstance(data, list) and all(isinstance(i, tuple) and len(i) == 2 for i in data):
        data = dict(data)
    elif not isinstance(data, (bytes, str, dict, type(None))):
        data = json.dumps(data)  # a negative case: a body of the wrong shape, sent as it is
    if isinstance(data, dict) or request.get("files"):
        form: dict[str, object] = {}
        for key, value in (data or {}).items():
            form[key] = (
                SimpleUploadedFile("upload.bin", value) if isinstance(value, bytes) else value
            )
        files = request.get("files") or []
        for key, value in files.items() if isinstance(files, dict) else files:
            # requests' shape: (filename, content or file object[, content type])
            filename, content = (value[0], value[1]) if isinstance(value, tuple) else (key, value)
            content = content.read() if hasattr(content, "read") else content
            if not isinstance(content, bytes):
                content = str(content).encode()
            form[key] = SimpleUploadedFile(os.path.basename(str(filename)) or "upload.bin", content)
        return client.generic(
            case.method, path, encode_multipart(BOUNDARY, form), MULTIPART_CONTENT, **extra
        )
    return client.generic(case.method, path, data or b"", content_type, **extra)


def test_no_generated_request_gets_a_server_error(studio) -> None:
    client, raw_key = api_client_for(studio, "owner")
    with schema_context(studio.schema_name):
        _make_finished_job("alpha")  # real rows, so list and detail endpoints have something
    document = client.get("/api/schema/?format=json")
    assert document.status_code == 200
    schema = schemathesis.openapi.from_dict(json.loads(document.content))
    django_client = Client(raise_request_exception=False)
    headers = {
        "Host": studio.domains.get(is_primary=True).domain,
        "Authorization": f"Bearer {raw_key}",
    }
    server_errors: list[str] = []
    calls = {"count": 0}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case) -> None:
            response = send_with_django_client(django_client, case, headers)
            calls["count"] += 1
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        call()
    print(
        f"schemathesis: {len(operations)} operations, {calls['count']} requests, "
        f"{len(server_errors)} server errors"
    )
    assert server_errors == []
