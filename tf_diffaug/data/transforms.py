"""Deterministic image preprocessing shared by every data source.

All sources (the embedded set, Fashion-MNIST, image folders, tfds datasets) produce uint8 images at
their native size; this module turns them into the square, fixed-size images a GAN trains on, in
one way, so that the images ``td.data.load`` feeds the discriminator and the uint8 images
``td.data.load_array`` gives the FID reference statistics are the same pixels:

1. ``resize_and_center_crop``: scale so the *shorter* side equals ``resolution`` (antialiased
   bilinear, i.e. a triangle filter widened by the downscale factor, the filter PIL calls
   ``BILINEAR``; plain bilinear when upscaling), then crop the central ``resolution`` square;
2. ``convert_channels``: 1 -> 3 channels by tiling, 3 -> 1 by ITU-R BT.601 luma
   ``0.299 R + 0.587 G + 0.114 B`` (the weights of PIL's ``convert("L")``), 4 -> 3 by dropping alpha;
3. ``quantize``: round to nearest (ties to even) and clip to uint8;
4. ``to_unit_range``: uint8 -> float32 ``x / 127.5 - 1`` in [-1, 1], the range of a ``tanh``
   generator (DiffAugment's ``value_range=(-1, 1)``).

``preprocess`` chains 1-3. The functions take one image ``[H, W, C]`` or a batch ``[B, H, W, C]``
and work in eager mode and inside ``tf.data`` / ``tf.function`` graphs (dynamic input sizes).
"""

from __future__ import annotations

import tensorflow as tf

#: ITU-R BT.601 luma weights for R, G, B (as PIL's ``Image.convert("L")``).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def check_resolution(resolution) -> int:
    """Returns `resolution` as an int, or raises a ValueError naming it.

    Args:
        resolution: side of the square output images, an integer >= 1.

    Example:
        >>> check_resolution(64)
        64
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(
            f"Bad resolution {resolution!r}: expected a positive integer side length in pixels such as 32, 64 or 128."
        )
    return resolution


def check_channels(channels):
    """Returns `channels` (None, 1 or 3), or raises a ValueError naming it."""
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise ValueError(f"Bad channels {channels!r}: expected None (the source's own), 1 or 3.")
    return channels


def resize_and_center_crop(images, resolution: int):
    """Resizes images so the shorter side is `resolution`, then crops the central square.

    The resize is antialiased bilinear (``tf.image.resize(method="bilinear", antialias=True)``):
    when downscaling, each output pixel averages the input with a triangle filter as wide as the
    scale factor (like PIL's ``Image.resize(..., Image.BILINEAR)``), so no aliasing; when
    upscaling it is ordinary bilinear interpolation. The longer side is scaled by the same factor
    (rounded to nearest) and cropped symmetrically, the extra pixel of an odd margin going to the
    bottom/right. An image already ``resolution`` x ``resolution`` is returned unchanged.

    Args:
        images: uint8 or float tensor, ``[H, W, C]`` or ``[B, H, W, C]``.
        resolution: side of the output square.

    Returns:
        float32 tensor ``[resolution, resolution, C]`` (or with the batch dimension), values in
        the input's scale (0..255 for uint8 input), not rounded.

    Example:
        >>> x = tf.zeros([480, 640, 3], tf.uint8)
        >>> resize_and_center_crop(x, 64).shape
        TensorShape([64, 64, 3])
    """
    resolution = check_resolution(resolution)
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    static = images.shape[-3:-1]
    if static[0] == resolution and static[1] == resolution:
        return images
    shape = tf.shape(images)
    height, width = shape[-3], shape[-2]
    scale = resolution / tf.cast(tf.minimum(height, width), tf.float64)
    new_height = tf.maximum(resolution, tf.cast(tf.round(tf.cast(height, tf.float64) * scale), tf.int32))
    new_width = tf.maximum(resolution, tf.cast(tf.round(tf.cast(width, tf.float64) * scale), tf.int32))
    resized = tf.image.resize(images, tf.stack([new_height, new_width]), method="bilinear", antialias=True)
    top = (new_height - resolution) // 2
    left = (new_width - resolution) // 2
    cropped = tf.image.crop_to_bounding_box(resized, top, left, resolution, resolution)
    # An exact-size input goes through the filter unchanged (its weights are 1 at the pixel itself).
    out_shape = images.shape[:-3].concatenate([resolution, resolution, images.shape[-1]])
    return tf.ensure_shape(cropped, out_shape)


def convert_channels(images, channels):
    """Converts the channel count of float images ``[..., C]`` to `channels`.

    1 -> 3 tiles the grey channel; 3 (or 4: alpha dropped) -> 1 takes the BT.601 luma
    ``0.299 R + 0.587 G + 0.114 B``; 4 -> 3 drops alpha; None or an equal count is the identity.

    Args:
        images: float tensor ``[..., C]`` with C in (1, 3, 4) (static).
        channels: None, 1 or 3.

    Example:
        >>> convert_channels(tf.ones([2, 8, 8, 1]), 3).shape
        TensorShape([2, 8, 8, 3])
    """
    channels = check_channels(channels)
    have = images.shape[-1]
    if have not in (1, 3, 4):
        raise ValueError(f"Images have {have} channels; expected 1 (grey), 3 (RGB) or 4 (RGBA).")
    if have == 4:
        images, have = images[..., :3], 3
    if channels is None or channels == have:
        return images
    if channels == 3:
        return tf.concat([images] * 3, axis=-1)
    weights = tf.constant(LUMA_WEIGHTS, images.dtype)
    return tf.reduce_sum(images * weights, axis=-1, keepdims=True)


def quantize(images):
    """Rounds float images in the 0..255 scale to nearest (ties to even) and clips to uint8."""
    return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)


def to_unit_range(images):
    """Maps uint8 images to float32 in [-1, 1]: ``x / 127.5 - 1`` (0 -> -1, 255 -> 1)."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def preprocess(images, resolution: int, channels=None):
    """Resizes, center-crops, converts channels and quantizes uint8 images.

    Args:
        images: uint8 tensor ``[H, W, C]`` or ``[B, H, W, C]``, any size.
        resolution: side of the square output.
        channels: None (keep; 4-channel RGBA becomes RGB), 1 or 3.

    Returns:
        uint8 tensor ``[resolution, resolution, channels]`` (or batched).

    Example:
        >>> preprocess(tf.zeros([28, 28, 1], tf.uint8), 32, channels=3).shape
        TensorShape([32, 32, 3])
    """
    return quantize(convert_channels(resize_and_center_crop(images, resolution), channels))
