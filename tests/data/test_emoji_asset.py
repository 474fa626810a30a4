"""The shipped emoji-faces asset equals what scripts/build_emoji_faces.py makes from the Debian font."""

import importlib.resources
import importlib.util
import io
import pathlib

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image

from tf_diffaug import data

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "build_emoji_faces.py"


def _expected_names():
    """DATA.md section 1's list, expanded independently of the script."""
    singles = [0x1F479, 0x1F47A, 0x1F47B, 0x1F47D, 0x1F47E, 0x1F47F, 0x1F480, 0x1F4A9]
    singles += list(range(0x1F600, 0x1F638)) + [0x1F641, 0x1F642, 0x1F643, 0x1F644]
    singles += list(range(0x1F910, 0x1F918)) + list(range(0x1F920, 0x1F926))
    singles += list(range(0x1F927, 0x1F930)) + list(range(0x1F970, 0x1F977))
    singles += [0x1F978, 0x1F979, 0x1F97A, 0x1F9D0] + list(range(0x1FAE0, 0x1FAE6)) + [0x1FAE8]
    return [format(cp, "x") for cp in singles] + ["2620-fe0f", "2639-fe0f", "263a-fe0f"]


@pytest.fixture(scope="module")
def builder_module():
    spec = importlib.util.spec_from_file_location("build_emoji_faces", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped():
    return data.load_emoji_faces()


def test_shipped_asset_equals_a_fresh_build_from_the_font(builder_module, shipped, tmp_path):
    path = builder_module.build(FONT, tmp_path, size=128)
    with np.load(path) as rebuilt:
        np.testing.assert_array_equal(rebuilt["images"], shipped[0])
        assert list(rebuilt["names"]) == list(shipped[1])
    notice = (tmp_path / "NOTICE.emoji_faces.txt").read_text()
    shipped_notice = importlib.resources.files("tf_diffaug.data") / "assets" / "NOTICE.emoji_faces.txt"
    assert shipped_notice.read_text() == notice


def test_asset_holds_the_112_data_md_faces_on_white(shipped):
    images, names = shipped
    assert list(names) == _expected_names()
    assert len(set(names)) == 112
    assert images.shape == (112, 128, 128, 3) and images.dtype == np.uint8
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).all()
    non_white = (images != 255).any(axis=-1).mean(axis=(1, 2))
    assert (non_white > 0.05).all(), non_white.min()  # every image holds a face (dotted: 10%)


def test_asset_pixels_match_pil_compositing_of_the_font_bitmaps(shipped):
    images, names = shipped
    font = TTFont(FONT, lazy=True)
    strike = font["CBDT"].strikeData[0]
    cmap = font.getBestCmap()
    # Plain codepoints through the cmap, and a variation sequence through its base codepoint.
    for index in (0, 40, 111):
        base = int(str(names[index]).split("-")[0], 16)
        png = strike[cmap[base]].imageData
        rgba = Image.open(io.BytesIO(png)).convert("RGBA")
        assert rgba.size == (136, 128)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        expected = np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))[:, 4:132]
        assert np.abs(expected.astype(int) - images[index]).max() <= 1


def test_builder_resolves_variation_sequences_and_ligatures(builder_module):
    font = TTFont(FONT, lazy=True)
    cmap = font.getBestCmap()
    assert builder_module.glyph_name(font, "263a-fe0f") == cmap[0x263A]
    assert builder_module.glyph_name(font, "1f600") == cmap[0x1F600]
    # A ZWJ sequence (face in clouds: face without mouth, ZWJ, fog) resolves through GSUB to its
    # own glyph, whose bitmap differs from the plain face's.
    clouds = builder_module.glyph_name(font, "1f636-200d-1f32b")
    strike = font["CBDT"].strikeData[0]
    assert clouds not in (cmap[0x1F636], cmap[0x1F32B])
    assert strike[clouds].imageData != strike[cmap[0x1F636]].imageData
