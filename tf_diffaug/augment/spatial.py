"""Integer translation and cutout of an NHWC batch as one masked gather.

DiffAugment's two geometric ops (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS 2020, arXiv:2006.10738) both move or blank whole pixels by integer amounts, so
their composition is a *masked gather*: output pixel ``(b, i, j)`` reads input pixel
``(b, i - dy, j - dx)`` when that exists and lies outside the cutout rectangle, else the fill value.

This module builds the gather index and the 0/1 mask from the per-sample parameters (separably:
``[B, H]`` row and ``[B, W]`` column pieces, so building them costs a fraction of one image pass)
and applies them with one ``take``. On TensorFlow the gradient is defined explicitly as the inverse
gather ``grad_in[b, k, l] = (mask * grad_out)[b, k + dy, l + dx]``: a translation is injective, so
the transpose of the gather is again a gather, and no scatter-add runs in the backward pass.
Other backends differentiate the ``take`` directly (same values, scatter-add backward).
"""

import keras
from keras import ops


def _axis_terms(length, shift, start=None, size=None):
    """Source index, in-range flag and (optionally) cutout flag along one axis.

    Args:
        length: Python int, the axis length.
        shift: int tensor [B, 1], output position ``i`` reads input position ``i - shift``.
        start: optional int tensor [B, 1], first cut position ``c - size // 2``.
        size: optional Python int, the cut length along this axis.

    Returns:
        (clipped source index [B, L], valid [B, L] bool, cut [B, L] bool or None)
    """
    pos = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
    src = pos - shift
    valid = ops.logical_and(src >= 0, src < length)
    cut = None
    if start is not None:
        cut = ops.logical_and(pos >= start, pos < start + size)
    return ops.clip(src, 0, length - 1), valid, cut


def gather_index_and_mask(shape, offsets=None, centers=None, cutout_size=None):
    """Flat gather indices and keep-mask of "translate by offsets, then cut out at centers".

    Args:
        shape: (B, H, W) where H and W are Python ints (B may be a tensor).
        offsets: int tensor [B, 2] of (dy, dx) or None for no translation.
        centers: int tensor [B, 2] of (cy, cx) or None for no cutout.
        cutout_size: (h, w) Python ints, required with centers.

    Returns:
        (index, mask): int32 [B * H * W] indices into the flattened [B * H * W, C] images, and a
        float32 [B, H, W, 1] mask that is 1 where the output keeps a (moved) input pixel and 0
        where it takes the fill value.
    """
    batch, height, width = shape
    if offsets is None:
        offsets = ops.zeros((batch, 2), dtype="int32")
    offsets = ops.cast(offsets, "int32")
    row_start = col_start = None
    h = w = None
    if centers is not None:
        h, w = cutout_size
        centers = ops.cast(centers, "int32")
        row_start = centers[:, :1] - h // 2
        col_start = centers[:, 1:] - w // 2
    rows, rows_ok, rows_cut = _axis_terms(height, offsets[:, :1], row_start, h)
    cols, cols_ok, cols_cut = _axis_terms(width, offsets[:, 1:], col_start, w)
    base = ops.expand_dims(ops.arange(batch, dtype="int32") * height, 1)
    index = ops.expand_dims((base + rows) * width, 2) + ops.expand_dims(cols, 1)
    keep = ops.logical_and(ops.expand_dims(rows_ok, 2), ops.expand_dims(cols_ok, 1))
    if centers is not None:
        cut = ops.logical_and(ops.expand_dims(rows_cut, 2), ops.expand_dims(cols_cut, 1))
        keep = ops.logical_and(keep, ops.logical_not(cut))
    return ops.reshape(index, (-1,)), ops.expand_dims(ops.cast(keep, "float32"), -1)


def _masked_gather(images, index, mask):
    flat = ops.reshape(images, (-1, ops.shape(images)[-1]))
    return ops.reshape(ops.take(flat, index, axis=0), ops.shape(images)) * mask


def shift_and_mask(images, offsets=None, centers=None, cutout_size=None, fill=0.0):
    """Translate each image by integer offsets, then cut out a rectangle; fill the gaps.

    ``out[b, i, j] = in[b, i - dy, j - dx]`` where that pixel exists and ``(i, j)`` lies outside
    rows ``[cy - h//2, cy - h//2 + h)`` x columns ``[cx - w//2, cx - w//2 + w)``; ``fill`` elsewhere.

    Args:
        images: float tensor [B, H, W, C] with static H, W.
        offsets: int tensor [B, 2] (dy, dx), or None.
        centers: int tensor [B, 2] (cy, cx), or None.
        cutout_size: (h, w) Python ints when centers is given.
        fill: Python float written where the output has no source pixel.

    Returns:
        Tensor like ``images``.
    """
    images = ops.convert_to_tensor(images)
    batch = ops.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    index, mask = gather_index_and_mask((batch, height, width), offsets, centers, cutout_size)
    mask = ops.cast(mask, images.dtype)
    if keras.backend.backend() == "tensorflow":
        out = _tf_masked_gather(images, index, mask, offsets, (batch, height, width))
    else:
        out = _masked_gather(images, index, mask)
    # kept pixels: x * 1 + fill * 0 == x exactly (moved values are bit-identical)
    return out + fill * (1.0 - mask) if fill else out


def _tf_masked_gather(images, index, mask, offsets, shape):
    """Masked gather whose gradient is the inverse gather (TensorFlow's custom_gradient)."""

    @keras.ops.custom_gradient
    def gather(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            if offsets is None:  # no translation: the transpose is the mask itself
                return upstream * mask
            inverse_index, inverse_mask = gather_index_and_mask(shape, -ops.cast(offsets, "int32"))
            return _masked_gather(upstream * mask, inverse_index, ops.cast(inverse_mask, x.dtype))

        return _masked_gather(x, index, mask), grad

    return gather(images)
