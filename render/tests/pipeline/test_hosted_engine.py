"""The hosted engine through the real ``replicate`` SDK against a local fake of Replicate's
API: what is sent (and what never is), success, slow answers, 5xx, a failed model, malformed
output, the overall timeout and cancel, and what the job gets to record."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import get_engine
from render.pipeline.engines.hosted import HostedEngineError
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.types import RenderCancelled
from render.tests.pipeline.synthetic_cues import synthetic_cues
from tests.fakes.replicate import PAINT, data_uri_image, start_fake_replicate

OUTPUT = 128
SEEDS = [11, 22, 33]
TOKEN = "r8_test_token"


@pytest.fixture(scope="module")
def server():
    state, httpd = start_fake_replicate()
    yield state
    httpd.shutdown()


@pytest.fixture
def fake(server):
    """The fake, reset to a well-behaved provider for each test."""
    server.requests.clear()
    server.predictions.clear()
    server.create_failures, server.poll_failures = [], []
    server.polls_to_finish, server.poll_delay_s, server.outcome = 2, 0.0, "succeeded"
    return server


@pytest.fixture(scope="module")
def conditioning():
    return build(
        synthetic_cues(96),
        blend_tone([6]),
        brand_tokens=("warm", "airy"),
        background_hex="#e6eef5",
    )


def _engine(fake, records=None, **options):
    settings = {
        "api_token": TOKEN,
        "model": "cradle/sdxl-lightning-depth",
        "base_url": fake.url,
        "poll_interval_s": 0.01,
        "backoff_s": 0.01,
        "request_timeout_s": 2.0,
        "usd_per_second": 0.001525,
        "output_long_side": OUTPUT,
        "record": records.append if records is not None else None,
    }
    settings.update(options)
    return get_engine("hosted", **settings)


def test_a_render_sends_only_the_crop_depth_mask_and_prompt_and_composites_the_answer(
    fake, conditioning
):
    records: list[dict] = []
    fractions: list[float] = []
    candidates = _engine(fake, records).render(conditioning, SEEDS, progress=fractions.append)

    (create,) = fake.creations()
    assert create.path == "/v1/models/cradle/sdxl-lightning-depth/predictions"
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"
    body = create.json()
    assert set(body) == {"input"}
    sent = body["input"]
    assert set(sent) == {
        "image",
        "control_image",
        "mask",
        "prompt",
        "negative_prompt",
        "num_outputs",
        "seed",
        "width",
        "height",
    }
    assert sent["num_outputs"] == 3 and sent["seed"] == 11
    assert sent["prompt"] == conditioning.prompt and "warm" in sent["prompt"]
    # The crop: the scan inside the subject's outline, the backdrop colour outside it.
    crop = data_uri_image(sent["image"])
    subject = cv2.resize(
        conditioning.cues.subject, crop.shape[1::-1], interpolation=cv2.INTER_NEAREST
    )
    assert np.array_equal(
        crop[subject < 0.5], np.broadcast_to([230, 238, 245], crop[subject < 0.5].shape)
    )
    assert data_uri_image(sent["mask"]).ndim == 2
    assert data_uri_image(sent["control_image"]).shape[2] == 3
    # Nothing went through the provider's file storage.
    assert not fake.calls("POST", "/v1/files")

    assert [c.seed for c in candidates] == SEEDS
    assert all(c.engine == "hosted" and c.image.shape == (OUTPUT, OUTPUT, 3) for c in candidates)
    plate = RelightEngine(output_long_side=OUTPUT).render(conditioning, [33])[0].image
    mask = cv2.resize(conditioning.inpaint_mask, (OUTPUT, OUTPUT), interpolation=cv2.INTER_LINEAR)
    kept, painted = mask <= 0.0, mask >= 0.99
    assert np.array_equal(candidates[2].image[kept], plate[kept])
    assert np.abs(candidates[2].image[painted].astype(int) - PAINT).max() <= 1

    assert records[0]["request_id"] in fake.predictions and records[0]["status"] == "starting"
    final = records[-1]
    assert final["status"] == "succeeded" and final["predict_time_s"] == 3.25
    assert final["cost_usd"] == pytest.approx(3.25 * 0.001525, abs=1e-5)
    assert final["provider"] == "replicate" and final["model"] == "cradle/sdxl-lightning-depth"
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_pinned_version_and_a_data_uri_answer(fake, conditioning):
    fake.outcome = "data-uris"
    engine = _engine(fake, model="cradle/sdxl-lightning-depth:5c7d5dc6dd8bf75c1acaa8565735e7")
    candidates = engine.render(conditioning, [7, 8])
    (create,) = fake.creations()
    assert create.path == "/v1/predictions"
    assert create.json()["version"] == "5c7d5dc6dd8bf75c1acaa8565735e7"
    assert len(candidates) == 2


def test_transient_5xx_are_retried_and_the_render_goes_through(fake, conditioning):
    fake.create_failures = [503, 502]
    fake.poll_failures = [500, 503]
    records: list[dict] = []
    candidates = _engine(fake, records).render(conditioning, [1, 2])
    assert len(candidates) == 2
    assert len(fake.creations()) == 3  # two refused, the third created
    assert records[-1]["status"] == "succeeded" and records[-1]["attempts"] >= 5


def test_a_provider_that_keeps_failing_is_a_clear_error_and_nothing_is_left_running(
    fake, conditioning
):
    fake.create_failures = [500] * 10
    with pytest.raises(HostedEngineError, match=r"kept failing while starting the render \(500"):
        _engine(fake, retries=2).render(conditioning, [1])
    assert len(fake.creations()) == 3 and not fake.predictions


def test_a_slow_provider_times_out_with_a_plain_message(fake, conditioning):
    fake.poll_delay_s = 1.0
    records: list[dict] = []
    with pytest.raises(HostedEngineError, match="did not answer within 0.3 s while waiting"):
        _engine(fake, records, request_timeout_s=0.3, retries=1).render(conditioning, [1])
    assert records[0]["request_id"] in fake.predictions


def test_a_render_that_never_finishes_is_cancelled_at_the_provider(fake, conditioning):
    fake.polls_to_finish = None
    records: list[dict] = []
    with pytest.raises(HostedEngineError, match="after 0.2 s, so Cradle cancelled the request"):
        _engine(fake, records, timeout_s=0.2).render(conditioning, [1])
    pid = records[0]["request_id"]
    assert [r.path for r in fake.calls("POST", "/v1/predictions/")] == [
        f"/v1/predictions/{pid}/cancel"
    ]
    assert fake.predictions[pid]["status"] == "canceled"
    assert records[-1]["status"] == "canceled"


def test_the_studio_cancelling_cancels_the_prediction(fake, conditioning):
    fake.polls_to_finish = None
    records: list[dict] = []
    polls = {"n": 0}

    def cancelled() -> bool:
        polls["n"] += 1
        return polls["n"] > 2

    with pytest.raises(RenderCancelled):
        _engine(fake, records).render(conditioning, [1], cancel=cancelled)
    pid = records[0]["request_id"]
    assert fake.predictions[pid]["status"] == "canceled"
    assert records[-1]["status"] == "canceled" and records[-1]["request_id"] == pid


def test_a_failed_prediction_says_why_and_is_recorded(fake, conditioning):
    fake.outcome = "failed"
    records: list[dict] = []
    with pytest.raises(HostedEngineError, match="could not paint the portraits: CUDA out of"):
        _engine(fake, records).render(conditioning, [1])
    assert records[-1]["status"] == "failed" and "CUDA" in records[-1]["error"]
    assert records[-1]["cost_usd"] is not None  # a failed run is billed too


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("not-a-list", "answered with dict instead of 2 portraits"),
        ("too-few", "answered with 1 instead of 2 portraits"),
        ("not-images", "portrait 1 is not an image Cradle can read"),
    ],
)
def test_malformed_output_is_refused_plainly(fake, conditioning, outcome, message):
    fake.outcome = outcome
    with pytest.raises(HostedEngineError, match=message):
        _engine(fake).render(conditioning, [1, 2])


def test_a_refused_token_names_the_setting(fake, conditioning):
    with pytest.raises(HostedEngineError, match="refused Cradle's API token.*REPLICATE_API_TOKEN"):
        _engine(fake, api_token="r8_wrong").render(conditioning, [1])


def test_an_engine_without_a_token_or_model_is_refused_before_anything_is_sent(fake):
    with pytest.raises(HostedEngineError, match="REPLICATE_API_TOKEN"):
        _engine(fake, api_token="")
    with pytest.raises(HostedEngineError, match="RENDER_HOSTED_MODEL"):
        _engine(fake, model="sdxl")
    assert not fake.requests
