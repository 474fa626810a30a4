"""Images as they come: crop modes, alpha backgrounds and channels, against PIL and NumPy."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_diffaug import data
from tf_diffaug.data import pipeline, transforms


def pil_resize(image, width, height):
    """PIL BILINEAR (antialiased) on each float channel: the reference of every resize here."""
    planes = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))
        for c in range(image.shape[-1])
    ]
    return np.stack(planes, axis=-1).astype(np.float64)


def pil_letterbox(image, resolution, fill):
    """Longer side to `resolution` with PIL, then pasted in the middle of a `fill` square."""
    height, width = image.shape[:2]
    scale = resolution / max(height, width)
    new_h = min(resolution, max(1, round(height * scale)))
    new_w = min(resolution, max(1, round(width * scale)))
    out = np.full((resolution, resolution, image.shape[-1]), float(fill))
    top, left = (resolution - new_h) // 2, (resolution - new_w) // 2
    out[top : top + new_h, left : left + new_w] = pil_resize(image, new_w, new_h)
    return out


@pytest.mark.parametrize("height, width, resolution", [(30, 60, 16), (64, 20, 32), (17, 9, 8), (10, 40, 64)])
@pytest.mark.parametrize("fill", [0.0, 255.0])
def test_pad_letterboxes_like_pil(height, width, resolution, fill):
    image = np.random.default_rng(height + width).integers(0, 256, (height, width, 3)).astype(np.uint8)
    got = transforms.resize_to_square(image, resolution, "pad", fill).numpy()
    assert got.shape == (resolution, resolution, 3)
    np.testing.assert_allclose(got, pil_letterbox(image, resolution, fill), atol=2e-3)
    # The margins are exactly the fill: landscape images pad rows, portrait ones columns.
    margin = got[0] if width > height else got[:, 0]
    np.testing.assert_array_equal(margin, fill)


@pytest.mark.parametrize("height, width, resolution", [(30, 60, 16), (64, 20, 32), (5, 7, 24)])
def test_none_squashes_like_pil(height, width, resolution):
    image = np.random.default_rng(7).integers(0, 256, (height, width, 1)).astype(np.uint8)
    got = transforms.resize_to_square(image, resolution, "none").numpy()
    np.testing.assert_allclose(got, pil_resize(image, resolution, resolution), atol=2e-3)


def test_crop_modes_work_batched_in_graphs_and_keep_square_images():
    images = np.random.default_rng(3).integers(0, 256, (2, 12, 30, 3)).astype(np.uint8)
    fn = tf.function(
        lambda x: transforms.preprocess(x, 10, crop="pad", alpha_background="black"),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
    )
    got = fn(images).numpy()
    for index in range(2):
        expected = np.clip(np.round(pil_letterbox(images[index], 10, 0.0)), 0, 255)
        assert np.abs(got[index].astype(int) - expected).max() <= 1
    square = images[:, :12, :12]
    for crop in transforms.CROP_MODES:
        np.testing.assert_array_equal(transforms.preprocess(square, 12, crop=crop).numpy(), square)


def test_rgba_arrays_are_composited_on_the_background():
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (2, 6, 6, 4)).astype(np.uint8)
    rgba[..., 3] = rng.choice([0, 40, 128, 255], (2, 6, 6))
    alpha = rgba[..., 3:].astype(np.float64) / 255
    for name, level in (("white", 255.0), ("black", 0.0)):
        got = transforms.preprocess(rgba, 6, alpha_background=name).numpy()
        expected = np.round(rgba[..., :3] * alpha + level * (1 - alpha))
        assert got.shape == (2, 6, 6, 3)
        assert np.abs(got.astype(int) - expected).max() <= 1
    grey_alpha = rgba[..., [0, 3]]  # a 2-channel grey + alpha array becomes one grey channel
    got = transforms.preprocess(grey_alpha, 6, alpha_background="black").numpy()
    np.testing.assert_allclose(got[..., 0], np.round(rgba[..., 0] * alpha[..., 0]), atol=1)


@pytest.fixture(scope="module")
def option_folder(tmp_path_factory):
    """A landscape RGB, a portrait RGBA with graded alpha, and a grey+alpha (LA) PNG."""
    root = tmp_path_factory.mktemp("options")
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (12, 24, 3)).astype(np.uint8)
    rgba = rng.integers(0, 256, (24, 12, 4)).astype(np.uint8)
    rgba[..., 3] = np.linspace(0, 255, 12).astype(np.uint8)[None, :]
    la = rng.integers(0, 256, (16, 16, 2)).astype(np.uint8)
    la[:8, :, 1] = 0
    Image.fromarray(rgb).save(root / "a_rgb.png")
    Image.fromarray(rgba, "RGBA").save(root / "b_rgba.png")
    Image.fromarray(la, "LA").save(root / "c_la.png")
    return root, {"rgb": rgb, "rgba": rgba, "la": la}


def _composite(rgba, level):
    alpha = rgba[..., -1:].astype(np.float64) / 255
    return rgba[..., :-1] * alpha + level * (1 - alpha)


@pytest.mark.parametrize("crop", ["center", "pad", "none"])
@pytest.mark.parametrize("background", ["white", "black"])
def test_folder_crop_and_alpha_background_match_pil(option_folder, crop, background):
    root, images = option_folder
    level = 255.0 if background == "white" else 0.0
    got = data.load_array(str(root), resolution=8, crop=crop, alpha_background=background)
    assert got.shape == (3, 8, 8, 3)  # one colour image: every image RGB
    sources = [
        images["rgb"].astype(np.float64),
        _composite(images["rgba"], level),
        np.repeat(_composite(images["la"], level), 3, axis=-1),
    ]
    for index, source in enumerate(sources):
        if crop == "pad":
            expected = pil_letterbox(source, 8, level)
        elif crop == "none":
            expected = pil_resize(source, 8, 8)
        else:
            h, w = source.shape[:2]
            scale = 8 / min(h, w)
            nh, nw = max(8, round(h * scale)), max(8, round(w * scale))
            top, left = (nh - 8) // 2, (nw - 8) // 2
            expected = pil_resize(source, nw, nh)[top : top + 8, left : left + 8]
        diff = np.abs(got[index].astype(int) - np.clip(np.round(expected), 0, 255))
        assert diff.max() <= 1, (index, crop, background, diff.max())


def test_default_background_is_white_and_options_are_load_keywords(option_folder):
    root, images = option_folder
    default = data.load_array(str(root), resolution=16, crop="none")
    white = data.load_array(str(root), resolution=16, crop="none", alpha_background="white")
    np.testing.assert_array_equal(default, white)
    trained = np.stack(list(data.load(root, resolution=16, crop="none", shuffle=False).as_numpy_iterator()))
    np.testing.assert_allclose(trained, default / 127.5 - 1.0, atol=1e-6)
    # The grey + alpha image at native size: transparent rows become exactly the background.
    black = data.load_array(str(root), resolution=16, alpha_background="black", channels=1)
    np.testing.assert_array_equal(black[2, :8], 0)
    np.testing.assert_array_equal(white[2, :8], 255)


def test_grey_folders_stay_grey_unless_channels_3(tmp_path):
    rng = np.random.default_rng(6)
    greys = [rng.integers(0, 256, (10, 10)).astype(np.uint8) for _ in range(2)]
    for index, grey in enumerate(greys):
        Image.fromarray(grey).save(tmp_path / f"{index}.png")
    kept = data.load_array(str(tmp_path), resolution=10)
    assert kept.shape == (2, 10, 10, 1)
    np.testing.assert_array_equal(kept[..., 0], np.stack(greys))
    tiled = data.load_array(str(tmp_path), resolution=10, channels=3)
    np.testing.assert_array_equal(tiled, np.repeat(np.stack(greys)[..., None], 3, axis=-1))
    # One colour image makes the folder RGB; the grey ones are tiled, not tinted.
    colour = rng.integers(0, 256, (10, 10, 3)).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "2.png")
    mixed = data.load_array(str(tmp_path), resolution=10)
    assert mixed.shape == (3, 10, 10, 3)
    np.testing.assert_array_equal(mixed[0], np.repeat(greys[0][..., None], 3, axis=-1))
    np.testing.assert_array_equal(mixed[2], colour)
    luma = data.load_array(str(tmp_path), resolution=10, channels=1)
    assert np.abs(luma[2, ..., 0].astype(int) - np.asarray(Image.fromarray(colour).convert("L"))).max() <= 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(crop="letterbox"), r"Bad crop 'letterbox': expected one of \['center', 'pad', 'none'\]"),
        (dict(alpha_background="grey"), r"Bad alpha_background 'grey': expected one of \['white', 'black'\]"),
        (dict(alpha_background="black"), r"'emoji-faces': the embedded set is stored already composited on white"),
    ],
)
def test_bad_options_raise_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load("emoji-faces", resolution=8, **kwargs)
    with pytest.raises(ValueError, match=message):
        pipeline.load_array("emoji-faces", resolution=8, **kwargs)
