"""TensorFlow binding of the fused DiffAugment maps: ``tf.custom_gradient``, XLA per image shape.

The maps themselves (``forward_map``, ``linear_map``, ``transpose_map`` over the ``keras.ops``
kernel) live in ``tf_diffaug.augment.fused``; this module only wires their derivatives:
the gradient of the forward map is the transpose map, the gradient of the transpose map is the
linear map and the gradient of the linear map is the transpose map again, so every order of
derivative (R1 "through T" differentiates a gradient) is closed form.

With ``jit_compile`` each map is a ``tf.function(jit_compile=True)`` kept per static image shape
``(H, W, C)`` and dtype: inside one entry only the batch size varies (``reduce_retracing`` relaxes
it to None after a second batch size), so H, W and C stay static when a layer is called with 3
channels and then 1. Imported only on the TensorFlow backend.
"""

import functools

import tensorflow as tf

from tf_diffaug.augment import fused

_KERNEL = fused.PortableKernel
_MAPS = {
    "forward": lambda x, p, static: fused.forward_map(_KERNEL, x, fused.prepare(_KERNEL, x, *p, static[0]), static[1]),
    "linear": lambda x, p, static: fused.linear_map(_KERNEL, x, fused.prepare(_KERNEL, x, *p, static[0])),
    "transpose": lambda x, p, static: fused.transpose_map(_KERNEL, x, fused.prepare(_KERNEL, x, *p, static[0])),
}


class _Compiled:
    """One (optionally XLA-compiled) function per map, static image shape and dtype."""

    def __init__(self, jit_compile):
        self.jit_compile = jit_compile
        self._cache = {}

    def __call__(self, name, x, params, static):
        shape = tuple(x.shape[1:])
        if len(shape) != 3 or None in shape:
            raise ValueError(
                f"The fused DiffAugment kernel needs a rank-4 NHWC batch with static height, width and "
                f"channels, got shape {tuple(x.shape)}."
            )
        key = (name, shape, x.dtype)
        fn = self._cache.get(key)
        if fn is None:
            fn = _MAPS[name]
            if self.jit_compile:
                fn = tf.function(fn, jit_compile=True, autograph=False, reduce_retracing=True)
            self._cache[key] = fn
        # stop_gradient: the tape must not make TF build a forward function with extra outputs
        # for its own backward pass; the gradient is the custom one below.
        return fn(tf.stop_gradient(x), params, static)


def _forward(maps, x, params, static):
    @tf.custom_gradient
    def apply(x):
        return maps("forward", x, params, static), lambda upstream: _transpose(maps, upstream, params, static)

    return apply(x)


def _linear(maps, x, params, static):
    @tf.custom_gradient
    def apply(x):
        return maps("linear", x, params, static), lambda upstream: _transpose(maps, upstream, params, static)

    return apply(x)


def _transpose(maps, g, params, static):
    @tf.custom_gradient
    def apply(g):
        return maps("transpose", g, params, static), lambda upstream: _linear(maps, upstream, params, static)

    return apply(g)


def _tensor(value):
    return None if value is None else tf.convert_to_tensor(value)


@functools.cache
def bind(jit_compile=True):
    """The fused augmentation with closed-form derivatives of every order (see the module doc).

    Args:
        jit_compile: compile each map with XLA.

    Returns:
        ``augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0)``.
    """
    maps = _Compiled(jit_compile)

    def augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0):
        images = tf.convert_to_tensor(images)
        color = None if color is None else tuple(tf.convert_to_tensor(v) for v in color)
        params = (color, _tensor(offsets), _tensor(centers))
        static = (None if cutout_size is None else tuple(int(v) for v in cutout_size), float(fill))
        return _forward(maps, images, params, static)

    return augment
