from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_guess_counters():  # noqa: ANN202
    # Guess limits live in the (process-wide) cache: one test's wrong tokens must not block another.
    from galleries.selectors import _brand_memo

    cache.clear()
    _brand_memo.clear()  # each test's brand kit lives in its own rolled-back transaction
    yield
    cache.clear()
    _brand_memo.clear()
