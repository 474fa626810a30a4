"""Deterministic image preprocessing shared by every data source.

All sources (the embedded set, Fashion-MNIST, image folders, tfds datasets) produce uint8 images at
their native size; this module turns them into the square, fixed-size images a GAN trains on, in
one way, so that the images ``td.data.load`` feeds the discriminator and the uint8 images
``td.data.load_array`` gives the FID reference statistics are the same pixels:

0. ``composite_alpha``: an alpha channel (RGBA, grey + alpha) is composited on the
   ``alpha_background`` colour, ``"white"`` (255, the default) or ``"black"`` (0):
   ``a * x + (1 - a) * background`` with ``a = alpha / 255``;
1. ``resize_to_square`` with the ``crop`` mode (all resizes antialiased bilinear, i.e. a triangle
   filter widened by the downscale factor, the filter PIL calls ``BILINEAR``; plain bilinear when
   upscaling):

   - ``"center"`` (default, ``resize_and_center_crop``): scale so the *shorter* side equals
     ``resolution``, then crop the central square (the sides of a non-square image are lost);
   - ``"pad"`` (``resize_and_pad``, letterbox): scale so the *longer* side equals ``resolution``,
     then pad the short side symmetrically to a square with the ``alpha_background`` colour (the
     whole image is kept);
   - ``"none"`` (``resize_squash``): scale each side to ``resolution`` on its own (the whole image
     is kept, its aspect ratio is not);

2. ``convert_channels``: 1 -> 3 channels by tiling, 3 -> 1 by ITU-R BT.601 luma
   ``0.299 R + 0.587 G + 0.114 B`` (the weights of PIL's ``convert("L")``), 4 -> 3 by dropping alpha;
   None keeps the source's channels (grey stays one channel);
3. ``quantize``: round to nearest (ties to even) and clip to uint8;
4. ``to_unit_range``: uint8 -> float32 ``x / 127.5 - 1`` in [-1, 1], the range of a ``tanh``
   generator (DiffAugment's ``value_range=(-1, 1)``).

``preprocess`` chains 0-3. The functions take one image ``[H, W, C]`` or a batch ``[B, H, W, C]``
and work in eager mode and inside ``tf.data`` / ``tf.function`` graphs (dynamic input sizes).
An image already ``resolution`` x ``resolution`` passes through 1 unchanged in every mode.
"""

from __future__ import annotations

import tensorflow as tf

#: ITU-R BT.601 luma weights for R, G, B (as PIL's ``Image.convert("L")``).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
#: How a non-square image becomes square (see the module docstring); "center" is the default.
CROP_MODES = ("center", "pad", "none")
#: The colour behind transparent pixels and in "pad" margins, as a 0..255 level of every channel.
ALPHA_BACKGROUNDS = {"white": 255.0, "black": 0.0}


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


def check_crop(crop) -> str:
    """Returns `crop` if it is one of ``CROP_MODES``, or raises a ValueError naming it.

    Example:
        >>> check_crop("pad")
        'pad'
    """
    if not isinstance(crop, str) or crop not in CROP_MODES:
        raise ValueError(f"Bad crop {crop!r}: expected one of {list(CROP_MODES)}.")
    return crop


def check_alpha_background(alpha_background) -> str:
    """Returns `alpha_background` if it is one of ``ALPHA_BACKGROUNDS``, or raises a ValueError."""
    if not isinstance(alpha_background, str) or alpha_background not in ALPHA_BACKGROUNDS:
        raise ValueError(f"Bad alpha_background {alpha_background!r}: expected one of {list(ALPHA_BACKGROUNDS)}.")
    return alpha_background


def background_value(alpha_background) -> float:
    """The 0..255 level of an ``alpha_background`` name.

    Example:
        >>> background_value("black"), background_value("white")
        (0.0, 255.0)
    """
    return ALPHA_BACKGROUNDS[check_alpha_background(alpha_background)]


def composite_alpha(images, alpha_background="white"):
    """Composites images with an alpha channel (last of 2 or 4 channels) on a uniform background.

    ``out = a * x + (1 - a) * b`` per colour channel with ``a = alpha / 255`` and ``b`` the level
    of `alpha_background` (Porter and Duff, "Compositing Digital Images", SIGGRAPH 1984, "over").
    Images with 1 or 3 channels are returned as float32 unchanged.

    Args:
        images: tensor ``[..., C]`` in the 0..255 scale, C static.
        alpha_background: "white" or "black".

    Returns:
        float32 tensor ``[..., C - 1]`` (or ``[..., C]`` without alpha).

    Example:
        >>> composite_alpha(tf.constant([[[0, 0, 0, 51]]], tf.uint8)).numpy()
        array([[[204., 204., 204.]]], dtype=float32)
    """
    fill = background_value(alpha_background)
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    if images.shape[-1] not in (2, 4):
        return images
    colour, alpha = images[..., :-1], images[..., -1:] / 255.0
    return colour * alpha + fill * (1.0 - alpha)


def _resize(images, height, width):
    return tf.image.resize(images, tf.stack([height, width]), method="bilinear", antialias=True)


def _with_static_shape(images, out, resolution):
    out_shape = images.shape[:-3].concatenate([resolution, resolution, images.shape[-1]])
    return tf.ensure_shape(out, out_shape)


def resize_and_pad(images, resolution: int, fill: float = 255.0):
    """Letterboxes images: the longer side to `resolution`, the shorter padded with `fill`.

    The resize is antialiased bilinear as in ``resize_and_center_crop``; the shorter side is
    scaled by the same factor and rounded to nearest (at least 1 pixel), then padded
    symmetrically to `resolution`, the extra pixel of an odd margin going to the bottom/right.

    Args:
        images: uint8 or float tensor, ``[H, W, C]`` or ``[B, H, W, C]``.
        resolution: side of the output square.
        fill: value of the padding, in the input's scale (255.0: white for uint8 input).

    Returns:
        float32 tensor ``[resolution, resolution, C]`` (or batched), not rounded.

    Example:
        >>> out = resize_and_pad(tf.zeros([20, 40, 1], tf.uint8), 8)
        >>> out[:, 0, 0].numpy()
        array([255., 255.,   0.,   0.,   0.,   0., 255., 255.], dtype=float32)
    """
    resolution = check_resolution(resolution)
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    static = images.shape[-3:-1]
    if static[0] == resolution and static[1] == resolution:
        return images
    shape = tf.shape(images)
    height, width = shape[-3], shape[-2]
    scale = resolution / tf.cast(tf.maximum(height, width), tf.float64)
    new_height = tf.clip_by_value(tf.cast(tf.round(tf.cast(height, tf.float64) * scale), tf.int32), 1, resolution)
    new_width = tf.clip_by_value(tf.cast(tf.round(tf.cast(width, tf.float64) * scale), tf.int32), 1, resolution)
    resized = _resize(images, new_height, new_width)
    top, left = (resolution - new_height) // 2, (resolution - new_width) // 2
    paddings = [[top, resolution - new_height - top], [left, resolution - new_width - left], [0, 0]]
    paddings = [[0, 0]] * (images.shape.rank - 3) + paddings  # no padding of a batch axis
    padded = tf.pad(resized, tf.convert_to_tensor(paddings), constant_values=fill)
    return _with_static_shape(images, padded, resolution)


def resize_squash(images, resolution: int):
    """Resizes both sides to `resolution` independently (antialiased bilinear; aspect not kept).

    Example:
        >>> resize_squash(tf.zeros([20, 40, 3]), 8).shape
        TensorShape([8, 8, 3])
    """
    resolution = check_resolution(resolution)
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    static = images.shape[-3:-1]
    if static[0] == resolution and static[1] == resolution:
        return images
    return _with_static_shape(images, _resize(images, resolution, resolution), resolution)


def resize_to_square(images, resolution: int, crop: str = "center", fill: float = 255.0):
    """Brings images to ``resolution`` x ``resolution`` by the `crop` mode ("center", "pad", "none").

    ``"center"``: ``resize_and_center_crop``; ``"pad"``: ``resize_and_pad`` with `fill`;
    ``"none"``: ``resize_squash``. Returns float32, not rounded.

    Example:
        >>> [resize_to_square(tf.zeros([30, 60, 3]), 16, crop).shape[:2] for crop in CROP_MODES]
        [TensorShape([16, 16]), TensorShape([16, 16]), TensorShape([16, 16])]
    """
    crop = check_crop(crop)
    if crop == "center":
        return resize_and_center_crop(images, resolution)
    if crop == "pad":
        return resize_and_pad(images, resolution, fill)
    return resize_squash(images, resolution)


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


def preprocess(images, resolution: int, channels=None, crop: str = "center", alpha_background: str = "white"):
    """Composites alpha, resizes to a square, converts channels and quantizes uint8 images.

    Args:
        images: uint8 tensor ``[H, W, C]`` or ``[B, H, W, C]``, any size, C in 1..4.
        resolution: side of the square output.
        channels: None (keep: grey stays 1 channel, RGBA becomes RGB), 1 or 3.
        crop: "center" (default), "pad" or "none"; see ``resize_to_square``.
        alpha_background: "white" (default) or "black": the colour behind transparent pixels
            (of 2- and 4-channel images) and of the "pad" margins.

    Returns:
        uint8 tensor ``[resolution, resolution, channels]`` (or batched).

    Example:
        >>> preprocess(tf.zeros([28, 28, 1], tf.uint8), 32, channels=3).shape
        TensorShape([32, 32, 3])
    """
    fill = background_value(alpha_background)
    square = resize_to_square(composite_alpha(images, alpha_background), resolution, crop, fill)
    return quantize(convert_channels(square, channels))
