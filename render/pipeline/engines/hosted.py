"""The hosted engine: a photoreal portrait painted by a hosted inference provider (Replicate),
for studios without a GPU, through the provider's official Python SDK.

What leaves Cradle, and nothing else: the de-identified subject crop (the scan's picture inside
the subject's outline, burned-in text already blanked by the check stage, everything outside
the outline filled with the studio backdrop colour, no metadata), the depth map, the paint mask,
the prompt (tone, style, brand words) and a seed. Never the original scan, the parent's name,
email or phone, the studio's name or a job id. The images go inline in the request as data
URIs, not through the provider's file storage, so nothing stays behind there on Cradle's
account.

The model is the operator's (``RENDER_HOSTED_MODEL``: ``owner/name`` runs the model's latest
version, ``owner/name:version`` pins one, ``deployments/owner/name`` a private deployment). It
takes Cradle's inputs (``image``, ``control_image``, ``mask``, ``prompt``, ``negative_prompt``,
``num_outputs``, ``seed``, ``width``, ``height``) and returns ``num_outputs`` images (URLs or
data URIs): the same SDXL-Lightning + depth ControlNet inpainting as the ``diffusers`` engine,
packaged with Cog (docs/GPU_WORKERS.md).

Every request has a timeout; starting the prediction is retried on transient errors (429,
5xx, connection failures) with backoff, and polling too (the SDK itself retries 429/503/504 on
reads). A render past ``timeout_s`` or cancelled by the studio is cancelled at the provider,
so it stops costing. The provider's prediction id, status, run time and cost are handed to
``record`` as soon as they are known (the job keeps them).

Pure: no Django. The returned images are composited over the relight engine's plates outside
the mask exactly as the diffusers engine does, so scoring, overlay, tag and delivery are the
same.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from render.pipeline.engines.composite import onto_plates
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.types import (
    CancelFn,
    Conditioning,
    ProgressFn,
    RenderCancelled,
    RenderedCandidate,
)

PROVIDER = "replicate"
PROVIDER_LABEL = "Replicate"
TRANSIENT_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
# The subject crop's long side as sent: enough for a 1024 px portrait's face, no more.
UPLOAD_LONG_SIDE = 768
WORK_LONG_SIDE = 1024
_SUBJECT_THRESHOLD = 0.5
_MAX_IMAGE_BYTES = 40_000_000


class HostedEngineError(Exception):
    """The provider could not paint this render; the message says why, in plain words."""


@dataclass
class HostedRequest:
    """What the job records of its request to the provider."""

    provider: str
    model: str
    request_id: str = ""
    status: str = ""
    predict_time_s: float | None = None
    cost_usd: float | None = None
    attempts: int = 0
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    # A fresh PIL image carries no metadata: nothing but pixels leaves.
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fit(image: np.ndarray, long_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def subject_crop(conditioning: Conditioning, long_side: int = UPLOAD_LONG_SIDE) -> np.ndarray:
    """The scan's picture inside the subject's outline, the rest the backdrop colour."""
    cues = conditioning.cues
    picture = cues.image
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    picture = picture[..., :3].astype(np.float32)
    subject = cv2.resize(
        (cues.subject >= _SUBJECT_THRESHOLD).astype(np.float32),
        (picture.shape[1], picture.shape[0]),
        interpolation=cv2.INTER_NEAREST,
    )[..., None]
    backdrop = np.array(_hex_rgb(conditioning.background_hex), dtype=np.float32)
    crop = picture * subject + backdrop * (1.0 - subject)
    return _fit((crop + 0.5).astype(np.uint8), long_side)


def request_inputs(conditioning: Conditioning, seeds: list[int]) -> dict[str, object]:
    """Everything the provider receives for one render (see the module's docstring)."""
    height, width = conditioning.cues.depth.shape
    scale = WORK_LONG_SIDE / max(height, width)
    mask = (np.clip(conditioning.inpaint_mask, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return {
        "image": _png_data_uri(subject_crop(conditioning)),
        "control_image": _png_data_uri(_fit(conditioning.depth_control, UPLOAD_LONG_SIDE)),
        "mask": _png_data_uri(_fit(mask, UPLOAD_LONG_SIDE)),
        "prompt": conditioning.prompt,
        "negative_prompt": conditioning.negative_prompt,
        "num_outputs": len(seeds),
        "seed": int(seeds[0]),
        "width": max(64, int(round(width * scale / 64)) * 64),
        "height": max(64, int(round(height * scale / 64)) * 64),
    }


def _target(model: str) -> dict[str, str]:
    """The SDK's keyword for ``RENDER_HOSTED_MODEL``."""
    if model.startswith("deployments/"):
        return {"deployment": model.removeprefix("deployments/")}
    if ":" in model:
        return {"version": model.split(":", 1)[1]}
    return {"model": model}


class HostedEngine:
    """Photoreal candidates from a hosted provider, composited like the diffusers engine's."""

    name = "hosted"

    def __init__(
        self,
        *,
        api_token: str,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 180.0,
        request_timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        poll_interval_s: float = 1.0,
        usd_per_second: float = 0.0,
        record: Callable[[dict[str, object]], None] | None = None,
        output_long_side: int = 1024,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_token:
            raise HostedEngineError(
                "The hosted engine is not set up: the operator has not given a Replicate API "
                "token (REPLICATE_API_TOKEN)."
            )
        if not model or "/" not in model:
            raise HostedEngineError(
                "The hosted engine is not set up: RENDER_HOSTED_MODEL must name the model as "
                f"owner/name, owner/name:version or deployments/owner/name, not {model!r}."
            )
        self.api_token = api_token
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.request_timeout_s = request_timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.poll_interval_s = poll_interval_s
        self.usd_per_second = usd_per_second
        self.record = record
        self.sleep = sleep
        self._base_plate = RelightEngine(output_long_side=output_long_side)

    # -- the provider ---------------------------------------------------------------------

    def _client(self) -> Any:
        import httpx
        import replicate

        timeout = httpx.Timeout(
            self.request_timeout_s, connect=min(5.0, self.request_timeout_s), pool=5.0
        )
        return replicate.Client(api_token=self.api_token, base_url=self.base_url, timeout=timeout)

    def _save(self, request: HostedRequest) -> None:
        if self.record is not None:
            self.record(request.as_dict())

    def _transient(self, exc: Exception) -> bool:
        import httpx
        from replicate.exceptions import ReplicateError

        if isinstance(exc, ReplicateError):
            return exc.status in TRANSIENT_STATUSES
        return isinstance(exc, httpx.TransportError)

    def _call(self, what: str, request: HostedRequest, call: Callable[[], Any]) -> Any:
        """``call`` with retries on transient errors; anything else is a plain refusal."""
        for attempt in range(self.retries + 1):
            request.attempts += 1
            try:
                return call()
            except Exception as exc:
                if self._transient(exc) and attempt < self.retries:
                    self.sleep(self.backoff_s * 2**attempt)
                    continue
                raise HostedEngineError(self._explain(what, exc)) from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    def _explain(self, what: str, exc: Exception) -> str:
        import httpx
        import pydantic
        from replicate.exceptions import ReplicateError

        if isinstance(exc, ReplicateError):
            detail = exc.detail or exc.title or "no detail"
            if exc.status in (401, 403):
                return (
                    f"{PROVIDER_LABEL} refused Cradle's API token ({exc.status}: {detail}); the "
                    "operator must check REPLICATE_API_TOKEN."
                )
            if exc.status in TRANSIENT_STATUSES:
                return (
                    f"{PROVIDER_LABEL} kept failing while {what} ({exc.status}: {detail}) "
                    f"after {self.retries + 1} tries; try the render again later."
                )
            return f"{PROVIDER_LABEL} refused the render while {what} ({exc.status}: {detail})."
        if isinstance(exc, httpx.TimeoutException):
            return (
                f"{PROVIDER_LABEL} did not answer within {self.request_timeout_s:g} s while "
                f"{what}, {self.retries + 1} times; try the render again later."
            )
        if isinstance(exc, httpx.TransportError):
            return (
                f"Cradle could not reach {PROVIDER_LABEL} while {what} ({type(exc).__name__}); "
                "try the render again later."
            )
        if isinstance(exc, pydantic.ValidationError):
            return f"{PROVIDER_LABEL} gave an answer Cradle cannot read while {what}."
        return f"{PROVIDER_LABEL} failed while {what} ({type(exc).__name__}: {exc})."

    def _cancel_at_provider(self, client: Any, request: HostedRequest) -> None:
        """Best effort: a cancel that fails must not hide why the render stopped."""
        try:
            self._call("cancelling", request, lambda: client.predictions.cancel(request.request_id))
            request.status = "canceled"
        except HostedEngineError as exc:
            request.error = str(exc)
        self._save(request)

    def _finish(self, prediction: Any, request: HostedRequest) -> None:
        request.status = str(prediction.status)
        metrics = prediction.metrics if isinstance(prediction.metrics, dict) else {}
        seconds = metrics.get("predict_time")
        if isinstance(seconds, int | float):
            request.predict_time_s = round(float(seconds), 3)
            request.cost_usd = round(float(seconds) * self.usd_per_second, 5)
        if prediction.error:
            request.error = str(prediction.error)[:500]
        self._save(request)

    # -- the render -----------------------------------------------------------------------

    def render(
        self,
        conditioning: Conditioning,
        seeds: list[int],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> list[RenderedCandidate]:
        if not seeds:
            raise ValueError("need at least one seed")
        if cancel is not None and cancel():
            raise RenderCancelled("render cancelled before it started")
        inputs = request_inputs(conditioning, seeds)
        client = self._client()
        request = HostedRequest(provider=PROVIDER, model=self.model)
        prediction = self._call(
            "starting the render",
            request,
            lambda: client.predictions.create(**_target(self.model), input=inputs),
        )
        request.request_id, request.status = str(prediction.id), str(prediction.status)
        self._save(request)
        started = time.monotonic()
        while prediction.status not in TERMINAL:
            if cancel is not None and cancel():
                self._cancel_at_provider(client, request)
                raise RenderCancelled(f"render cancelled; {PROVIDER_LABEL} asked to stop")
            if time.monotonic() - started > self.timeout_s:
                self._cancel_at_provider(client, request)
                raise HostedEngineError(
                    f"{PROVIDER_LABEL} had not painted the portraits after "
                    f"{self.timeout_s:g} s, so Cradle cancelled the request; try again later."
                )
            if progress is not None:
                parsed = prediction.progress
                done = parsed.percentage if parsed is not None else 0.0
                progress(min(0.9, 0.1 + 0.8 * done))
            self.sleep(self.poll_interval_s)
            prediction = self._call(
                "waiting for the render",
                request,
                lambda: client.predictions.get(request.request_id),
            )
        self._finish(prediction, request)
        if prediction.status == "failed":
            raise HostedEngineError(
                f"{PROVIDER_LABEL} could not paint the portraits: "
                f"{prediction.error or 'no reason given'}."
            )
        if prediction.status == "canceled":
            raise HostedEngineError(f"The request was cancelled at {PROVIDER_LABEL}.")
        pictures = self._pictures(prediction.output, len(seeds), request)
        if progress is not None:
            progress(0.95)
        candidates = self._composite(conditioning, seeds, pictures)
        if progress is not None:
            progress(1.0)
        return candidates

    def _pictures(self, output: Any, count: int, request: HostedRequest) -> list[np.ndarray]:
        if isinstance(output, str):
            output = [output]
        if not isinstance(output, list) or len(output) < count:
            found = len(output) if isinstance(output, list) else type(output).__name__
            raise HostedEngineError(
                f"{PROVIDER_LABEL} answered with {found} instead of {count} portraits; "
                "the hosted model does not take Cradle's inputs (see docs/GPU_WORKERS.md)."
            )
        pictures = []
        for index, item in enumerate(output[:count]):
            data = self._fetch(item, index, request)
            picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if picture is None or min(picture.shape[:2]) < 8:
                raise HostedEngineError(
                    f"{PROVIDER_LABEL}'s portrait {index + 1} is not an image Cradle can read."
                )
            pictures.append(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB))
        return pictures

    def _fetch(self, item: Any, index: int, request: HostedRequest) -> bytes:
        import httpx

        if not isinstance(item, str):
            raise HostedEngineError(
                f"{PROVIDER_LABEL}'s portrait {index + 1} is a {type(item).__name__}, not a "
                "link to an image."
            )
        if item.startswith("data:"):
            try:
                return base64.b64decode(item.split(",", 1)[1], validate=True)
            except (IndexError, binascii.Error) as exc:
                raise HostedEngineError(
                    f"{PROVIDER_LABEL}'s portrait {index + 1} is not an image Cradle can read."
                ) from exc
        if not item.startswith(("https://", "http://")):
            raise HostedEngineError(
                f"{PROVIDER_LABEL}'s portrait {index + 1} is not a link to an image: {item[:80]!r}"
            )

        def download() -> bytes:
            with httpx.Client(timeout=self.request_timeout_s, follow_redirects=True) as http:
                with http.stream("GET", item) as response:
                    if response.status_code >= 400:
                        raise _DownloadStatus(response.status_code)
                    data = b""
                    for chunk in response.iter_bytes():
                        data += chunk
                        if len(data) > _MAX_IMAGE_BYTES:
                            raise HostedEngineError(
                                f"{PROVIDER_LABEL}'s portrait {index + 1} is over "
                                f"{_MAX_IMAGE_BYTES // 1_000_000} MB."
                            )
                    return data

        for attempt in range(self.retries + 1):
            request.attempts += 1
            try:
                return download()
            except (_DownloadStatus, httpx.TransportError) as exc:
                transient = not isinstance(exc, _DownloadStatus) or exc.status in (
                    TRANSIENT_STATUSES
                )
                if transient and attempt < self.retries:
                    self.sleep(self.backoff_s * 2**attempt)
                    continue
                raise HostedEngineError(
                    f"Cradle could not download {PROVIDER_LABEL}'s portrait {index + 1} ({exc})."
                ) from exc
        raise AssertionError("unreachable")

    def _composite(
        self, conditioning: Conditioning, seeds: list[int], pictures: list[np.ndarray]
    ) -> list[RenderedCandidate]:
        plates = self._base_plate.render(conditioning, seeds)
        return onto_plates(plates, pictures, conditioning.inpaint_mask, self.name)


class _DownloadStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
