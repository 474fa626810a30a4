"""JAX binding of the fused DiffAugment maps: ``jax.custom_vjp`` over ``jax.jit``-compiled maps.

The maps (``forward_map``, ``linear_map``, ``transpose_map`` over the ``keras.ops`` kernel) live in
``tf_diffaug.augment.fused``. Here the VJP of the forward map is the transpose map, the VJP of the
transpose map is the linear map and the VJP of the linear map is the transpose map, so gradients
of every order (R1 through the augmentation) are closed form: JAX never differentiates the
gather (its autodiff would be a scatter-add). The sampled parameters get no cotangent.

Each map is ``jax.jit``-compiled once per static configuration (``cutout_size``, ``fill``) and
traced per shape; under the caller's ``jax.jit`` it is inlined and XLA fuses it with its
neighbours. Only reverse mode is defined (``jax.custom_vjp``): ``jax.jvp`` through the
augmentation is not supported. Imported only on the JAX backend.
"""

import functools

import jax
import jax.numpy as jnp

from tf_diffaug.augment import fused


@functools.cache
def _maps(cutout_size, fill):
    kernel = fused.PortableKernel
    run_forward = jax.jit(lambda x, p: fused.forward_map(kernel, x, fused.prepare(kernel, x, *p, cutout_size), fill))
    run_linear = jax.jit(lambda x, p: fused.linear_map(kernel, x, fused.prepare(kernel, x, *p, cutout_size)))
    run_transpose = jax.jit(lambda g, p: fused.transpose_map(kernel, g, fused.prepare(kernel, g, *p, cutout_size)))

    @jax.custom_vjp
    def forward(x, params):
        return run_forward(x, params)

    @jax.custom_vjp
    def linear(x, params):
        return run_linear(x, params)

    @jax.custom_vjp
    def transpose(g, params):
        return run_transpose(g, params)

    forward.defvjp(lambda x, p: (run_forward(x, p), p), lambda p, g: (transpose(g, p), None))
    linear.defvjp(lambda x, p: (run_linear(x, p), p), lambda p, g: (transpose(g, p), None))
    transpose.defvjp(lambda g, p: (run_transpose(g, p), p), lambda p, h: (linear(h, p), None))
    return forward


def _array(value):
    return None if value is None else jnp.asarray(value)


@functools.cache
def bind():
    """The fused augmentation with closed-form derivatives of every order (see the module doc).

    Returns:
        ``augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0)``.
    """

    def augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0):
        color = None if color is None else tuple(jnp.asarray(v) for v in color)
        params = (color, _array(offsets), _array(centers))
        size = None if cutout_size is None else tuple(int(v) for v in cutout_size)
        return _maps(size, float(fill))(jnp.asarray(images), params)

    return augment
