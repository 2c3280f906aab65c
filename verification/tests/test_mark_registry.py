"""The mark registry: one random id per delivered file, one per source however often the file is
made again, and a clash with an id already issued draws again without spoiling the caller's
transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from verification import services
from verification.models import PortraitMark


def test_a_clash_draws_again_inside_the_callers_transaction(studio, monkeypatch) -> None:
    first = services.portrait_mark_issue(studio=studio, kind="web")
    draws = iter([first.mark_id, 0, 0x12_3456_789A])
    monkeypatch.setattr(services.secrets, "randbits", lambda bits: next(draws))
    with transaction.atomic():
        second = services.portrait_mark_issue(studio=studio, kind="print")
        # The transaction is still usable after the clash: the caller's work goes on.
        assert PortraitMark.objects.filter(studio=studio).count() == 2
    assert second.mark_id == 0x12_3456_789A
    stored = PortraitMark.objects.get(mark_id=second.mark_id)
    assert (stored.kind, stored.studio_id, stored.issued_at) == (
        "print",
        studio.pk,
        second.issued_at,
    )
    assert PortraitMark.objects.get(mark_id=first.mark_id).kind == "web"


def test_one_mark_per_source_and_a_fresh_one_per_file_without(studio) -> None:
    card = services.portrait_mark_issue(studio=studio, kind="share-card", source="share-card:ab")
    again = services.portrait_mark_issue(studio=studio, kind="share-card", source="share-card:ab")
    assert again.mark_id == card.mark_id
    web = [services.portrait_mark_issue(studio=studio, kind="web").mark_id for _ in range(3)]
    assert len(set(web)) == 3


def test_an_unknown_kind_is_refused(studio) -> None:
    with pytest.raises(ValueError, match="Unknown kind"):
        services.portrait_mark_issue(studio=studio, kind="thumbnail")
