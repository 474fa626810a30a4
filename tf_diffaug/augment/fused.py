"""The official DiffAugment policy (color, then translation, then cutout) as one linear map, fused.

Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training" (NeurIPS 2020,
arXiv:2006.10738) apply brightness, saturation and contrast one after another, then a translation
and a cutout. Written op by op that is about ten passes over the batch forward and as many
backward. Here it is one affine map ``T(x) = J x + t`` with closed-form derivatives:

* **Color as one affine map per sample.** With brightness ``d``, saturation ``s`` and contrast ``k``,
  write ``m_c(x)`` for the per-pixel channel mean and ``M(x)`` for the per-image mean. Brightness
  gives ``x + d``; saturation keeps the channel mean, so
  ``x2 = s (x - m_c(x)) + m_c(x) + d``; its per-image mean is ``M(x) + d`` because
  ``x - m_c(x)`` averages to zero over channels; contrast then gives

  ``x3 = k s x + k (1 - s) m_c(x) + (1 - k) M(x) + d = a x + beta sum_c(x) + mu M(x) + d``

  with per-sample ``a = k s``, ``beta = k (1 - s) / C``, ``mu = 1 - k``. This is exact algebra
  (float results differ from the sequential ops by rounding only; the tests check against
  sequential NumPy).
* **Translation and cutout as one masked shift** ``S(offsets, centers)``
  (``tf_diffaug.augment.spatial``): output pixel ``(i, j)`` reads ``(i - dy, j - dx)`` unless that
  lies outside the image or ``(i, j)`` is cut out. ``S`` moves whole pixels one to one, so its
  transpose is again a masked shift: ``S(offsets, centers)^T = S(-offsets, centers - offsets)``.

So ``T(x) = S_f(A x + d)`` (``A`` the color part, ``S_f`` the shift that writes the fill value
``f`` where it keeps no pixel), and

* the Jacobian ``J h = S_0(A h)`` is the same kernel without the constants;
* its transpose ``J^T g = S^T(a g + beta sum_c g) + mu M(keep * g)``: the per-pixel part of ``A``
  commutes with the shift, and the per-image mean term needs only the keep-mask of ``S`` (one
  kernel call: the shift ``S^T`` applied to ``a g + beta sum_c g + c``, filled with ``c``, for
  the per-sample constant ``c = mu M(keep * g)``);
* the transpose of ``J^T`` is ``J``: every derivative, of any order, is one of these two maps,
  so R1 "through T" (a gradient penalty differentiated again) never autodiffs a gather.

All three (``forward_map``, ``linear_map``, ``transpose_map``, after ``prepare`` turns the sampled
parameters into ``(a, beta, mu, d)`` and the two shifts) are written once here, against a small
*kernel* (``per_sample``, ``index``, ``shift``, ``image_mean``, ``channel_sum``, ``kept_mean``,
``apply``; :class:`PortableKernel` in ``keras.ops``), and bound to each backend's custom-gradient
mechanism by a thin module: ``fused_tf`` (``tf.custom_gradient``, XLA), ``fused_jax``
(``jax.custom_vjp``, ``jax.jit``), ``fused_torch`` (``torch.autograd.Function``, with a torch
kernel of the same functions for eager speed). ``compile_for_backend`` picks the binding; only
the binding of the current backend is imported.

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


class PortableKernel:
    """The kernel functions in ``keras.ops`` (TensorFlow and JAX; XLA fuses them).

    Per-sample values are [B, 1, 1, 1] tensors; ``channel_sum`` is [B, H, W, 1]; a *shift* is the
    tuple ``(offsets, centers, cutout_size)`` of ``spatial.masked_shift``.
    """

    @staticmethod
    def per_sample(values, images):
        return ops.reshape(ops.cast(values, images.dtype), (-1, 1, 1, 1))

    @staticmethod
    def index(values, images):
        return ops.cast(values, "int32")

    @staticmethod
    def shift(images, offsets, centers, cutout_size, transpose_of=None):
        return offsets, centers, cutout_size

    channel_sum = staticmethod(channel_sum)
    image_mean = staticmethod(image_mean)

    @staticmethod
    def kept_mean(images, summed, shift):
        """Per-image mean of ``images`` over the output pixels ``shift`` keeps, [B, 1, 1, 1]."""
        summed = images if summed is None else summed  # one channel: the sum is the image
        values = summed[..., 0]
        if keras.backend.standardize_dtype(values.dtype) not in ("float32", "float64"):
            values = ops.cast(values, "float32")
        total = spatial.kept_sum(values, *shift)
        n = images.shape[1] * images.shape[2] * images.shape[3]
        return ops.cast(ops.reshape(total / n, (-1, 1, 1, 1)), images.dtype)

    @staticmethod
    def apply(images, summed, a, beta, offset, fill, shift):
        """``S(a x + beta summed + offset)`` filled with ``fill`` (``shift`` None: no ``S``).

        None means 1 for ``a`` and 0 otherwise.
        """
        out = images if a is None else a * images
        if beta is not None:
            out = out + beta * summed
        if offset is not None:
            out = out + offset
        return out if shift is None else spatial.masked_shift(out, *shift, fill)


def _color_terms(kernel, images, color):
    """Per-sample ``(a, beta, mu, d)``; for one channel ``beta`` folds into ``a`` (returns beta None)."""
    brightness, saturation, contrast = (kernel.per_sample(v, images) for v in color)
    a = contrast * saturation
    channels = images.shape[-1]
    if channels == 1:  # sum_c x = x: a + beta = k
        return contrast, None, 1.0 - contrast, brightness
    return a, (contrast - a) / channels, 1.0 - contrast, brightness


def prepare(kernel, images, color=None, offsets=None, centers=None, cutout_size=None):
    """The sampled parameters in the form the three maps use: ``(terms, S, S^T)``.

    ``terms`` is ``(a, beta, mu, d)`` or None without color; ``S`` and ``S^T`` are the kernel's
    shifts for ``(offsets, centers)`` and ``(-offsets, centers - offsets)``, or None without a
    geometric op. ``images`` gives the shape, dtype and device only.
    """
    terms = None if color is None else _color_terms(kernel, images, color)
    if offsets is None and centers is None:
        return terms, None, None
    offsets = None if offsets is None else kernel.index(offsets, images)
    centers = None if centers is None else kernel.index(centers, images)
    inverse_offsets = None if offsets is None else -offsets
    inverse_centers = centers if (centers is None or offsets is None) else centers - offsets
    shift = kernel.shift(images, offsets, centers, cutout_size)
    # transpose_of lets a kernel share what the two have in common (layout, masks)
    return terms, shift, kernel.shift(images, inverse_offsets, inverse_centers, cutout_size, transpose_of=shift)


def forward_map(kernel, images, prepared, fill):
    """``T(x) = S(A x + d)``, ``fill`` where ``S`` keeps no pixel (``prepared`` from ``prepare``)."""
    terms, shift, _ = prepared
    fill = None if shift is None else fill
    if terms is None:
        return kernel.apply(images, None, None, None, None, fill, shift)
    a, beta, mu, d = terms
    summed = None if beta is None else kernel.channel_sum(images)
    return kernel.apply(images, summed, a, beta, mu * kernel.image_mean(images) + d, fill, shift)


def linear_map(kernel, images, prepared):
    """The Jacobian ``J h = S(A h)``: ``forward_map`` without brightness, filled with 0."""
    terms, shift, _ = prepared
    if terms is None:
        return kernel.apply(images, None, None, None, None, None, shift)
    a, beta, mu, _ = terms
    summed = None if beta is None else kernel.channel_sum(images)
    return kernel.apply(images, summed, a, beta, mu * kernel.image_mean(images), None, shift)


def transpose_map(kernel, upstream, prepared):
    """``J^T g = S^T(a g + beta sum_c g) + mu M(keep * g)``, ``keep`` the pixels ``S`` keeps."""
    terms, shift, inverse = prepared
    if terms is None:
        return kernel.apply(upstream, None, None, None, None, None, inverse)
    a, beta, mu, _ = terms
    summed = None if beta is None else kernel.channel_sum(upstream)
    if shift is None:
        const = mu * kernel.image_mean(upstream)
        return kernel.apply(upstream, summed, a, beta, const, None, None)
    const = mu * kernel.kept_mean(upstream, summed, shift)
    # the constant reaches every input pixel, moved back by S^T or not: it is also the fill
    return kernel.apply(upstream, summed, a, beta, const, const, inverse)


def augment_batch(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0):
    """Apply color, translation and cutout (each optional, in that order) in one fused pass.

    Equal, up to float rounding, to ``adjust_contrast(adjust_saturation(adjust_brightness(x, d), s),
    k)`` followed by ``translate(., offsets, fill)`` and ``cutout(., centers, cutout_size, fill)``.
    Portable ``keras.ops`` code, differentiated by the backend's own autodiff (a scatter-add
    through the gather); ``compile_for_backend`` returns the same map with its closed-form
    derivatives.

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
    >>> float(keras.ops.sum(y[1])) / 3  # 64 pixels minus the 2 x 2 cut
    60.0
    """
    images = ops.convert_to_tensor(images)
    prepared = prepare(PortableKernel, images, color, offsets, centers, cutout_size)
    return forward_map(PortableKernel, images, prepared, float(fill))


def augment_batch_vjp(upstream, color=None, offsets=None, centers=None, cutout_size=None):
    """Gradient of ``sum(upstream * augment_batch(x, ...))`` with respect to ``x``, in closed form.

    ``J^T g``: the inverse masked shift of ``a g + beta sum_c g`` plus ``mu`` times the per-image
    mean of ``g`` over the kept pixels (the module docstring derives it). No full-size mask is
    built or moved. The parameters are constants (sampled, not learned): no gradient flows to them.

    Args:
        upstream: float tensor [B, H, W, C], the gradient of the loss with respect to the output.
        color, offsets, centers, cutout_size: as for ``augment_batch``.

    Returns:
        Tensor [B, H, W, C], the gradient with respect to the images.
    """
    upstream = ops.convert_to_tensor(upstream)
    return transpose_map(
        PortableKernel, upstream, prepare(PortableKernel, upstream, color, offsets, centers, cutout_size)
    )


def compile_for_backend(jit_compile=True):
    """``augment_batch`` with closed-form derivatives of every order, for the current Keras backend.

    * TensorFlow (``fused_tf``): ``tf.custom_gradient``; with ``jit_compile`` each map is one
      ``tf.function(jit_compile=True)`` per static image shape (XLA fuses it into a reduction plus
      one gather loop); inside an outer XLA compilation they are simply inlined.
    * JAX (``fused_jax``): ``jax.custom_vjp``, each map ``jax.jit``-compiled (inlined under the
      caller's ``jax.jit``).
    * torch (``fused_torch``): ``torch.autograd.Function`` over a torch kernel (one strided pass
      and one row gather per map; nothing image-sized is kept for the backward).

    ``jit_compile`` only matters on TensorFlow (False runs the same maps op by op). Python
    arguments (``fill``, ``cutout_size``) are static.

    Args:
        jit_compile: bool; compile with XLA (TensorFlow only).

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
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from tf_diffaug.augment import fused_tf

        return fused_tf.bind(jit_compile=bool(jit_compile))
    if backend == "jax":
        from tf_diffaug.augment import fused_jax

        return fused_jax.bind()
    if backend == "torch":
        from tf_diffaug.augment import fused_torch

        return fused_torch.bind()
    return augment_batch
