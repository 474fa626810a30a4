"""Preprocessing (resize + center crop, channels, quantization) against PIL and NumPy."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_diffaug.data import transforms


def pil_resize_and_crop(image, resolution):
    """The reference: PIL BILINEAR (antialiased) on float channels, then the central square."""
    height, width = image.shape[:2]
    scale = resolution / min(height, width)
    new_h, new_w = max(resolution, round(height * scale)), max(resolution, round(width * scale))
    channels = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F").resize((new_w, new_h), Image.BILINEAR))
        for c in range(image.shape[-1])
    ]
    resized = np.stack(channels, axis=-1)
    top, left = (new_h - resolution) // 2, (new_w - resolution) // 2
    return resized[top : top + resolution, left : left + resolution]


@pytest.mark.parametrize(
    "height, width, resolution",
    [(37, 53, 16), (100, 60, 32), (28, 28, 64), (300, 200, 128), (17, 9, 5), (32, 48, 32)],
)
def test_resize_and_center_crop_matches_pil_bilinear(height, width, resolution):
    image = np.random.default_rng(height * width).integers(0, 256, (height, width, 3)).astype(np.uint8)
    got = transforms.resize_and_center_crop(image, resolution).numpy()
    assert got.shape == (resolution, resolution, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, pil_resize_and_crop(image, resolution), atol=2e-3)


def test_resize_works_on_batches_in_graphs_with_unknown_sizes():
    images = np.random.default_rng(1).integers(0, 256, (2, 40, 24, 1)).astype(np.uint8)
    fn = tf.function(
        lambda x: transforms.resize_and_center_crop(x, 12),
        input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint8)],
    )
    got = fn(images).numpy()
    assert got.shape == (2, 12, 12, 1)
    for index in range(2):
        np.testing.assert_allclose(got[index], pil_resize_and_crop(images[index], 12), atol=2e-3)


def test_same_size_is_bit_exact_identity():
    image = np.random.default_rng(2).integers(0, 256, (28, 28, 1)).astype(np.uint8)
    got = transforms.preprocess(tf.constant(image), 28)
    fn = tf.function(lambda x: transforms.preprocess(x, 28), input_signature=[tf.TensorSpec([None, None, 1], tf.uint8)])
    np.testing.assert_array_equal(got.numpy(), image)
    np.testing.assert_array_equal(fn(image).numpy(), image)


def test_convert_channels_matches_numpy():
    rgb = np.random.default_rng(3).uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
    grey = transforms.convert_channels(tf.constant(rgb), 1).numpy()
    expected = rgb[..., 0:1] * 0.299 + rgb[..., 1:2] * 0.587 + rgb[..., 2:3] * 0.114
    np.testing.assert_allclose(grey, expected, rtol=1e-6)
    tiled = transforms.convert_channels(tf.constant(grey), 3).numpy()
    np.testing.assert_array_equal(tiled, np.concatenate([grey] * 3, axis=-1))
    rgba = np.concatenate([rgb, np.full(rgb.shape[:-1] + (1,), 7.0, np.float32)], axis=-1)
    np.testing.assert_array_equal(transforms.convert_channels(tf.constant(rgba), None).numpy(), rgb)
    np.testing.assert_array_equal(transforms.convert_channels(tf.constant(rgb), None).numpy(), rgb)


def test_luma_is_within_one_level_of_pil_convert_l():
    rgb = np.random.default_rng(4).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    ours = transforms.preprocess(rgb, 16, channels=1).numpy()[..., 0]
    pil = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.abs(ours.astype(int) - pil).max() <= 1


def test_quantize_rounds_and_clips_and_unit_range_maps_ends():
    values = tf.constant([-3.0, 0.49, 0.5, 1.5, 254.6, 300.0])
    np.testing.assert_array_equal(transforms.quantize(values).numpy(), [0, 0, 0, 2, 255, 255])
    unit = transforms.to_unit_range(tf.constant([0, 127, 255], tf.uint8)).numpy()
    np.testing.assert_allclose(unit, [-1.0, 127 / 127.5 - 1, 1.0], rtol=0, atol=1e-7)


@pytest.mark.parametrize("bad", [0, -4, 64.0, "64", True, None])
def test_bad_resolution_is_named(bad):
    with pytest.raises(ValueError, match=rf"Bad resolution {bad!r}: expected a positive integer"):
        transforms.check_resolution(bad)


@pytest.mark.parametrize("bad", [2, 4, "rgb", 0])
def test_bad_channels_are_named(bad):
    with pytest.raises(ValueError, match=rf"Bad channels {bad!r}: expected None"):
        transforms.check_channels(bad)
