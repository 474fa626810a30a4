"""The five DiffAugment operations as pure functions with explicit per-sample parameters.

These are the differentiable augmentations of Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training" (NeurIPS 2020, arXiv:2006.10738), written on ``keras.ops`` so they
run on every Keras backend. They draw no random numbers: the layers in
``tf_diffaug.augment.layers`` sample the parameters and call these. Images are NHWC float tensors;
every parameter has a leading batch dimension ``B`` (one value per sample). No op clips its output:
clipping would zero the gradient wherever a pixel saturates.

Example:

>>> import numpy as np
>>> from tf_diffaug.augment import ops
>>> x = np.zeros((2, 8, 8, 3), "float32")
>>> y = ops.translate(x + 1.0, np.array([[1, 0], [0, -2]], "int32"))  # row 0 of sample 0 is fill
>>> float(y[0, 0, 0, 0]), float(y[0, 1, 0, 0])
(0.0, 1.0)
"""

from keras import ops as kops

from tf_diffaug.augment import spatial


def _per_sample(values, images):
    """Reshape a [B] parameter to [B, 1, 1, 1] in the images' dtype."""
    return kops.reshape(kops.cast(values, images.dtype), (-1, 1, 1, 1))


def adjust_brightness(images, delta):
    """Add a per-sample constant to every pixel: ``x + delta``.

    Args:
        images: float tensor [B, H, W, C].
        delta: float tensor [B].

    Returns:
        Tensor [B, H, W, C].

    Example:

    >>> import numpy as np
    >>> y = adjust_brightness(np.zeros((2, 4, 4, 3), "float32"), np.array([0.1, -0.25], "float32"))
    >>> float(y[1, 3, 3, 2])
    -0.25
    """
    images = kops.convert_to_tensor(images)
    return images + _per_sample(delta, images)


def adjust_saturation(images, factor):
    """Scale each pixel's deviation from its own channel mean: ``(x - mean_c) * f + mean_c``.

    With ``f = 0`` every pixel becomes gray (its channel mean), ``f = 1`` is the identity and
    ``f > 1`` exaggerates colors. The mean is taken per pixel over the channel axis.

    Args:
        images: float tensor [B, H, W, C].
        factor: float tensor [B].

    Returns:
        Tensor [B, H, W, C].
    """
    images = kops.convert_to_tensor(images)
    mean = kops.mean(images, axis=-1, keepdims=True)
    return (images - mean) * _per_sample(factor, images) + mean


def adjust_contrast(images, factor):
    """Scale each image's deviation from its global mean: ``(x - mean_hwc) * f + mean_hwc``.

    The mean is taken per image over height, width and channels (one scalar per sample).

    Args:
        images: float tensor [B, H, W, C].
        factor: float tensor [B].

    Returns:
        Tensor [B, H, W, C].
    """
    images = kops.convert_to_tensor(images)
    mean = kops.mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - mean) * _per_sample(factor, images) + mean


def translate(images, offsets, fill=0.0):
    """Shift each image by whole pixels: ``out[b, i, j] = in[b, i - dy, j - dx]``, fill outside.

    Pixels shifted in from outside the image take ``fill``; offsets of magnitude >= the image size
    give an all-fill image. The gradient with respect to ``images`` is the inverse shift of the
    upstream gradient (a 0/1 mask for ``sum(out)``).

    Args:
        images: float tensor [B, H, W, C] with static H and W.
        offsets: int tensor [B, 2] of (dy, dx); positive dy moves content down, positive dx right.
        fill: Python float for the uncovered pixels (DiffAugment uses the middle of the value range).

    Returns:
        Tensor [B, H, W, C].
    """
    return spatial.shift_and_mask(images, offsets=offsets, fill=fill)


def cutout(images, centers, size, fill=0.0):
    """Set one rectangle per image to ``fill``.

    The rectangle of sample ``b`` covers rows ``[cy - h//2, cy - h//2 + h)`` and columns
    ``[cx - w//2, cx - w//2 + w)``, clipped to the image, where ``(cy, cx) = centers[b]`` and
    ``(h, w) = size``. The gradient is the upstream gradient times the 0/1 keep-mask.

    Args:
        images: float tensor [B, H, W, C] with static H and W.
        centers: int tensor [B, 2] of (cy, cx); may lie on or beyond the border.
        size: (h, w) Python ints.
        fill: Python float written inside the rectangle.

    Returns:
        Tensor [B, H, W, C].
    """
    images = kops.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    size = _check_size(size)
    _, keep = spatial.gather_index_and_mask((kops.shape(images)[0], height, width), centers=centers, cutout_size=size)
    return kops.where(kops.cast(keep, "bool"), images, kops.cast(fill, images.dtype))


def _check_size(size):
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"cutout size must be a pair of ints (h, w), got size={size!r}.") from None
    if h < 0 or w < 0:
        raise ValueError(f"cutout size must be non-negative, got size={size!r}.")
    return h, w
