"""Every delivered file carries a watermark recorded in Cradle's registry, and its C2PA manifest
names that watermark in a ``c2pa.soft-binding`` assertion: from the manifest a reader finds the
pixels' mark, and from the pixels' mark the file's record (studio and time, nothing else)."""

from __future__ import annotations

import io

import numpy as np
from django_tenants.utils import schema_context
from PIL import Image

from branding.provenance import SOFT_BINDING_LABEL, manifest_json, read_provenance
from branding.sample_portrait import sample_portrait_render
from branding.services import portrait_finish
from branding.watermark import ALGORITHM, detect
from verification.models import PortraitMark


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_manifest_binds_to_the_watermark_in_the_pixels(studio) -> None:
    with schema_context(studio.schema_name):
        jpeg = portrait_finish(sample_portrait_render())

    report = read_provenance(jpeg)
    assert report.carries_tag_everywhere
    assert report.c2pa_mark_id is not None
    # From the manifest to the pixels, and back.
    assert detect(_pixels(jpeg)).mark_id == report.c2pa_mark_id

    store = manifest_json(jpeg)
    active = store["manifests"][store["active_manifest"]]
    bindings = [a for a in active["assertions"] if a["label"] == SOFT_BINDING_LABEL]
    assert len(bindings) == 1
    assert bindings[0]["data"]["alg"] == ALGORITHM == "com.cradle.watermark.1"
    assert len(bindings[0]["data"]["blocks"]) == 1


def test_each_file_gets_its_own_mark_recorded_with_its_studio_and_time(studio) -> None:
    with schema_context(studio.schema_name):
        web = portrait_finish(sample_portrait_render())
        again = portrait_finish(sample_portrait_render())
        print_file = portrait_finish(sample_portrait_render(), size="print")

    ids = [read_provenance(data).c2pa_mark_id for data in (web, again, print_file)]
    assert len(set(ids)) == 3
    marks = {m.mark_id: m for m in PortraitMark.objects.filter(mark_id__in=ids)}
    assert [marks[i].kind for i in ids] == ["web", "web", "print"]
    assert all(marks[i].studio_id == studio.pk and marks[i].issued_at for i in ids)
    assert detect(_pixels(print_file)).mark_id == ids[2]


def test_the_registry_holds_nothing_about_a_parent() -> None:
    columns = {field.name for field in PortraitMark._meta.get_fields()}
    assert columns == {"mark_id", "studio", "kind", "source", "issued_at"}
