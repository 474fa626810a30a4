"""Build the embedded "emoji-faces" few-shot set from the Noto Color Emoji font.

The set is the 112 single-glyph faces of Unicode's ``face-*`` emoji subgroups (see
``shared/DATA.md`` section 1), rendered by Google's Noto Color Emoji (images Apache-2.0, font
SIL OFL 1.1). The font's ``CBDT`` table stores one 136x128 RGBA PNG per glyph; this script

1. maps each codepoint sequence to a glyph name: single codepoints through the font's ``cmap``,
   sequences with the emoji variation selector U+FE0F through the ``cmap`` format-14
   variation-sequence table (falling back to ``GSUB`` ligatures, then to the base glyph),
2. decodes the glyph's PNG, composites it on white with straight-alpha blending
   ``out = (rgb * a + 255 * (255 - a)) / 255`` rounded to nearest,
3. makes it square: the 136-pixel-wide bitmaps carry 4 transparent columns on each side, which are
   cropped; were any opaque pixel outside the central 128 columns, the bitmap would instead be
   padded with white to 136x136 (nothing is lost) and area-resized,
4. resizes to ``--size`` (default 128: no resampling at all) with PIL's box filter,
5. writes ``emoji_faces_<size>.npz`` (``images`` uint8 [112, size, size, 3], ``names`` str [112],
   codepoints in lowercase hex joined by ``-`` like ``2620-fe0f``) and ``NOTICE.emoji_faces.txt``.

Usage (from the repository root, with Debian's ``fonts-noto-color-emoji`` installed)::

    python scripts/build_emoji_faces.py            # rebuilds tf_diffaug/data/assets/
    python scripts/build_emoji_faces.py --out /tmp/x --font /path/to/NotoColorEmoji.ttf

The test ``tests/data/test_emoji_asset.py`` rebuilds the set into a temporary folder and checks
that the shipped asset equals it pixel for pixel.
"""

from __future__ import annotations

import argparse
import io
import pathlib

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image

DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent.parent / "tf_diffaug" / "data" / "assets"
VARIATION_SELECTOR_16 = 0xFE0F


def _expand(spec: str) -> list[str]:
    """Expands a DATA.md codepoint list ("1f600–1f637 2620-fe0f") into sequence names."""
    names = []
    for token in spec.split():
        if "–" in token:  # an en dash marks an inclusive range of single codepoints
            first, last = (int(part, 16) for part in token.split("–"))
            names.extend(f"{cp:x}" for cp in range(first, last + 1))
        else:
            names.append(token.lower())
    return names


# DATA.md section 1, verbatim: the 112 single-glyph faces of Unicode's face-* subgroups.
FACE_SEQUENCES = _expand(
    "1f479 1f47a 1f47b 1f47d 1f47e 1f47f 1f480 1f4a9 1f600–1f637 1f641 1f642 1f643 1f644 1f910–1f917 "
    "1f920–1f925 1f927 1f928 1f929 1f92a 1f92b 1f92c 1f92d 1f92e 1f92f 1f970–1f976 1f978 1f979 1f97a "
    "1f9d0 1fae0–1fae5 1fae8 2620-fe0f 2639-fe0f 263a-fe0f"
)

NOTICE = """\
emoji_faces_{size}.npz: the "emoji-faces" few-shot image set of tf_diffaug
==========================================================================

Contents: {count} RGB images, {size}x{size} uint8 (array "images"), and their Unicode codepoint
sequences (array "names", lowercase hex joined by "-"), the single-glyph faces of Unicode's
face-* emoji subgroups, composited on a white background.

Source: the emoji bitmaps (CBDT table, 136x128 RGBA PNG strike) of the font
"Noto Color Emoji" (file NotoColorEmoji.ttf, Debian package fonts-noto-color-emoji 2.042,
https://github.com/googlefonts/noto-emoji). Made by the scripts/build_emoji_faces.py script of
this repository: the 4 fully transparent columns on each side of every bitmap are cropped to make
it square, it is alpha-composited on white and, for sizes other than 128, box-resized.

Licenses: the emoji images are Copyright Google Inc. and licensed under the Apache License,
Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0); the font itself is licensed under the
SIL Open Font License, Version 1.1 (https://openfontlicense.org). The images here are a modified
(cropped, composited, possibly resized) derivative of the Apache-2.0 images.

Rebuild (Debian/Ubuntu):
    apt-get install fonts-noto-color-emoji
    python scripts/build_emoji_faces.py --size {size}
"""


def _parse(name: str) -> list[int]:
    return [int(part, 16) for part in name.split("-")]


def _ligature_glyph(font: TTFont, glyphs: list[str]) -> str | None:
    """Returns the GSUB ligature glyph that replaces the glyph sequence `glyphs`, if any."""
    if "GSUB" not in font:
        return None
    for lookup in font["GSUB"].table.LookupList.Lookup:
        for subtable in lookup.SubTable:
            if lookup.LookupType == 7:  # extension lookup: unwrap
                subtable = subtable.ExtSubTable
            for ligature in getattr(subtable, "ligatures", {}).get(glyphs[0], []):
                if ligature.Component == glyphs[1:]:
                    return ligature.LigGlyph
    return None


def glyph_name(font: TTFont, name: str) -> str:
    """Resolves a codepoint sequence name like "1f600" or "2620-fe0f" to the font's glyph name."""
    codepoints = _parse(name)
    cmap = font.getBestCmap()
    if len(codepoints) == 1:
        return cmap[codepoints[0]]
    base, *rest = codepoints
    if rest == [VARIATION_SELECTOR_16]:
        for table in font["cmap"].tables:
            if table.format == 14:
                for base_cp, glyph in table.uvsDict.get(VARIATION_SELECTOR_16, []):
                    if base_cp == base:  # None means "the default glyph of the base codepoint"
                        return glyph or cmap[base]
    glyphs = [cmap[cp] for cp in codepoints if cp in cmap]
    ligature = _ligature_glyph(font, glyphs) if len(glyphs) > 1 else None
    if ligature is not None:
        return ligature
    if rest == [VARIATION_SELECTOR_16] and base in cmap:  # FE0F only selects emoji presentation
        return cmap[base]
    raise KeyError(f"No glyph for the sequence {name!r} in the font.")


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha compositing of uint8 RGBA over white, rounded to nearest."""
    rgb = rgba[..., :3].astype(np.int64)
    alpha = rgba[..., 3:].astype(np.int64)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _square(rgba: np.ndarray) -> np.ndarray:
    """Crops the transparent side columns of a wide bitmap, or pads it with transparency."""
    height, width = rgba.shape[:2]
    if width > height:
        left = (width - height) // 2
        outside = np.concatenate([rgba[:, :left, 3], rgba[:, left + height :, 3]], axis=1)
        if not outside.any():
            return rgba[:, left : left + height]
        padded = np.zeros((width, width, 4), np.uint8)
        top = (width - height) // 2
        padded[top : top + height] = rgba
        return padded
    if height > width:
        return _square(rgba.transpose(1, 0, 2)).transpose(1, 0, 2)
    return rgba


def render(font: TTFont, name: str, size: int) -> np.ndarray:
    """Renders one face as uint8 RGB [size, size, 3] on white."""
    strike = font["CBDT"].strikeData[0]
    png = strike[glyph_name(font, name)].imageData
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    rgb = _on_white(_square(rgba))
    if rgb.shape[0] != size:
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BOX))
    return rgb


def build(font_path: str = DEFAULT_FONT, out_dir: str | pathlib.Path = DEFAULT_OUT, size: int = 128) -> pathlib.Path:
    """Writes emoji_faces_<size>.npz and its NOTICE into `out_dir`; returns the .npz path."""
    font = TTFont(font_path, lazy=True)
    images = np.stack([render(font, name, size) for name in FACE_SEQUENCES])
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"emoji_faces_{size}.npz"
    np.savez_compressed(path, images=images, names=np.array(FACE_SEQUENCES))
    (out_dir / "NOTICE.emoji_faces.txt").write_text(NOTICE.format(size=size, count=len(images)))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--font", default=DEFAULT_FONT, help="path of NotoColorEmoji.ttf")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder")
    parser.add_argument("--size", type=int, default=128, help="side of the square images")
    args = parser.parse_args(argv)
    path = build(args.font, args.out, args.size)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
