import numpy as np
from PIL import Image

from branding.models import BrandKit, ReferencePortrait


def brand_kit_get() -> BrandKit:
    """The current schema's brand kit, created with defaults on first use."""
    kit, _ = BrandKit.objects.get_or_create(pk=1)
    return kit


def reference_portraits() -> list[ReferencePortrait]:
    return list(ReferencePortrait.objects.select_related("added_by"))


def reference_portrait_arrays() -> list[np.ndarray]:
    """The studio's reference photos as RGB arrays for a render (a missing file is skipped)."""
    arrays = []
    for reference in ReferencePortrait.objects.all():
        try:
            with reference.image.open("rb") as handle, Image.open(handle) as im:
                arrays.append(np.asarray(im.convert("RGB")))
        except (FileNotFoundError, OSError):
            continue
    return arrays
