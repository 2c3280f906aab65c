"""Candidates painted two threads at a time (render.services.render_candidates) are the very
pixels one thread paints, in the seeds' order; progress and cancel stay on the caller's thread."""

import threading
import time

import numpy as np
import pytest

from render.pipeline.conditioning import blend_tone, build
from render.pipeline.engines import candidate_seeds
from render.pipeline.engines.relight import RelightEngine
from render.pipeline.types import RenderCancelled, RenderedCandidate
from render.services import render_candidates
from render.tests.pipeline.synthetic_cues import synthetic_cues

ENGINE = RelightEngine(output_long_side=384)


@pytest.fixture(scope="module")
def conditioning():
    return build(synthetic_cues(192, occluded=True), blend_tone([7]), background_hex="#e8dccc")


def test_two_threads_paint_the_same_pixels_in_the_same_order(conditioning) -> None:
    seeds = candidate_seeds(31, 5)
    alone = ENGINE.render(conditioning, seeds)
    calls: list[tuple[float, str]] = []
    side_by_side = render_candidates(
        ENGINE,
        conditioning,
        seeds,
        threads=2,
        progress=lambda f: calls.append((f, threading.current_thread().name)),
    )
    assert [c.seed for c in side_by_side] == seeds
    for one, two in zip(alone, side_by_side, strict=True):
        assert np.array_equal(one.image, two.image)
        assert (one.props is None and two.props is None) or np.array_equal(one.props, two.props)
    assert calls[-1][0] == 1.0
    assert {name for _, name in calls} == {threading.current_thread().name}


class _SlowRelight:
    """Paints a blank candidate every 50 ms, asking ``cancel`` before each as engines do."""

    name = "relight"

    def __init__(self) -> None:
        self.painted: list[int] = []

    def render(self, conditioning, seeds, progress=None, cancel=None):
        out = []
        for index, seed in enumerate(seeds):
            if cancel is not None and cancel():
                raise RenderCancelled(f"cancelled after {index}")
            time.sleep(0.05)
            self.painted.append(seed)
            out.append(
                RenderedCandidate(seed=seed, image=np.zeros((4, 4, 3), np.uint8), engine="relight")
            )
            if progress is not None:
                progress((index + 1) / len(seeds))
        return out


def test_cancel_asked_on_the_callers_thread_stops_both_halves(conditioning) -> None:
    engine = _SlowRelight()
    asked: list[str] = []

    def cancel() -> bool:
        asked.append(threading.current_thread().name)
        return len(asked) > 1  # not before the start: once the halves are painting

    with pytest.raises(RenderCancelled):
        render_candidates(engine, conditioning, list(range(1, 41)), threads=2, cancel=cancel)
    assert set(asked) == {threading.current_thread().name}
    assert 0 < len(engine.painted) < 40


def test_cancelled_before_the_start_nothing_is_painted(conditioning) -> None:
    engine = _SlowRelight()
    with pytest.raises(RenderCancelled):
        render_candidates(engine, conditioning, [1, 2, 3], threads=2, cancel=lambda: True)
    assert engine.painted == []
