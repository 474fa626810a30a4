"""Integer translation and cutout of an NHWC batch as one masked shift.

DiffAugment's two geometric ops (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN
Training", NeurIPS 2020, arXiv:2006.10738) both move or blank whole pixels by integer amounts, so
their composition is a *masked shift* ``S(offsets, centers)``: output pixel ``(b, i, j)`` reads
input pixel ``(b, i - dy, j - dx)`` when that exists and ``(i, j)`` lies outside the cutout
rectangle, else the fill value.

This module builds the gather index and the 0/1 mask from the per-sample parameters (separably:
``[B, H]`` row and ``[B, W]`` column pieces, so building them costs a fraction of one image pass)
and applies them with one ``take`` (``masked_shift``, no custom gradient: the fused maps of
``tf_diffaug.augment.fused`` own the derivatives). A translation is injective, so the transpose of
``S`` is again a masked shift, ``S(-offsets, centers - offsets)``: ``shift_and_mask``, the public
op, runs through those fused maps and its gradient is that inverse shift, on every backend (no
scatter-add in the backward pass).
"""

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


def masked_shift(images, offsets=None, centers=None, cutout_size=None, fill=None):
    """``S(offsets, centers)`` as one ``take`` times the keep-mask; ``fill`` (None: 0) elsewhere.

    Kept pixels are moved bit-exactly. Differentiating this directly goes through the ``take``
    (a scatter-add); use ``shift_and_mask`` for the closed-form gradient.

    Args:
        images: float tensor [B, H, W, C] with static H, W.
        offsets, centers, cutout_size: as for ``shift_and_mask``.
        fill: None, a Python float or a per-sample tensor [B, 1, 1, 1].

    Returns:
        Tensor like ``images``.
    """
    batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
    index, mask = gather_index_and_mask((batch, height, width), offsets, centers, cutout_size)
    mask = ops.cast(mask, images.dtype)
    flat = ops.reshape(images, (-1, images.shape[-1]))
    out = ops.reshape(ops.take(flat, index, axis=0), ops.shape(images)) * mask
    # kept pixels: x * 1 + fill * 0 == x exactly (moved values are bit-identical)
    return out if fill is None or (isinstance(fill, float) and fill == 0.0) else out + fill * (1.0 - mask)


def shift_and_mask(images, offsets=None, centers=None, cutout_size=None, fill=0.0):
    """Translate each image by integer offsets, then cut out a rectangle; fill the gaps.

    ``out[b, i, j] = in[b, i - dy, j - dx]`` where that pixel exists and ``(i, j)`` lies outside
    rows ``[cy - h//2, cy - h//2 + h)`` x columns ``[cx - w//2, cx - w//2 + w)``; ``fill`` elsewhere.
    The gradient is the inverse masked shift (closed form on every backend, any order).

    Args:
        images: float tensor [B, H, W, C] with static H, W.
        offsets: int tensor [B, 2] (dy, dx), or None.
        centers: int tensor [B, 2] (cy, cx), or None.
        cutout_size: (h, w) Python ints when centers is given.
        fill: Python float written where the output has no source pixel.

    Returns:
        Tensor like ``images``.
    """
    from tf_diffaug.augment import fused  # fused builds on this module

    apply = fused.compile_for_backend(jit_compile=False)
    return apply(images, offsets=offsets, centers=centers, cutout_size=cutout_size, fill=float(fill))
