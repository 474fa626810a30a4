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


def axis_terms(shape, offsets=None, centers=None, cutout_size=None):
    """The separable pieces of ``S(offsets, centers)``: per axis, source index and 0/1 vectors.

    Args:
        shape: (B, H, W), H and W Python ints.
        offsets, centers, cutout_size: as for ``shift_and_mask``.

    Returns:
        ``(rows, cols)``, each ``(source index [B, L] int32, valid [B, L] float32,
        cut [B, L] float32 or None)``: the output keeps pixel ``(i, j)`` iff
        ``valid_r[i] valid_c[j] (1 - cut_r[i] cut_c[j]) = 1``.
    """
    batch, height, width = shape
    if offsets is None:
        offsets = ops.zeros((batch, 2), dtype="int32")
    offsets = ops.cast(offsets, "int32")
    row_start = col_start = h = w = None
    if centers is not None:
        h, w = cutout_size
        centers = ops.cast(centers, "int32")
        row_start, col_start = centers[:, :1] - h // 2, centers[:, 1:] - w // 2
    axes = []
    for length, shift, start, size in ((height, offsets[:, :1], row_start, h), (width, offsets[:, 1:], col_start, w)):
        src, valid, cut = _axis_terms(length, shift, start, size)
        axes.append((src, ops.cast(valid, "float32"), None if cut is None else ops.cast(cut, "float32")))
    return tuple(axes)


def _keep(rows, cols):
    """[B, H, W] float keep-mask from the separable pieces (products, no boolean logic per pixel).

    On JAX the mask is a batched outer product (``einsum``, a dot): XLA's CPU backend keeps a dot's
    result in memory, where it would recompute an elementwise mask inside every consumer (the
    forward gather, the backward gather and the kept sum, fused into one loop), about 25% of the
    JAX step. TensorFlow compiles the forward and backward maps separately and is faster with the
    elementwise form.
    """
    if keras.backend.backend() == "jax":
        if rows[2] is None:
            return ops.einsum("bh,bw->bhw", rows[1], cols[1])
        u = ops.stack([rows[1], -rows[1] * rows[2]], axis=2)
        v = ops.stack([cols[1], cols[1] * cols[2]], axis=2)
        return ops.einsum("bhk,bwk->bhw", u, v)
    keep = ops.expand_dims(rows[1], 2) * ops.expand_dims(cols[1], 1)
    if rows[2] is not None:
        keep = keep * (1.0 - ops.expand_dims(rows[2], 2) * ops.expand_dims(cols[2], 1))
    return keep


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
    rows, cols = axis_terms(shape, offsets, centers, cutout_size)
    base = ops.expand_dims(ops.arange(batch, dtype="int32") * height, 1)
    index = ops.expand_dims((base + rows[0]) * width, 2) + ops.expand_dims(cols[0], 1)
    return ops.reshape(index, (-1,)), ops.expand_dims(_keep(rows, cols), -1)


def kept_sum(values, offsets=None, centers=None, cutout_size=None):
    """``sum_ij keep[b, i, j] values[b, i, j]`` for [B, H, W] values, [B], without a full-size mask.

    The keep-mask is ``v_r v_c^T - (v_r c_r) (v_c c_c)^T`` (valid and cut vectors per axis), so
    the sum is two batched matrix-vector products: cheaper than a masked reduction, which XLA's CPU
    backend runs with the mask recomputed per pixel.
    """
    shape = (ops.shape(values)[0], values.shape[1], values.shape[2])
    rows, cols = axis_terms(shape, offsets, centers, cutout_size)
    rows, cols = ([None if v is None else ops.cast(v, values.dtype) for v in axis] for axis in (rows[1:], cols[1:]))
    total = ops.sum(ops.einsum("bhw,bw->bh", values, cols[0]) * rows[0], axis=1)
    if rows[1] is not None:
        cut = ops.einsum("bhw,bw->bh", values, cols[0] * cols[1]) * (rows[0] * rows[1])
        total = total - ops.sum(cut, axis=1)
    return total


def _take_rows(flat, index):
    """``flat[index]`` for in-range indices (they are clipped by construction).

    On JAX ``keras.ops.take`` is ``jnp.take(mode="fill")``, whose bounds checks and NaN fill make
    XLA's CPU backend run two composed gathers (a map and its transpose in one ``jax.jit``)
    about four times slower; the indices here never need them, so JAX uses ``mode="clip"``.
    """
    if keras.backend.backend() == "jax":
        import jax.numpy as jnp  # only on the JAX backend

        return jnp.take(flat, index, axis=0, mode="clip")
    return ops.take(flat, index, axis=0)


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
    out = ops.reshape(_take_rows(flat, index), ops.shape(images)) * mask
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
