from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_brand_memo():
    from galleries.selectors import _brand_memo

    _brand_memo.clear()  # each test's brand kit lives in its own rolled-back transaction
    yield
    _brand_memo.clear()
