"""Persisting what the vision stage found, so a corrected job can re-run from conditioning."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from render.pipeline.types import Anchor, Box, CueMaps, StructuralCues
from render.pipeline.vision import anchor_roll, enlarge_maps

_MAPS = ("depth", "normals", "subject", "low_confidence", "hands", "repaired", "contact")


def cues_to_bytes(cues: StructuralCues) -> bytes:
    """The cues as a ``.npz``: the crop's pixels, the maps at vision's analysis size when the
    cues carry them (``analysis_*`` members, enlarged again on reading; an eighth of the
    crop-size maps' bytes on a 1280 px scan), otherwise at crop size, all as float16."""
    meta = {
        "crop_box": cues.crop_box.as_list(),
        "face_box": cues.face_box.as_list() if cues.face_box else None,
        "light_dir": list(cues.light_dir),
        "dropped_anchors": [list(pair) for pair in cues.dropped_anchors],
        "timings_ms": cues.timings_ms,
        "pose": cues.pose,
        "roll": cues.roll,
    }
    maps: dict[str, np.ndarray] = {}
    if cues.analysis_maps is not None:
        for name in _MAPS:
            array = getattr(cues.analysis_maps, name)
            if array is not None:
                maps[f"analysis_{name}"] = array.astype(np.float16)
    else:
        zeros = np.zeros_like(cues.subject)
        for name in _MAPS:
            array = getattr(cues, name)
            maps[name] = (array if array is not None else zeros).astype(np.float16)
    return _npz(
        image=cues.image,
        **maps,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )


# Deflate pays on the masks and the depth (a tenth of their size or less, in a few ms); the
# crop's pixels and the normals shrink under 2× for most of the file's time (40 and 70 ms of
# about 120 on a 1280×872 scan), so they are stored as they are. Normals at the analysis size
# would shrink 0.5 MB in 5 ms on that scan, half the file's time: stored too.
_STORED = frozenset({"image", "normals", "analysis_normals"})


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
    """Rebuild cues; ``anchors`` come from the scan row, which holds any hand corrections.
    Maps stored at the analysis size are enlarged to the crop as vision enlarged them."""
    arrays = np.load(io.BytesIO(data))
    meta = json.loads(arrays["meta"].tobytes().decode())
    image = arrays["image"]
    analysis_maps = None
    if "analysis_depth" in arrays.files:
        analysis_maps = CueMaps(
            **{
                name: arrays[f"analysis_{name}"].astype(np.float32)
                for name in _MAPS
                if f"analysis_{name}" in arrays.files
            }
        )
        maps = enlarge_maps(analysis_maps, (image.shape[1], image.shape[0]))
    else:
        # A file stored before the analysis-size maps were: its maps are the crop's size.
        maps = CueMaps(
            **{name: arrays[name].astype(np.float32) for name in _MAPS if name in arrays.files}
        )
    placed = anchors_from_json(anchors)
    roll = float(meta.get("roll", 0.0))  # stored before rolls were: painted as it lies
    if len(placed) >= 3 and all(a.confidence == 1.0 for a in placed):
        # A sonographer placed them (scan_anchors_correct): they say which way is up.
        roll = anchor_roll(placed) or 0.0
    return StructuralCues(
        crop_box=Box(*meta["crop_box"]),
        image=image,
        depth=maps.depth,
        normals=maps.normals,
        subject=maps.subject,
        low_confidence=maps.low_confidence,
        light_dir=tuple(meta["light_dir"]),
        face_box=Box(*meta["face_box"]) if meta["face_box"] else None,
        anchors=placed,
        dropped_anchors=tuple(tuple(pair) for pair in meta["dropped_anchors"]),
        timings_ms=meta["timings_ms"],
        # Cues stored before poses and hands were recorded read as a frontal face, no hands.
        pose=meta.get("pose", "frontal"),
        roll=roll,
        hands=maps.hands,
        repaired=maps.repaired,
        contact=maps.contact,
        analysis_maps=analysis_maps,
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
