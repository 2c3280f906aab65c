"""The vision report: the de-identified frame with what vision saw drawn on it, for a person.

One set of anchor marks only. The studio's job page draws the anchors itself, over this image,
as labelled handles the sonographer drags: marks burned into the image as well would sit under
(or, once dragged, beside) the handles with a second set of names colliding with the first. So
the report the pipeline stores carries the boxes and the unsure regions and no anchor marks;
``anchors=True`` is for a file read on its own (``manage.py analyze_scan --out``), where nothing
else will name them.
"""

from __future__ import annotations

import cv2
import numpy as np

from render.pipeline.types import IngestedScan, StructuralCues

# RGB colours of the marks. Text boxes blue, the render area cyan, the face green, unsure
# regions a red tint.
TEXT_BOX = (120, 120, 255)
RENDER_AREA = (80, 220, 255)
FACE_BOX = (90, 255, 120)
UNSURE_TINT = (255, 60, 60)


def report_image(
    scan: IngestedScan, cues: StructuralCues | None = None, *, anchors: bool = False
) -> np.ndarray:
    """The report as an H×W×3 uint8 copy of ``scan.image``.

    Without ``cues`` (a scan vision refused) it shows the render area and the blanked text.
    """
    out = scan.image.copy()
    box = cues.crop_box if cues is not None else scan.render_box
    thick = max(2, round(max(out.shape[:2]) / 500))
    if cues is not None:
        region = out[box.y0 : box.y1, box.x0 : box.x1].astype(np.float32)
        tint = np.array(UNSURE_TINT, np.float32)
        alpha = (cues.low_confidence * 0.55)[..., None]
        out[box.y0 : box.y1, box.x0 : box.x1] = (region * (1 - alpha) + tint * alpha).astype(
            np.uint8
        )
    for text_box in scan.text_boxes:
        cv2.rectangle(out, (text_box.x0, text_box.y0), (text_box.x1, text_box.y1), TEXT_BOX, thick)
    cv2.rectangle(out, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), RENDER_AREA, thick)
    if cues is None:
        return out
    if cues.face_box is not None:
        f = cues.face_box
        cv2.rectangle(out, (f.x0, f.y0), (f.x1, f.y1), FACE_BOX, thick)
    if anchors:
        _anchors_draw(out, cues, thick)
    return out


def _anchors_draw(out: np.ndarray, cues: StructuralCues, thick: int) -> None:
    font_scale = max(0.45, max(out.shape[:2]) / 2200)
    for anchor in cues.anchors:
        centre = (int(round(anchor.x)), int(round(anchor.y)))
        cv2.circle(out, centre, 3 * thick, (255, 255, 255), -1)
        cv2.circle(out, centre, 3 * thick, (0, 150, 60), thick)
        cv2.putText(
            out,
            anchor.name,
            (centre[0] + 4 * thick, centre[1] - 2 * thick),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
