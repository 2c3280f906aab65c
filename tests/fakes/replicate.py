"""A small local HTTP server that answers like Replicate's predictions API, so the hosted
engine's tests run the real ``replicate`` SDK and assert on what the provider would have
received. Scenarios: slow answers, 5xx, a failed or never-ending prediction, malformed output."""

from __future__ import annotations

import base64
import io
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from tests.fakes.providers import RecordedRequest

PAINT = (200, 40, 160)  # the colour the fake model paints: easy to find in a composite


def png_bytes(width: int, height: int, colour: tuple[int, int, int] = PAINT) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), colour, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri_image(uri: str) -> np.ndarray:
    header, payload = uri.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


@dataclass
class FakeReplicate:
    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    predictions: dict[str, dict] = field(default_factory=dict)
    # Status codes the next prediction creations answer with, in turn, before one succeeds.
    create_failures: list[int] = field(default_factory=list)
    # Status codes the next polls answer with, in turn.
    poll_failures: list[int] = field(default_factory=list)
    # Polls a prediction stays "processing" before it finishes (None: it never does).
    polls_to_finish: int | None = 2
    # Seconds every poll waits before answering.
    poll_delay_s: float = 0.0
    # "failed": the model fails; "not-a-list", "too-few", "not-images", "garbage": bad output.
    outcome: str = "succeeded"
    predict_time: float = 3.25

    def calls(self, method: str, prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def creations(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/predictions")]


def _prediction(state: FakeReplicate, pid: str, model: str, version: str, body: dict) -> dict:
    return {
        "id": pid,
        "model": model,
        "version": version,
        "status": "starting",
        "input": body.get("input"),
        "output": None,
        "logs": "",
        "error": None,
        "metrics": {},
        "created_at": "2026-12-03T20:00:00Z",
        "started_at": None,
        "completed_at": None,
        "urls": {
            "get": f"{state.url}/v1/predictions/{pid}",
            "cancel": f"{state.url}/v1/predictions/{pid}/cancel",
        },
        "_polls": 0,
    }


def _finish(state: FakeReplicate, prediction: dict) -> None:
    count = int(prediction["input"]["num_outputs"])
    width, height = int(prediction["input"]["width"]), int(prediction["input"]["height"])
    pid = prediction["id"]
    prediction["completed_at"] = "2026-12-03T20:00:04Z"
    prediction["metrics"] = {"predict_time": state.predict_time}
    if state.outcome == "failed":
        prediction.update(status="failed", error="CUDA out of memory")
        return
    prediction["status"] = "succeeded"
    urls = [f"{state.url}/files/{pid}-{i}.png?w={width}&h={height}" for i in range(count)]
    if state.outcome == "not-a-list":
        prediction["output"] = {"images": urls}
    elif state.outcome == "too-few":
        prediction["output"] = urls[:1]
    elif state.outcome == "not-images":
        prediction["output"] = [f"{state.url}/files/{pid}-{i}.txt" for i in range(count)]
    elif state.outcome == "data-uris":
        uri = "data:image/png;base64," + base64.b64encode(png_bytes(width, height)).decode()
        prediction["output"] = [uri] * count
    else:
        prediction["output"] = urls
    prediction["logs"] = "100%|##########| 4/4"


def start_fake_replicate() -> tuple[FakeReplicate, ThreadingHTTPServer]:
    counter = itertools.count(1)
    state = FakeReplicate()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _record(self) -> bytes:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
            )
            return body

        def _reply(self, status: int, payload: object, content_type: str = "") -> None:
            if isinstance(payload, bytes):
                data = payload
            else:
                data = json.dumps(payload).encode()
                content_type = content_type or "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def _public(self, prediction: dict) -> dict:
            return {k: v for k, v in prediction.items() if not k.startswith("_")}

        def do_POST(self) -> None:
            body = json.loads(self._record() or b"{}")
            if self.headers.get("Authorization") != "Bearer r8_test_token":
                self._reply(401, {"title": "Unauthenticated", "detail": "Invalid token."})
                return
            path = self.path.split("?")[0]
            if path.endswith("/cancel"):
                pid = path.split("/")[3]
                with lock:
                    prediction = state.predictions.get(pid)
                    if prediction is None:
                        self._reply(404, {"detail": "Not found."})
                        return
                    if prediction["status"] not in ("succeeded", "failed"):
                        prediction["status"] = "canceled"
                    self._reply(200, self._public(prediction))
                return
            if path.endswith("/predictions"):
                with lock:
                    if state.create_failures:
                        status = state.create_failures.pop(0)
                        self._reply(status, {"title": "Server error", "detail": "try again"})
                        return
                    pid = f"pred{next(counter):04d}"
                    parts = path.split("/")
                    model = f"{parts[3]}/{parts[4]}" if len(parts) >= 6 else "owner/pinned"
                    version = body.get("version", "")
                    state.predictions[pid] = _prediction(state, pid, model, version, body)
                    self._reply(201, self._public(state.predictions[pid]))
                return
            self._reply(404, {"detail": "Not found."})

        def do_GET(self) -> None:
            self._record()
            path, _, query = self.path.partition("?")
            if path.startswith("/files/"):
                if path.endswith(".txt"):
                    self._reply(200, b"this is not a picture", "text/plain")
                    return
                params = dict(p.split("=") for p in query.split("&") if "=" in p)
                self._reply(
                    200, png_bytes(int(params.get("w", 64)), int(params.get("h", 64))), "image/png"
                )
                return
            if path.startswith("/v1/predictions/"):
                if state.poll_delay_s:
                    time.sleep(state.poll_delay_s)
                with lock:
                    if state.poll_failures:
                        status = state.poll_failures.pop(0)
                        self._reply(status, {"title": "Server error", "detail": "try again"})
                        return
                    prediction = state.predictions.get(path.split("/")[3])
                    if prediction is None:
                        self._reply(404, {"detail": "Not found."})
                        return
                    if prediction["status"] in ("starting", "processing"):
                        prediction["_polls"] += 1
                        prediction["status"] = "processing"
                        prediction["logs"] = "50%|#####     | 2/4"
                        if (
                            state.polls_to_finish is not None
                            and prediction["_polls"] >= state.polls_to_finish
                        ):
                            _finish(state, prediction)
                    self._reply(200, self._public(prediction))
                return
            self._reply(404, {"detail": "Not found."})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
