"""Everything seed-independent, prepared once per render at shading resolution: the normals,
creases, skin texture, flush and sheen maps, the matte and what the features and props need."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from render.pipeline.engines.relight.face import (
    FaceLayout,
    anchor_xy,
    face_layout,
    face_size,
    midline,
    nose_side,
    visible_eyes,
)
from render.pipeline.engines.relight.features import (
    OUTLINE_FEATURES,
    FeaturePlan,
    feature_glow,
    plan_features,
)
from render.pipeline.engines.relight.light import backdrop
from render.pipeline.engines.relight.props import (
    HatBase,
    WrapBase,
    hat_base,
    profile_hat_base,
    wrap_base,
)
from render.pipeline.engines.relight.raster import (
    normalise,
    odd,
    output_size,
    resize,
    spot,
    wide_blur,
)
from render.pipeline.engines.relight.subject import (
    DOME_WEIGHT,
    clean_matte,
    dome_normals,
    fix_anatomy,
    round_the_crown,
    round_where_cut,
    roundness,
)
from render.pipeline.engines.relight.texture import skin_texture
from render.pipeline.types import FEATURE_CONFIDENCE, Conditioning, StructuralCues, surface_seen


@dataclass(frozen=True, eq=False)
class Surface:
    """Seed-independent inputs, prepared once per render call at output resolution."""

    normals: np.ndarray  # H×W×3, softened where vision was not confident
    sheen_normals: np.ndarray  # H×W×3, the broad forms only: where a soft box's sheen lands
    occlusion_detail: np.ndarray  # H×W, creases × scan relief × roundness
    texture: np.ndarray  # H×W, the skin's grain and mottle (a multiplier about 1)
    across_x: np.ndarray  # 1×W, -0.5..0.5 left to right, for the key's falloff across the head
    across_y: np.ndarray  # H×1, -0.5..0.5 bottom to top
    specular_mask: np.ndarray  # H×W, forehead, nose and upper cheeks, 0 where not confident
    subsurface_weight: np.ndarray  # H×W, lower (never 0) where not confident
    flush: np.ndarray  # H×W 0..1, where blood shows through thin skin (cheeks, nose, lips, lids)
    skin_alpha: np.ndarray  # H×W clean subject matte with a feathered, sub-pixel edge
    metering: np.ndarray  # flat indices of confident face pixels exposure is metered on
    metering_flush: np.ndarray  # the flush there without the features' glow, for the balance
    unconfident: np.ndarray  # H×W 0..1
    soften_box: tuple[int, int, int, int] | None  # y0, y1, x0, x1 around unconfident pixels
    background_behind: np.ndarray  # H×W (1 - skin_alpha) × contact shadow: the paper showing
    shadow_source: np.ndarray  # H×W blurred subject matte, shifted per light to cast a shadow
    features: FeaturePlan | None  # what is drawn and where: each feature at its own anchor
    feature_trust: np.ndarray  # H×W 0..1: 0 on hands, unsure regions and off the subject
    texture_trust: np.ndarray  # H×W 0..1: where skin texture may show (confident, inside)
    painted: np.ndarray  # H×W 0..1: where Fix Anatomy painted the surface anew
    wrap_base: WrapBase | None  # where a wrap may rise round the face (None: no subject)
    hat_base: HatBase | None = None  # where a hat may sit on the crown (None: no face layout)


def _flush_and_sheen(
    layout: FaceLayout | None, depth: np.ndarray, inside: np.ndarray, long_side: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where a newborn's skin flushes pink and where it shines, both 0..1.

    Thin skin over blood reads warmer and redder: the cheeks here (the lips, lids and nose tip
    flush with their drawn features, ``features.feature_glow``). The sheen of a soft key sits
    on the surfaces facing up and forward: forehead, nose bridge, the tops of the cheeks.
    Without a layout both come from the surface: the bumps standing out of the dome (cheeks,
    nose) flush, and the nearest surface shines.
    """
    shape = depth.shape
    if layout is None:
        bumps = wide_blur(depth, 0.01 * long_side) - wide_blur(depth, 0.05 * long_side)
        bumps = np.clip(bumps, 0.0, None) * inside
        top = float(np.percentile(bumps[inside > 0.5], 98)) if (inside > 0.5).any() else 0.0
        flush = np.clip(bumps / max(top, 1e-4), 0.0, 1.0) * 0.8
        sheen: np.ndarray = np.clip((depth - 0.6) / 0.4, 0.0, 1.0) ** 2
        return flush.astype(np.float32), sheen.astype(np.float32)
    gap = layout.eye_gap
    eye_mid = (
        (layout.eye_left[0] + layout.eye_right[0]) / 2.0,
        (layout.eye_left[1] + layout.eye_right[1]) / 2.0,
    )
    flush = np.zeros(shape, np.float32)
    for cheek in (layout.cheek_left, layout.cheek_right):
        np.maximum(flush, spot(shape, cheek, 0.34 * gap, 0.28 * gap), out=flush)

    sheen = 0.55 * spot(shape, (eye_mid[0], eye_mid[1] - 0.8 * gap), 0.7 * gap, 0.4 * gap)
    bridge = (eye_mid[0] * 0.55 + layout.nose[0] * 0.45, eye_mid[1] * 0.55 + layout.nose[1] * 0.45)
    np.maximum(sheen, 0.7 * spot(shape, bridge, 0.08 * gap, 0.22 * gap), out=sheen)
    for cheek in (layout.cheek_left, layout.cheek_right):
        upper = (cheek[0], cheek[1] - 0.12 * gap)
        np.maximum(sheen, 0.45 * spot(shape, upper, 0.2 * gap, 0.14 * gap), out=sheen)
    return flush * inside, sheen


def _feature_zone(cues: StructuralCues, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """1 around the eyes, nose and mouth vision found, 0.35 on open skin (1 everywhere when
    it found none): where the scan's own relief and crisper forms are kept."""
    size = face_size(cues, scale)
    names = (*visible_eyes(cues.pose), "nose_tip", "mouth")
    places = {name: anchor_xy(cues, name, scale) for name in names}
    if size is None or not any(places.values()):
        return np.ones(shape, np.float32)
    gap = size.gap
    zone = np.zeros(shape, np.float32)
    for name in visible_eyes(cues.pose):
        if (eye := places[name]) is not None:
            np.maximum(zone, spot(shape, eye, 0.38 * gap, 0.14 * gap), out=zone)
    if places["nose_tip"] is not None:
        bridge_to_tip = (places["nose_tip"][0], places["nose_tip"][1] - 0.2 * gap)
        np.maximum(zone, spot(shape, bridge_to_tip, 0.22 * gap, 0.4 * gap), out=zone)
    if places["mouth"] is not None:
        np.maximum(zone, spot(shape, places["mouth"], 0.4 * gap, 0.22 * gap), out=zone)
    return 0.35 + 0.65 * zone


def _outline_features(cues: StructuralCues, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """1 round a profile's confident nose tip and lips (points of its outline), 0 elsewhere:
    where their strokes may be drawn though the face there lies in its own shade."""
    size = face_size(cues, scale)
    out = np.zeros(shape, np.float32)
    if size is None:
        return out
    reach = 0.3 * size.gap
    for name in OUTLINE_FEATURES:
        if (xy := anchor_xy(cues, name, scale, FEATURE_CONFIDENCE)) is not None:
            np.maximum(out, np.clip(2.0 * spot(shape, xy, reach, 0.6 * reach), 0.0, 1.0), out=out)
    return out


def prepare(conditioning: Conditioning, long_side: int, *, features: bool = True) -> Surface:
    cues = conditioning.cues
    size = output_size(cues, long_side)
    width, height = size
    scale = width / cues.depth.shape[1]

    low_confidence = np.clip(resize(cues.low_confidence.astype(np.float32), size), 0.0, 1.0)
    subject = np.clip(resize(cues.subject.astype(np.float32), size), 0.0, 1.0)
    depth = np.clip(resize(cues.depth.astype(np.float32), size), 0.0, 1.0)
    normals = resize(cues.normals.astype(np.float32), size)
    hands = np.zeros((height, width), np.float32)
    if cues.hands is not None:
        hands = np.clip(resize(cues.hands.astype(np.float32), size), 0.0, 1.0)
    strength = conditioning.correction_strength
    painted = np.zeros((height, width), np.float32)
    repaired = None
    if cues.repaired is not None:
        repaired = np.clip(resize(cues.repaired.astype(np.float32), size), 0.0, 1.0)
    if cues.contact is not None and repaired is not None:
        # Where the head was cut at a wall or the placenta, its outline is continued round.
        contact = np.clip(resize(cues.contact.astype(np.float32), size), 0.0, 1.0)
        rounded = round_where_cut(subject, depth, normals, contact, repaired, long_side)
        if rounded is not None:
            subject, depth, normals = rounded.subject, rounded.depth, rounded.normals
            repaired = np.maximum(repaired, rounded.added)
    if cues.eye_row is not None:
        # A corner bitten out of the crown is filled round, painted like a cut continued.
        crown = round_the_crown(subject, depth, normals, cues.eye_row * scale, long_side)
        if crown is not None:
            subject, depth, normals = crown.subject, crown.depth, crown.normals
            repaired = crown.added if repaired is None else np.maximum(repaired, crown.added)
    if strength > 0.0:
        # Fix Anatomy: hands and occluders become the face's own surface (or backdrop past
        # the head), and the outline is evened. What vision already continued the face
        # under (a cord, membranes: ``repaired``, painted below) is the head's own: taken out
        # of it, membranes across a turned face left a wedge of the head.
        unsure = low_confidence if repaired is None else low_confidence * (1.0 - repaired)
        repair = fix_anatomy(
            subject,
            depth,
            normals,
            hands,
            unsure,
            strength,
            long_side,
            midline=midline(cues, scale),
            seen={
                name: xy
                for name in ("eye_left", "eye_right", "mouth")
                if (xy := anchor_xy(cues, name, scale)) is not None
            },
        )
        subject, depth, normals, painted = (
            repair.subject,
            repair.depth,
            repair.normals,
            repair.painted,
        )
        hands = hands * (1.0 - painted)
        low_confidence = low_confidence * (1.0 - painted)
    # What was painted anew itself, before its fade into the scan's skin is added: a feature
    # the scan shows beside a cord or a turned face's shaded notch is drawn up to it.
    repainted = painted if repaired is None else np.maximum(painted, repaired)
    covering = hands  # and what covers the face, before that fade takes it over
    if repaired is not None:
        # Vision continued the face under a cord or strand: that skin is painted anew like
        # Fix Anatomy's (no scan detail, no feature drawn there, but skin all the same).
        # Faded in over a little skin, so the scan's detail beside it does not end on a seam:
        # grown first, so the fade starts at the repaired edge itself (blurred as it was, the
        # paint stepped from 1 to a half there, and the step showed as a line down the face).
        reach = 0.012 * long_side
        grown = cv2.dilate(
            repaired, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (odd(4 * reach),) * 2)
        )
        repaired = np.maximum(repaired, wide_blur(grown, reach))
        painted = np.maximum(painted, repaired)
        hands = hands * (1.0 - repaired)
        low_confidence = low_confidence * (1.0 - repaired)
    matte, distance = clean_matte(subject, long_side)
    # Vision marks its ragged outline as unsure; the clean matte replaces that outline, so only
    # unsure pixels inside the face are softened.
    low_confidence *= np.clip(distance / (0.02 * long_side), 0.0, 1.0)
    metering = (low_confidence < 0.5) & (subject > 0.9) & (matte > 0.99) & (hands < 0.5)
    metering &= painted < 0.5
    # The scan's own detail is used only where vision was sure and nothing was painted anew.
    # A hand over the face hides the face, not itself: its own surface is what the scan saw,
    # drawn with its relief and never smeared (half-sure fingers were blurred into bars beside
    # crisp ones). Features still keep off it (``feature_trust``).
    seen = low_confidence * (1.0 - np.clip(2.0 * hands, 0.0, 1.0))
    confident = (1.0 - seen) * (1.0 - painted)
    inside = np.clip(distance / (0.03 * long_side), 0.0, 1.0)
    # Shallow depth of field: focus on the face, a touch softer towards the silhouette.
    defocus = (1.0 - np.clip(distance / (0.1 * long_side), 0.0, 1.0)) ** 2

    layout = face_layout(cues, scale)
    zone = _feature_zone(cues, scale, (height, width))

    if painted.max() > 0.0:
        # Painted skin at the outline (where the head touched a wall or the placenta) turns
        # away as a head's rim does: the depth bridged from inside stays level to the edge and
        # lit a pale strip along it.
        rim = painted * (1.0 - np.clip(distance / (0.08 * long_side), 0.0, 1.0))
        normals = normals + (dome_normals(distance, long_side) - normals) * rim[..., None]
        normalise(normals)
    normals, sheen_normals = _skin_normals(
        normals, depth, distance, confident, zone, strength, long_side
    )

    # Creases are where the surface sits below its neighbourhood: they see less of the sky.
    # Measured on a smoothed depth, and only past a shallow floor: speckle pits and ripple in
    # the depth map are not creases (on deep skin they would read as dirt).
    smooth_depth = wide_blur(depth, 0.006 * long_side)
    around = wide_blur(depth, 0.02 * long_side)
    # On the open skin (forehead, cheeks) the floor is three times deeper: a scan's speckle
    # leaves pits there that read as dirt specks on deep skin tones, and a newborn's forehead
    # has no crease that shallow; round the eyes, nose and mouth every fold counts.
    floor = 0.004 * (1.0 + 2.0 * np.clip((1.0 - zone) / 0.65, 0.0, 1.0))
    # Only where the depth is the scan's and the surface was seen (speckle alone hides none,
    # and a hand's own folds are its own): the depth bridged under a cord or over a turned
    # face's shaded notch left creases along its seams (grey frowns and smudges on the
    # portrait), and an acoustic shadow's darkness is no fold.
    creased = np.maximum(surface_seen(low_confidence), np.clip(2.0 * hands, 0.0, 1.0))
    creased *= 1.0 - painted
    occlusion = 1.0 - np.clip((around - smooth_depth - floor) * 5.5, 0.0, 0.35) * creased
    occlusion = cv2.GaussianBlur(occlusion, (0, 0), 0.003 * long_side + 0.5)

    # The scan's own shading, denoised edge-preservingly, carries creases the depth map smooths
    # over; only its band-passed relief is kept (its sepia and its scanner light are not).
    scan = cv2.cvtColor(cues.image, cv2.COLOR_RGB2GRAY)
    scan = cv2.resize(scan, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # Speckle is impulsive: a median removes it; the bilateral then smooths what is left while
    # keeping the creases (lid lines, lip line) the depth map blurs over.
    scan = cv2.medianBlur(scan, odd(0.006 * long_side))
    scan = cv2.bilateralFilter(scan, odd(0.012 * long_side), 30, 0.006 * long_side)
    scan_log = np.log1p(scan.astype(np.float32))
    band = cv2.GaussianBlur(scan_log, (0, 0), 0.004 * long_side) - wide_blur(
        scan_log, 0.03 * long_side
    )
    # The scan's relief is kept in full around the eyes, nose and mouth; on the open skin it is
    # mostly left speckle pits, which a newborn's skin does not have.
    relief = 0.18 * confident * (matte > 0.5) * zone
    detail = np.exp(np.clip(band, -0.6, 0.6) * relief)
    flush, sheen = _flush_and_sheen(layout, depth, inside, long_side)
    # Features never land on a hand (grown a little, so a stroke's soft edge stays clear too),
    # where vision found the surface hidden (``surface_seen``), where Fix Anatomy painted, or
    # off the subject.
    # Speckle alone keeps none off: a mouth's dark groove reads speckled, and its lower lip
    # was drawn at half strength.
    on_hand = cv2.dilate(
        covering, np.ones((3, 3), np.uint8), iterations=max(1, int(0.004 * long_side))
    )
    uncovered = 1.0 - np.clip(2.0 * np.maximum(on_hand, repainted), 0.0, 1.0)
    feature_trust = surface_seen(low_confidence) * uncovered
    if cues.is_profile:
        # A profile's nose tip and lips are read off its outline, whose side turned from the
        # light lies in its own shade: vision saw them there, and only a hand over them or
        # Fix Anatomy's paint keeps their strokes off.
        np.maximum(
            feature_trust,
            _outline_features(cues, scale, (height, width)) * uncovered,
            out=feature_trust,
        )
    feature_trust *= np.clip(distance / (0.005 * long_side), 0.0, 1.0)
    plan = None
    if features:
        plan = plan_features(cues, scale, scan_log, depth, feature_trust, long_side)
    cheeks = flush.copy()  # the flush the skin has without its features' glow
    if plan is not None:
        glow_flush, glow_sheen = feature_glow(plan, (height, width))
        np.maximum(flush, glow_flush * feature_trust, out=flush)
        np.maximum(sheen, glow_sheen * feature_trust, out=sheen)
    grain, mottle = skin_texture((height, width), long_side)
    # Skin texture shows on the skin vision saw and on skin painted anew alike: painted skin
    # without it would read as a waxy patch.
    skin_trust = np.maximum(confident, painted) * inside
    texture = 1.0 + (0.016 * grain + 0.012 * mottle) * skin_trust
    # The flush is a broad colour, never a shape, so it also warms unsure cheeks (an unflushed
    # cheek next to a flushed one reads as a bruise); only its mottle keeps to trusted skin.
    blotches = 0.05 * mottle * skin_trust
    flush = np.clip(flush + blotches, 0.0, 1.0)

    shading_detail = occlusion * detail
    shading_detail *= roundness(distance, long_side)
    softer = cv2.GaussianBlur(shading_detail, (0, 0), 0.003 * long_side)
    shading_detail += (softer - shading_detail) * defocus

    if cues.face_box is not None:
        box = cues.face_box
        in_face = np.zeros_like(metering)
        in_face[
            max(int((box.y0 - cues.crop_box.y0) * scale), 0) : max(
                int((box.y1 - cues.crop_box.y0) * scale), 0
            ),
            max(int((box.x0 - cues.crop_box.x0) * scale), 0) : max(
                int((box.x1 - cues.crop_box.x0) * scale), 0
            ),
        ] = True
        if (metering & in_face).sum() > 100:
            metering &= in_face
    if not metering.any():
        metering = matte > 0.5 if (matte > 0.5).any() else np.ones_like(metering)
    # A median over ~20k evenly spread pixels is the median of them all, to well within a level.
    metering_index = np.flatnonzero(metering)
    metering_index = metering_index[:: max(1, metering_index.size // 20000)]
    metering_flush = np.clip(cheeks + blotches, 0.0, 1.0).ravel()[metering_index]

    outside = cv2.distanceTransform((matte <= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    behind = backdrop(matte, outside, long_side)
    chin = anchor_xy(cues, "chin", scale)

    unconfident = np.clip(seen, 0.0, 1.0)
    soften_box = None
    rows, cols = np.nonzero(unconfident > 0.01)
    if rows.size:
        pad = int(0.04 * long_side)
        soften_box = (
            max(int(rows.min()) - pad, 0),
            min(int(rows.max()) + pad + 1, height),
            max(int(cols.min()) - pad, 0),
            min(int(cols.max()) + pad + 1, width),
        )

    return Surface(
        normals=normals.astype(np.float32),
        sheen_normals=sheen_normals.astype(np.float32),
        occlusion_detail=shading_detail.astype(np.float32),
        texture=texture.astype(np.float32),
        across_x=((np.arange(width, dtype=np.float32) - width / 2) / max(width, height))[None, :],
        across_y=((height / 2 - np.arange(height, dtype=np.float32)) / max(width, height))[:, None],
        # A crease the sky cannot see cannot mirror the key either.
        specular_mask=(
            sheen * np.maximum(confident, painted) * inside * np.clip(occlusion, 0.0, 1.0) ** 2
        ).astype(np.float32),
        # Subsurface is a broad colour, never detail: an unsure patch (a shadowed nostril)
        # that lost it would show as a cold grey stain in warm skin.
        # Painted skin is skin: full weight there and where it fades into the scan's (the
        # larger of confident and painted dipped to 0.8 where each was a half).
        subsurface_weight=(0.6 + 0.4 * (1.0 - seen * (1.0 - painted))).astype(np.float32),
        flush=flush.astype(np.float32),
        skin_alpha=matte,
        metering=metering_index,
        metering_flush=metering_flush.astype(np.float32),
        unconfident=unconfident.astype(np.float32),
        soften_box=soften_box,
        background_behind=behind,
        shadow_source=wide_blur(matte, 0.025 * long_side).astype(np.float32),
        features=plan,
        feature_trust=feature_trust.astype(np.float32),
        texture_trust=skin_trust.astype(np.float32),
        painted=painted,
        wrap_base=wrap_base(
            matte,
            distance - outside,
            layout,
            plan,
            _kept_clear(cues, scale),
            chin,
            nose_side(cues.pose),
        ),
        hat_base=_hat_base(cues, scale, distance - outside, layout),
    )


def _hat_base(
    cues: StructuralCues, scale: float, outline: np.ndarray, layout: FaceLayout | None
) -> HatBase | None:
    """Where a hat may sit: by the face's layout, or on a profile by its near eye and nose."""
    if not cues.is_profile:
        return hat_base(outline, layout)
    # A profile's anchors are placed roughly (their confidence is halved): any it kept will do,
    # its surest eye (a profile shows one).
    nose = anchor_xy(cues, "nose_tip", scale, 0.0)
    eyes = sorted(
        (a for a in cues.anchors if a.name in ("eye_left", "eye_right")),
        key=lambda a: -a.confidence,
    )
    eye = anchor_xy(cues, eyes[0].name, scale, 0.0) if eyes else None
    return None if nose is None or eye is None else profile_hat_base(outline, eye, nose)


def _skin_normals(
    normals: np.ndarray,
    depth: np.ndarray,
    distance: np.ndarray,
    confident: np.ndarray,
    zone: np.ndarray,
    strength: float,
    long_side: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The skin's normals, and the broader ones its sheen follows.

    Vision's normals carry the scan's ripple and speckle as bumps; a newborn's skin has none
    at that scale. They are smoothed edge-preservingly, guided by the depth (a little blurred,
    so the guide carries the forms and not the speckle): where the depth has no edge the
    ripple is averaged away, where it has one (the nose's side, a lid, the lips) the form
    stays sharp. The nose, lids and lips keep a crisper version than the open skin. The
    head's volume comes from the dome, its face from vision: the scan's low frequencies are
    partly the scanner's own light. Fix Anatomy evens the open skin's relief further.
    """
    half = (max(1, depth.shape[1] // 2), max(1, depth.shape[0] // 2))
    guide = cv2.GaussianBlur(
        cv2.resize(depth, half, interpolation=cv2.INTER_AREA), (0, 0), 0.0025 * long_side
    )
    small = cv2.resize(normals, half, interpolation=cv2.INTER_AREA)
    fine = cv2.ximgproc.guidedFilter(guide, small, max(1, int(0.015 * long_side)), 1e-5)
    fine = cv2.resize(fine, (depth.shape[1], depth.shape[0]), interpolation=cv2.INTER_LINEAR)
    crisp = wide_blur(normals, max(1.0, 0.004 * long_side))
    sharpness = ((zone - 0.35) / 0.65)[..., None]
    fine += (crisp - fine) * sharpness
    coarse = wide_blur(normals, 0.04 * long_side)
    base = coarse * (1.0 - DOME_WEIGHT) + dome_normals(distance, long_side) * DOME_WEIGHT
    relief = confident * (1.0 - 0.5 * strength * (1.0 - sharpness[..., 0]))
    out = base + (fine - coarse) * relief[..., None]
    normalise(out)
    sheen = wide_blur(out, 0.012 * long_side)
    normalise(sheen)
    return out, sheen


def _kept_clear(cues: StructuralCues, scale: float) -> tuple[tuple[float, float], ...]:
    """The eyes (those the pose shows), nose and mouth vision found, however unsure: no prop
    ever covers them."""
    names = (*visible_eyes(cues.pose), "nose_tip", "mouth")
    places = (anchor_xy(cues, name, scale) for name in names)
    return tuple(place for place in places if place is not None)
