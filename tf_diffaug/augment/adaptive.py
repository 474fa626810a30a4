"""Adaptive augmentation probability: apply a wrapped augmentation to each sample with probability p.

Karras et al., "Training Generative Adversarial Networks with Limited Data" (NeurIPS 2020,
arXiv:2006.06676) make the augmentation strength ``p`` state, adjusted by a controller from an
overfitting heuristic; the augmentation itself only reads it and gates every sample with
``where(u < p, T(x), x)``, ``u ~ U[0, 1)``. Here ``p`` is a non-trainable float32 scalar weight
created with ``aggregation="only_first_replica"`` so that a cross-replica ``assign`` works under
``tf.distribute``. This layer never changes ``p``: the GAN's ADA controller assigns ``layer.p``.
"""

import keras
from keras import ops as kops


@keras.saving.register_keras_serializable(package="tf_diffaug")
class AdaptiveAugment(keras.layers.Layer):
    """Apply ``augment`` to each sample independently with probability ``p`` (a weight).

    Args:
        augment: any augmentation layer called as ``augment(images, training=True)``, e.g.
            ``DiffAugment(...)``; when it has ``get_random_transformation`` / ``transform_images``
            this layer exposes the same split.
        initial_p: starting value of ``p`` in [0, 1].
        seed: int or None for this layer's SeedGenerator (draws ``u``).
        **kwargs: standard layer arguments.

    Input shape:
        4D batch of images accepted by ``augment``.

    Output shape:
        Same as the input.

    Example:

    >>> import numpy as np
    >>> from tf_diffaug.augment import AdaptiveAugment, DiffAugment
    >>> ada = AdaptiveAugment(DiffAugment("color,translation,cutout"), initial_p=0.0)
    >>> x = np.random.uniform(-1, 1, (8, 16, 16, 3)).astype("float32")
    >>> bool(np.array_equal(ada(x, training=True), x))  # p = 0: nothing augmented
    True
    >>> _ = ada.p.assign(0.3)       # done by the GAN's ADA controller
    >>> y = ada(x, training=True)   # each sample augmented with probability 0.3
    """

    def __init__(self, augment, initial_p=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(augment, dict):
            augment = keras.saving.deserialize_keras_object(augment)
        if not isinstance(augment, keras.layers.Layer):
            raise ValueError(f"augment must be a Keras layer (e.g. DiffAugment(...)), got augment={augment!r}.")
        if not isinstance(initial_p, (int, float)) or isinstance(initial_p, bool) or not 0.0 <= initial_p <= 1.0:
            raise ValueError(f"initial_p must be a number in [0, 1], got initial_p={initial_p!r}.")
        self.augment = augment
        self.initial_p = float(initial_p)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        self.p = self.add_weight(
            name="p",
            shape=(),
            dtype="float32",
            initializer=keras.initializers.Constant(self.initial_p),
            trainable=False,
            aggregation="only_first_replica",
        )

    def build(self, input_shape):
        if not self.augment.built:
            self.augment.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return self.augment.compute_output_shape(input_shape)

    def get_random_transformation(self, images, training=True, seed=None):
        """Draw the per-sample gate ``u < p`` and the wrapped layer's parameters.

        Returns:
            ``{"apply": bool [B], "augment": <wrapped transformation>}`` or None when not training.
        """
        if not training:
            return None
        seed = self.generator if seed is None else seed
        u = keras.random.uniform((kops.shape(images)[0],), seed=seed)
        return {
            "apply": u < kops.cast(self.p, u.dtype),
            "augment": self.augment.get_random_transformation(images, training=True),
        }

    def transform_images(self, images, transformation):
        """``where(apply, augment.transform_images(images, ...), images)`` per sample."""
        if transformation is None:
            return images
        augmented = self.augment.transform_images(images, transformation["augment"])
        gate = kops.reshape(transformation["apply"], (-1, 1, 1, 1))
        return kops.where(gate, augmented, images)

    def call(self, inputs, training=True):
        if isinstance(training, bool) or training is None:
            if not training:
                return inputs
        if hasattr(self.augment, "transform_images"):
            for check in ("_check_shape", "_check_dtype"):  # the wrapped layer's own input errors
                if hasattr(self.augment, check):
                    getattr(self.augment, check)(inputs.shape if check == "_check_shape" else inputs)
            transformation = self.get_random_transformation(inputs, training=True)
            out = self.transform_images(inputs, transformation)
        else:
            augmented = self.augment(inputs, training=True)
            u = keras.random.uniform((kops.shape(inputs)[0],), seed=self.generator)
            gate = kops.reshape(u < kops.cast(self.p, u.dtype), (-1, 1, 1, 1))
            out = kops.where(gate, augmented, inputs)
        if isinstance(training, bool) or training is None:
            return out
        return kops.where(kops.cast(training, "bool"), out, inputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            augment=keras.saving.serialize_keras_object(self.augment),
            initial_p=self.initial_p,
            seed=self.seed,
        )
        return config
