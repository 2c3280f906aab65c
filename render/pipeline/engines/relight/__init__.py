"""The default engine, "Studio light": re-shade the scan's own surface as newborn skin under
studio light.

No weights and no generative model: the geometry is what vision measured (depth and normals,
their ultrasound ripple smoothed edge-preservingly), the colour is the parents' blended tone
(its lit skin, fine detail and highlights treated per tone so every Monk tone reads as lit
skin with legible features), and the light is a studio key and fill. Features are drawn only
at their own sure anchors, on the side the pose shows; where vision was not confident the
surface is blurred flat, so the render never shows detail the scan did not see. Seeds choose
the light (one of a photographer's setups round the style's key, its side, softness and the
paper), so five candidates, and a regenerated set, differ visibly while all keep the same face.
Fix Anatomy paints hands and occluders as the face's surface continued (or backdrop past the
head) and evens the outline.

One module per concern: ``subject`` (the clean cut-out, the head's volume, Fix Anatomy's
repair), ``face`` (what the anchors say: the face's size, the sides its pose shows, where its
soft regions sit), ``surface`` (what is prepared once per render: normals, creases, texture,
where the skin flushes), ``light`` (each candidate's key, fill and studio set, the skin
shading and the composite), ``features`` (lashes, nostrils and lips drawn at their anchors),
``props`` (the wrap), with ``colour`` (the tone's look), ``raster`` and ``texture`` below
them and ``engine`` on top.
"""

from render.pipeline.engines.relight.engine import RelightEngine

__all__ = ["RelightEngine"]
