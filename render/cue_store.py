"""Persisting what the vision stage found, so a corrected job can re-run from conditioning."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from render.pipeline.types import Anchor, Box, StructuralCues


def cues_to_bytes(cues: StructuralCues) -> bytes:
    meta = {
        "crop_box": cues.crop_box.as_list(),
        "face_box": cues.face_box.as_list() if cues.face_box else None,
        "light_dir": list(cues.light_dir),
        "dropped_anchors": [list(pair) for pair in cues.dropped_anchors],
        "timings_ms": cues.timings_ms,
        "pose": cues.pose,
    }
    return _npz(
        image=cues.image,
        depth=cues.depth.astype(np.float16),
        normals=cues.normals.astype(np.float16),
        subject=cues.subject.astype(np.float16),
        low_confidence=cues.low_confidence.astype(np.float16),
        hands=(cues.hands if cues.hands is not None else np.zeros_like(cues.subject)).astype(
            np.float16
        ),
        repaired=(
            cues.repaired if cues.repaired is not None else np.zeros_like(cues.subject)
        ).astype(np.float16),
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )


# Deflate pays on the masks and the depth (a tenth of their size or less, in a few ms); the
# crop's pixels and the normals shrink under 2× for most of the file's time (40 and 70 ms of
# about 120 on a 1280×872 scan), so they are stored as they are.
_STORED = frozenset({"image", "normals"})


def _npz(**arrays: np.ndarray) -> bytes:
    """``np.savez_compressed``'s kind of file (``np.load`` reads it), written for speed: the
    vision stage writes it while the parent waits. Members deflate at level 1 (as small as at
    level 6 here, in a third of the time) except those in ``_STORED``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            member: str | zipfile.ZipInfo = f"{name}.npy"
            if name in _STORED:
                member = zipfile.ZipInfo(f"{name}.npy")
                member.compress_type = zipfile.ZIP_STORED
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def cues_from_bytes(data: bytes, anchors: dict[str, dict[str, float]]) -> StructuralCues:
    """Rebuild cues; ``anchors`` come from the scan row, which holds any hand corrections."""
    arrays = np.load(io.BytesIO(data))
    meta = json.loads(arrays["meta"].tobytes().decode())
    return StructuralCues(
        crop_box=Box(*meta["crop_box"]),
        image=arrays["image"],
        depth=arrays["depth"].astype(np.float32),
        normals=arrays["normals"].astype(np.float32),
        subject=arrays["subject"].astype(np.float32),
        low_confidence=arrays["low_confidence"].astype(np.float32),
        light_dir=tuple(meta["light_dir"]),
        face_box=Box(*meta["face_box"]) if meta["face_box"] else None,
        anchors=anchors_from_json(anchors),
        dropped_anchors=tuple(tuple(pair) for pair in meta["dropped_anchors"]),
        timings_ms=meta["timings_ms"],
        # Cues stored before poses and hands were recorded read as a frontal face, no hands.
        pose=meta.get("pose", "frontal"),
        hands=arrays["hands"].astype(np.float32) if "hands" in arrays.files else None,
        repaired=arrays["repaired"].astype(np.float32) if "repaired" in arrays.files else None,
    )


def anchors_to_json(anchors: tuple[Anchor, ...]) -> dict[str, dict[str, float]]:
    return {
        a.name: {"x": round(a.x, 1), "y": round(a.y, 1), "confidence": round(a.confidence, 3)}
        for a in anchors
    }


def anchors_from_json(data: dict[str, dict[str, float]]) -> tuple[Anchor, ...]:
    return tuple(
        Anchor(name=name, x=float(v["x"]), y=float(v["y"]), confidence=float(v["confidence"]))
        for name, v in data.items()
    )
