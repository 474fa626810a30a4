"""The official DiffAugment policy (color, then translation, then cutout) fused into one pass.

Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training" (NeurIPS 2020,
arXiv:2006.10738) apply brightness, saturation and contrast one after another, then a translation
and a cutout. Written op by op that is about ten passes over the batch forward and as many
backward. Here it is two:

* **Color as one affine map per sample.** With brightness ``d``, saturation ``s`` and contrast ``k``,
  write ``m_c(x)`` for the per-pixel channel mean and ``M(x)`` for the per-image mean. Brightness
  gives ``x + d``; saturation keeps the channel mean, so
  ``x2 = s (x - m_c(x)) + m_c(x) + d``; its per-image mean is ``M(x) + d`` because
  ``x - m_c(x)`` averages to zero over channels; contrast then gives

  ``x3 = k s x + k (1 - s) m_c(x) + (1 - k) M(x) + d``,

  i.e. ``a x + b m_c(x) + c`` with per-sample ``a = k s``, ``b = k (1 - s)``,
  ``c = (1 - k) M(x) + d``. This is exact algebra (float results differ from the sequential ops by
  rounding only; the tests check against sequential NumPy).
* **Translation and cutout as one masked gather** (``tf_diffaug.augment.spatial``), with the fill
  value folded into the affine offset ``c``.

``augment_batch`` is portable ``keras.ops`` code. ``compile_for_backend`` returns it compiled with
XLA on TensorFlow (``tf.function(jit_compile=True)``; forward and backward each become a couple of
fused loops), and unchanged on other backends, where the caller's ``jax.jit`` or eager torch runs it.

Example:

>>> import numpy as np
>>> x = np.random.uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
>>> y = augment_batch(x, color=(np.zeros(4), np.ones(4), np.ones(4)),
...                   offsets=np.zeros((4, 2), "int32"))  # identity parameters
>>> bool(np.allclose(y, x, atol=1e-6))
True
"""

import keras
from keras import ops

from tf_diffaug.augment import spatial


def channel_sum(images):
    """Per-pixel sum over channels, [B, H, W, 1], as adds of channel slices.

    Written with slices rather than a reduction over the (tiny, innermost) channel axis: XLA on CPU
    and TensorFlow both run a length-3 innermost reduction several times slower than two adds.
    """
    channels = images.shape[-1]
    total = images[..., 0:1]
    for c in range(1, channels):
        total = total + images[..., c : c + 1]
    return total


def image_mean(images):
    """Per-image mean over height, width and channels, [B, 1, 1, 1].

    Reduced as [B, N / L, L] -> [B, L] -> [B] with ``L`` the largest divisor of ``N = H W C`` that is
    at most 64: the first reduction runs over a non-minor axis, which XLA's CPU backend vectorizes
    (a flat reduction over N contiguous values measured about 7x slower here). Accumulates in
    float32 for half-precision inputs.
    """
    n = images.shape[1] * images.shape[2] * images.shape[3]
    lanes = max(d for d in range(1, min(n, 64) + 1) if n % d == 0)
    # accumulate in float32: a float16 sum of a 256 x 256 x 3 image overflows
    values = images if keras.backend.standardize_dtype(images.dtype) == "float64" else ops.cast(images, "float32")
    partial = ops.sum(ops.reshape(values, (-1, n // lanes, lanes)), axis=1)
    return ops.cast(ops.reshape(ops.sum(partial, axis=1) / n, (-1, 1, 1, 1)), images.dtype)


def color_coefficients(images, brightness, saturation, contrast):
    """Per-sample ``(a, b, c)`` with ``contrast(saturation(brightness(x))) = a x + b m_c(x) + c``.

    Args:
        images: float tensor [B, H, W, C] (the input of the brightness op).
        brightness, saturation, contrast: float tensors [B] (delta, factor, factor).

    Returns:
        a, b, c: tensors [B, 1, 1, 1] in the images' dtype.
    """
    k = ops.reshape(ops.cast(contrast, images.dtype), (-1, 1, 1, 1))
    s = ops.reshape(ops.cast(saturation, images.dtype), (-1, 1, 1, 1))
    d = ops.reshape(ops.cast(brightness, images.dtype), (-1, 1, 1, 1))
    return k * s, k * (1.0 - s), (1.0 - k) * image_mean(images) + d


def augment_batch(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0):
    """Apply color, translation and cutout (each optional, in that order) in one fused pass.

    Equal, up to float rounding, to ``adjust_contrast(adjust_saturation(adjust_brightness(x, d), s),
    k)`` followed by ``translate(., offsets, fill)`` and ``cutout(., centers, cutout_size, fill)``.

    Args:
        images: float tensor [B, H, W, C], static H, W and C.
        color: None or a tuple (brightness [B], saturation [B], contrast [B]).
        offsets: None or int tensor [B, 2] (dy, dx).
        centers: None or int tensor [B, 2] (cy, cx).
        cutout_size: (h, w) Python ints when centers is given.
        fill: Python float, the value of uncovered and cut-out pixels.

    Returns:
        Tensor [B, H, W, C].

    Example:

    >>> import numpy as np
    >>> x = np.ones((2, 8, 8, 3), "float32")
    >>> y = augment_batch(x, offsets=np.array([[1, 0], [0, 0]], "int32"),
    ...                   centers=np.array([[0, 0], [4, 4]], "int32"), cutout_size=(2, 2))
    >>> [float(v) for v in y[0, :3, 0, 0]]  # sample 0: row 0 is shifted-in fill (and cut)
    [0.0, 1.0, 1.0]
    >>> float(y[1].numpy().sum()) / 3  # 64 pixels minus the 2 x 2 cut
    60.0
    """
    images = ops.convert_to_tensor(images)
    geometric = offsets is not None or centers is not None
    shift = fill if geometric else 0.0  # the gather works on (x - fill), so fold it into c
    if color is not None:
        a, b, c = color_coefficients(images, *color)
        channels = images.shape[-1]
        out = a * images + (b / channels) * channel_sum(images) + (c - shift)
    elif shift:
        out = images - shift
    else:
        out = images
    if not geometric:
        return out
    out = spatial.shift_and_mask(out, offsets=offsets, centers=centers, cutout_size=cutout_size)
    return out + fill if fill else out


def augment_batch_vjp(upstream, color=None, offsets=None, centers=None, cutout_size=None):
    """Gradient of ``sum(upstream * augment_batch(x, ...))`` with respect to ``x``, in closed form.

    With ``z = mask * P(a x + b m_c(x) + c(x)) + fill`` (``P`` the translation gather) and
    ``g = upstream``, the transpose is

    ``dx = P^T(mask * (a g + (b / C) sum_c g)) + (1 - k) / (H W C) * sum_hwc(mask * g)``.

    ``P^T`` is the inverse translation (a gather again) because a translation maps the kept pixels
    one to one, and ``P^T(mask * e)`` is the inverse gather of ``e`` times the keep-mask of the
    inverse translation with the cutout moved by ``-offsets``: no full-size mask is built or moved.
    The last term needs no gather because ``P^T`` preserves the sum over kept pixels. The
    parameters are constants (sampled, not learned): no gradient flows to them.

    Args:
        upstream: float tensor [B, H, W, C], the gradient of the loss with respect to the output.
        color, offsets, centers, cutout_size: as for ``augment_batch``.

    Returns:
        Tensor [B, H, W, C], the gradient with respect to the images.
    """
    upstream = ops.convert_to_tensor(upstream)
    shape = (ops.shape(upstream)[0], upstream.shape[1], upstream.shape[2])
    channels = upstream.shape[3]
    geometric = offsets is not None or centers is not None
    out = upstream
    total = None
    if color is not None:
        _, saturation, contrast = color
        k = ops.reshape(ops.cast(contrast, upstream.dtype), (-1, 1, 1, 1))
        s = ops.reshape(ops.cast(saturation, upstream.dtype), (-1, 1, 1, 1))
        kept = upstream
        if geometric:
            _, mask = spatial.gather_index_and_mask(shape, offsets, centers, cutout_size)
            kept = upstream * ops.cast(mask, upstream.dtype)
        total = (1.0 - k) * image_mean(kept)
        out = (k * s) * upstream + (k * (1.0 - s) / channels) * channel_sum(upstream)
    if geometric:
        if offsets is None:
            _, mask = spatial.gather_index_and_mask(shape, None, centers, cutout_size)
            out = out * ops.cast(mask, upstream.dtype)
        else:
            offsets = ops.cast(offsets, "int32")
            moved = None if centers is None else ops.cast(centers, "int32") - offsets
            index, mask = spatial.gather_index_and_mask(shape, -offsets, moved, cutout_size)
            flat = ops.reshape(out, (-1, channels))
            out = ops.reshape(ops.take(flat, index, axis=0), ops.shape(upstream)) * ops.cast(mask, upstream.dtype)
    return out + total if total is not None else out


def compile_for_backend(jit_compile=True):
    """``augment_batch`` with its closed-form gradient on TensorFlow, XLA-compiled by default.

    On the TensorFlow backend the result is a function with the signature of ``augment_batch``
    whose gradient (``tf.custom_gradient``) is ``augment_batch_vjp`` instead of TensorFlow's
    autodiff of the gather (a scatter-add). With ``jit_compile`` forward and backward are each one
    ``tf.function(jit_compile=True)``: XLA fuses each into a reduction plus one gather loop, which
    is what makes the policy cost a few elementwise passes; without XLA TensorFlow runs each op
    as its own kernel. Inside an outer XLA compilation the two functions are simply inlined.
    Python arguments (``fill``, ``cutout_size``) are static. On other backends this returns the
    portable ``augment_batch`` itself, differentiated by the backend (``jax.jit`` fuses it there).

    Args:
        jit_compile: bool; compile forward and backward with XLA (TensorFlow only).

    Returns:
        A callable ``f(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.)``.

    Example:

    >>> import numpy as np
    >>> augment = compile_for_backend()
    >>> x = np.zeros((2, 8, 8, 3), "float32")
    >>> y = augment(x, color=(np.full(2, 0.5), np.ones(2), np.ones(2)),
    ...             offsets=np.array([[0, 3], [0, 0]], "int32"))
    >>> [float(v) for v in y[0, 0, 2:5, 0]]  # brightness +0.5, then columns 0-2 shifted in (fill 0)
    [0.0, 0.5, 0.5]
    """
    if keras.backend.backend() != "tensorflow":
        return augment_batch
    import tensorflow as tf  # only on the TensorFlow backend

    forward, backward = augment_batch, augment_batch_vjp
    if jit_compile:
        forward = tf.function(augment_batch, jit_compile=True, autograph=False, reduce_retracing=True)
        backward = tf.function(augment_batch_vjp, jit_compile=True, autograph=False, reduce_retracing=True)

    def augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0):
        images = tf.convert_to_tensor(images)

        @tf.custom_gradient
        def apply(x):
            def grad(upstream):
                return backward(upstream, color, offsets, centers, cutout_size)

            # stop_gradient: the tape must not make TF build a forward function with extra
            # outputs for its own backward pass; the gradient is ``grad`` above.
            return forward(tf.stop_gradient(x), color, offsets, centers, cutout_size, fill), grad

        return apply(images)

    return augment
