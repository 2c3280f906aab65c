"""The default engine: re-shade the scan's own surface as newborn skin under studio light.

No weights and no generative model: the geometry is exactly what vision measured (depth and
normals), the colour is exactly the parents' blended tone, and the light is a soft studio key
and fill. Where vision was not confident the surface is blurred flat, so the render never shows
detail the scan did not see. Seeds only move the light and its warmth, which is why five
candidates differ while all keep the same face.

One module per concern: ``subject`` (the clean cut-out and the head's volume), ``surface``
(what is prepared once per render: normals, creases, texture, where the skin flushes),
``light`` (each candidate's key, fill and studio set, the skin shading and the composite),
``features`` (lashes, nostrils and lips drawn at their anchors), ``props`` (the wrap), with
``colour``, ``raster`` and ``texture`` below them and ``engine`` on top.
"""

from render.pipeline.engines.relight.engine import RelightEngine

__all__ = ["RelightEngine"]
