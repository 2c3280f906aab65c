"""The bundled font set a studio picks its brand font from.

The font files ship inside an installed package (matplotlib's DejaVu family), so nothing is
fetched at run time and no font binary is committed to this repository.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont


@dataclass(frozen=True)
class BundledFont:
    key: str
    display_name: str
    filename: str


BUNDLED_FONTS: dict[str, BundledFont] = {
    font.key: font
    for font in (
        BundledFont("sans", "Sans (DejaVu Sans)", "DejaVuSans.ttf"),
        BundledFont("sans-bold", "Sans bold (DejaVu Sans Bold)", "DejaVuSans-Bold.ttf"),
        BundledFont("sans-italic", "Sans italic (DejaVu Sans Oblique)", "DejaVuSans-Oblique.ttf"),
        BundledFont("serif", "Serif (DejaVu Serif)", "DejaVuSerif.ttf"),
        BundledFont("serif-bold", "Serif bold (DejaVu Serif Bold)", "DejaVuSerif-Bold.ttf"),
        BundledFont("serif-italic", "Serif italic (DejaVu Serif Italic)", "DejaVuSerif-Italic.ttf"),
        BundledFont("mono", "Monospace (DejaVu Sans Mono)", "DejaVuSansMono.ttf"),
    )
}
DEFAULT_FONT_KEY = "sans"


class UnknownFontError(ValueError):
    pass


def font_choices() -> list[tuple[str, str]]:
    """(key, display name) pairs, ready for a form's choices."""
    return [(font.key, font.display_name) for font in BUNDLED_FONTS.values()]


@lru_cache(maxsize=1)
def _font_directory() -> Path:
    # Imported lazily: matplotlib is only a font carrier here, and importing it costs ~100 ms.
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_path(key: str) -> Path:
    try:
        font = BUNDLED_FONTS[key]
    except KeyError:
        raise UnknownFontError(
            f"Unknown font {key!r}; choose one of {sorted(BUNDLED_FONTS)}"
        ) from None
    return _font_directory() / font.filename


_per_thread = threading.local()


def load_font(key: str, size: int) -> ImageFont.FreeTypeFont:
    """A bundled font at a pixel size, cached per thread.

    Cached because overlays reuse a handful of sizes; per thread because a FreeType face is not
    safe to render from two threads at once (Dramatiq workers run several threads).
    """
    if size < 1:
        raise ValueError(f"Font size must be positive, got {size}")
    cache: dict[tuple[str, int], ImageFont.FreeTypeFont] = _per_thread.__dict__.setdefault(
        "fonts", {}
    )
    font = cache.get((key, size))
    if font is None:
        font = cache[(key, size)] = ImageFont.truetype(str(font_path(key)), size=size)
    return font
