"""The base Keras layer of every random augmentation: sampling split from applying.

Follows the structure of Keras' image preprocessing layers (whose base classes are private):
``get_random_transformation(images, training, seed)`` draws a dict of per-sample parameters from
the layer's ``keras.random.SeedGenerator``; ``transform_images(images, transformation)`` applies
them without randomness. ``call(images, training=True)`` does both; with a falsy ``training`` it
returns the images unchanged. Subclasses only say which :class:`~tf_diffaug.augment.policy.PolicyOp`
list they run (``_make_ops``).

The official policy (any of color, translation, cutout, in that order) runs through the fused
kernel of ``tf_diffaug.augment.fused``; other op lists run op by op.
"""

import keras
from keras import ops as kops

from tf_diffaug.augment import fused, policy

_CANONICAL = (policy.Brightness, policy.Saturation, policy.Contrast, policy.Translation, policy.Cutout)


def _fusable(op_list):
    """True when op_list is color (all three or none), translation, cutout in this order, each once."""
    kinds = []
    for op in op_list:
        if type(op) not in _CANONICAL:
            return False
        kinds.append(_CANONICAL.index(type(op)))
    if kinds != sorted(set(kinds)):
        return False
    has_color = [k in kinds for k in (0, 1, 2)]
    return all(has_color) or not any(has_color)


@keras.saving.register_keras_serializable(package="tf_diffaug")
class RandomAugment(keras.layers.Layer):
    """Base layer: per-sample random parameters from a SeedGenerator, applied by pure ops.

    Args:
        value_range: (lo, hi) of the input images; brightness deltas scale with ``(hi - lo) / 2``
            and translation/cutout fill with ``(lo + hi) / 2``.
        data_format: "channels_last" (NHWC) or "channels_first" (NCHW).
        seed: int or None, seeds the layer's ``keras.random.SeedGenerator``.
        jit_compile: "auto" or True runs the official policy through an XLA-compiled fused kernel
            on the TensorFlow backend (works inside ``tf.function``, ``tf.data``, outer XLA and
            ``tf.distribute``); False runs the same ``keras.ops`` kernel without XLA. Other
            backends always run the portable ``keras.ops`` code (their own jit fuses it).
        **kwargs: standard layer arguments (name, dtype, ...).

    Input shape:
        4D float tensor (B, H, W, C) or (B, C, H, W), in ``value_range``.

    Output shape:
        Same as the input.
    """

    def __init__(self, value_range=(-1, 1), data_format="channels_last", seed=None, jit_compile="auto", **kwargs):
        super().__init__(**kwargs)
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"value_range must be a pair (lo, hi) of numbers, got value_range={value_range!r}."
            ) from None
        if not lo < hi:
            raise ValueError(f"value_range must satisfy lo < hi, got value_range={value_range!r}.")
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                f"data_format must be 'channels_last' or 'channels_first', got data_format={data_format!r}."
            )
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"jit_compile must be 'auto', True or False, got jit_compile={jit_compile!r}.")
        self.value_range = (lo, hi)
        self.data_format = data_format
        self.seed = seed
        self.jit_compile = jit_compile
        self.generator = keras.random.SeedGenerator(seed)
        self._augment_ops = tuple(self._make_ops())
        self._fused_fn = None
        self.supports_jit = True

    def _make_ops(self):
        """The list of PolicyOp this layer applies, in order (subclasses override)."""
        raise NotImplementedError(f"{type(self).__name__} must define _make_ops().")

    # -- input checks -------------------------------------------------------------------------
    def _check_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects a rank-4 batch of images "
                f"({'B, H, W, C' if self.data_format == 'channels_last' else 'B, C, H, W'}), "
                f"got shape {shape} (rank {len(shape)})."
            )
        channel_axis, other_end = (3, 1) if self.data_format == "channels_last" else (1, 3)
        channels, other = shape[channel_axis], shape[other_end]
        if channels is not None and other is not None and channels > 4 and other <= 4:
            other_format = "channels_first" if self.data_format == "channels_last" else "channels_last"
            raise ValueError(
                f"Input shape {shape} has {channels} channels on axis {channel_axis} for "
                f"data_format={self.data_format!r}, but looks like {other_format} ({other} "
                f"channels on axis {other_end}). Pass data_format={other_format!r} or transpose."
            )

    def _check_dtype(self, images):
        dtype = keras.backend.standardize_dtype(images.dtype)
        if "float" not in dtype:
            lo, hi = self.value_range
            raise ValueError(
                f"{type(self).__name__} expects float images in value_range={self.value_range}, "
                f"got dtype {dtype!r}. Scale them first, e.g. x / 255 * {hi - lo:g} "
                f"{'-' if lo < 0 else '+'} {abs(lo):g}."
            )

    def build(self, input_shape):
        self._check_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        return tuple(input_shape)

    # -- layout ---------------------------------------------------------------------------------
    def _to_nhwc(self, images):
        return kops.transpose(images, (0, 2, 3, 1)) if self.data_format == "channels_first" else images

    def _from_nhwc(self, images):
        return kops.transpose(images, (0, 3, 1, 2)) if self.data_format == "channels_first" else images

    # -- sampling and applying -------------------------------------------------------------------
    def _keys(self):
        keys, seen = [], {}
        for op in self._augment_ops:
            seen[op.name] = seen.get(op.name, 0) + 1
            keys.append(op.name if seen[op.name] == 1 else f"{op.name}_{seen[op.name]}")
        return keys

    def get_random_transformation(self, images, training=True, seed=None):
        """Draw per-sample parameters for a batch.

        Args:
            images: the batch in the layer's data_format (only its shape is used).
            training: falsy returns None (no augmentation).
            seed: a SeedGenerator to draw from instead of the layer's own.

        Returns:
            dict mapping each op name (``"brightness"``, ``"saturation"``, ``"contrast"``,
            ``"translation"``, ``"cutout"``, or a registered name; repeats get ``_2``, ``_3``) to
            its parameters with leading dimension B, or None when not training.
        """
        if not training:
            return None
        images = self._to_nhwc(kops.convert_to_tensor(images))
        seed = self.generator if seed is None else seed
        return {key: op.sample(images, seed, self.value_range) for key, op in zip(self._keys(), self._augment_ops)}

    def transform_images(self, images, transformation):
        """Apply explicit parameters (as returned by ``get_random_transformation``); no randomness.

        Args:
            images: float batch in the layer's data_format.
            transformation: dict from ``get_random_transformation``, or None for the identity.

        Returns:
            The augmented batch, same shape and format.
        """
        if transformation is None or not self._augment_ops:
            return images
        x = self._to_nhwc(kops.convert_to_tensor(images))
        keys = self._keys()
        if _fusable(self._augment_ops):
            out = self._apply_fused(x, dict(zip([type(op) for op in self._augment_ops], keys)), transformation)
        else:
            out = x
            for key, op in zip(keys, self._augment_ops):
                out = op.apply(out, transformation[key], self.value_range)
        return self._from_nhwc(out)

    def _apply_fused(self, x, key_of, transformation):
        if self._fused_fn is None:
            self._fused_fn = fused.compile_for_backend(jit_compile=bool(self.jit_compile))
        color = None
        if policy.Brightness in key_of:
            color = tuple(transformation[key_of[t]] for t in (policy.Brightness, policy.Saturation, policy.Contrast))
        offsets = transformation[key_of[policy.Translation]] if policy.Translation in key_of else None
        centers = size = None
        if policy.Cutout in key_of:
            centers = transformation[key_of[policy.Cutout]]
            cutout_op = next(op for op in self._augment_ops if type(op) is policy.Cutout)
            size = cutout_op.size(x.shape[1], x.shape[2])
        fill = (self.value_range[0] + self.value_range[1]) / 2.0
        return self._fused_fn(x, color=color, offsets=offsets, centers=centers, cutout_size=size, fill=fill)

    def call(self, inputs, training=True):
        self._check_shape(inputs.shape)
        self._check_dtype(inputs)
        if isinstance(training, bool) or training is None:
            if not training:
                return inputs
            return self.transform_images(inputs, self.get_random_transformation(inputs, training=True))
        augmented = self.transform_images(inputs, self.get_random_transformation(inputs, training=True))
        return kops.where(kops.cast(training, "bool"), augmented, inputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            value_range=list(self.value_range),
            data_format=self.data_format,
            seed=self.seed,
            jit_compile=self.jit_compile,
        )
        return config
