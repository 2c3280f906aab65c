"""Small local HTTP servers that answer like SendGrid and Twilio, so tests run the real SDKs
and assert on the requests the providers would have received."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class FakeProviders:
    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    # Set to a status code to make the next provider calls fail that way.
    fail_with: int | None = None
    # The provider's error code in that failure (Twilio: 21211 invalid number, 21610 the
    # recipient replied STOP).
    fail_code: int = 21211

    def emails(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v3/mail/send"]

    def sms(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/Messages.json")]


def start_fake_providers() -> tuple[FakeProviders, ThreadingHTTPServer]:
    counter = itertools.count(1)
    state = FakeProviders(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(
                RecordedRequest("POST", self.path, dict(self.headers.items()), body)
            )
            if state.fail_with:
                self._reply(state.fail_with, {"message": "fake failure", "code": state.fail_code})
                return
            n = next(counter)
            if self.path == "/v3/mail/send":
                self.send_response(202)
                self.send_header("X-Message-Id", f"sg-{n}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path.endswith("/Messages.json"):
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                self._reply(
                    201,
                    {
                        "sid": f"SM{n:032d}",
                        "status": "queued",
                        "to": form.get("To"),
                        "body": form.get("Body"),
                    },
                )
            else:
                self._reply(404, {"message": "unknown path"})

        def _reply(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server
