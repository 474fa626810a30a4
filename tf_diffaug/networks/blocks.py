"""Shared layers of the residual GAN family (SNGAN, BigGAN): conditional BN, self-attention, projection.

Every layer is a serializable `keras.layers.Layer` that builds its sub-layers from its own config,
so a functional model using them round-trips through `.keras` files. Spectral normalization is
Keras' own `keras.layers.SpectralNormalization` (Miyato et al., "Spectral Normalization for
Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957).
"""

import keras
from keras import ops

_PACKAGE = "tf_diffaug"


def spectral_norm(layer, enabled=True):
    """Wraps `layer` in `keras.layers.SpectralNormalization` when `enabled` (one power iteration).

    Args:
        layer: a layer with a `kernel` (Dense, Conv2D) or `embeddings` attribute.
        enabled: bool; when False `layer` is returned unchanged.

    Example:
        >>> conv = spectral_norm(keras.layers.Conv2D(8, 3, padding="same"))
        >>> type(conv).__name__
        'SpectralNormalization'
    """
    if not enabled:
        return layer
    return keras.layers.SpectralNormalization(layer, power_iterations=1, name=f"sn_{layer.name}")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch normalization whose gain and bias are predicted from a conditioning input.

    `y = BN(x) * (1 + gain(c)) + bias(c)` with a parameter-free BN (Dumoulin et al. 2017,
    de Vries et al. 2017), as in BigGAN (Brock et al., "Large Scale GAN Training for High
    Fidelity Natural Image Synthesis", ICLR 2019, arXiv:1809.11096). Two conditioning modes:

    * `num_classes=None`: `c` is a float vector [B, D] (BigGAN's shared class embedding,
      concatenated with a chunk of `z` in the hierarchical-latent variant); `gain`/`bias` are
      bias-free linear maps, spectrally normalized when `spectral_norm=True` (as in BigGAN).
    * `num_classes=K`: `c` is an integer label [B]; `gain`/`bias` are per-layer embedding tables
      (BigGAN-PyTorch without `G_shared`, the DiffAugment BigGAN-CIFAR setting).

    Args:
        num_classes: int or None, see above.
        spectral_norm: bool, spectral normalization of the linear maps (vector mode only).
        momentum: moving-statistics momentum (Keras convention; PyTorch's 0.1 is 0.9 here).
        epsilon: BN epsilon.
        kernel_initializer: initializer of the gain/bias maps.

    Input shape:
        `[x, c]`: x [B, H, W, C]; c [B, D] float or [B] int.

    Output shape:
        [B, H, W, C].

    Example:
        >>> import numpy as np
        >>> cbn = ConditionalBatchNorm(num_classes=10)
        >>> y = cbn([np.zeros((2, 4, 4, 8), "float32"), np.array([1, 3], "int32")], training=True)
        >>> tuple(y.shape)
        (2, 4, 4, 8)
    """

    def __init__(
        self,
        num_classes=None,
        spectral_norm=False,
        momentum=0.9,
        epsilon=1e-5,
        kernel_initializer="orthogonal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes must be a positive int or None. Received: num_classes={num_classes}")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.spectral_norm = bool(spectral_norm)
        self.momentum = momentum
        self.epsilon = epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        x_shape, c_shape = input_shape
        channels = x_shape[-1]
        self.norm = keras.layers.BatchNormalization(
            center=False, scale=False, momentum=self.momentum, epsilon=self.epsilon, name="norm"
        )
        self.norm.build(x_shape)
        if self.num_classes is not None:
            init = self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config())
            self.gain = keras.layers.Embedding(self.num_classes, channels, embeddings_initializer=init, name="gain")
            init = self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config())
            self.bias = keras.layers.Embedding(self.num_classes, channels, embeddings_initializer=init, name="bias")
        else:
            self.gain = spectral_norm(
                keras.layers.Dense(channels, use_bias=False, kernel_initializer=self.kernel_initializer, name="gain"),
                self.spectral_norm,
            )
            self.bias = spectral_norm(
                keras.layers.Dense(channels, use_bias=False, kernel_initializer=self.kernel_initializer, name="bias"),
                self.spectral_norm,
            )
        self.gain.build(c_shape)
        self.bias.build(c_shape)

    def call(self, inputs, training=None):
        x, c = inputs
        h = self.norm(x, training=training)
        if self.num_classes is not None:
            gain, bias = self.gain(c), self.bias(c)
        else:
            gain, bias = self.gain(c, training=training), self.bias(c, training=training)
        gain = ops.cast(gain, h.dtype)[:, None, None, :]
        bias = ops.cast(bias, h.dtype)[:, None, None, :]
        return h * (1.0 + gain) + bias

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "spectral_norm": self.spectral_norm,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SelfAttention(keras.layers.Layer):
    """Self-attention block of SAGAN / BigGAN.

    Zhang et al., "Self-Attention Generative Adversarial Networks", ICML 2019 (arXiv:1805.08318),
    in BigGAN's variant: 1x1 projections theta (C/8), phi (C/8), g (C/2) without bias, phi and g
    max-pooled 2x2, softmax attention over the pooled positions, 1x1 output projection back to C,
    and a learned residual scale `gamma` initialised to 0 (the block starts as the identity).

    Args:
        spectral_norm: bool, spectral normalization of the four projections.
        kernel_initializer: initializer of the projections.

    Input shape:
        [B, H, W, C] with C divisible by 8 and even H, W.

    Output shape:
        [B, H, W, C].

    Example:
        >>> import numpy as np
        >>> y = SelfAttention()(np.zeros((2, 8, 8, 16), "float32"))
        >>> tuple(y.shape)
        (2, 8, 8, 16)
    """

    def __init__(self, spectral_norm=True, kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = bool(spectral_norm)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        _, height, width, channels = input_shape
        if channels % 8 or height % 2 or width % 2:
            raise ValueError(
                "SelfAttention needs channels divisible by 8 and even height/width. "
                f"Received: input_shape={tuple(input_shape)}"
            )

        def conv(filters, name):
            layer = spectral_norm(
                keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=self.kernel_initializer, name=name),
                self.spectral_norm,
            )
            return layer

        self.theta = conv(channels // 8, "theta")
        self.phi = conv(channels // 8, "phi")
        self.g = conv(channels // 2, "g")
        self.o = conv(channels, "o")
        self.theta.build(input_shape)
        self.phi.build(input_shape)
        self.g.build(input_shape)
        self.o.build((None, height, width, channels // 2))
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma")

    def call(self, x, training=None):
        _, height, width, channels = x.shape
        positions = height * width

        def pool(t):
            return ops.max_pool(t, pool_size=2, strides=2, padding="valid")

        theta = ops.reshape(self.theta(x, training=training), (-1, positions, channels // 8))
        phi = ops.reshape(pool(self.phi(x, training=training)), (-1, positions // 4, channels // 8))
        g = ops.reshape(pool(self.g(x, training=training)), (-1, positions // 4, channels // 2))
        beta = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)
        attended = ops.reshape(ops.matmul(beta, g), (-1, height, width, channels // 2))
        return x + ops.cast(self.gamma, x.dtype) * self.o(attended, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "spectral_norm": self.spectral_norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ClassProjection(keras.layers.Layer):
    """Projection-discriminator class term `<embed(y), phi(x)>`.

    Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018 (arXiv:1802.05637). The
    embedding is a bias-free linear map of the one-hot label (the same matrix as an embedding
    table, [num_classes, F]), so that `keras.layers.SpectralNormalization` can normalize it.

    Args:
        num_classes: number of classes.
        spectral_norm: bool, spectral normalization of the embedding matrix.
        kernel_initializer: initializer of the embedding.

    Input shape:
        `[features, labels]`: features [B, F] float, labels [B] int.

    Output shape:
        [B, 1].

    Example:
        >>> import numpy as np
        >>> y = ClassProjection(10)([np.ones((2, 4), "float32"), np.array([0, 9], "int32")])
        >>> tuple(y.shape)
        (2, 1)
    """

    def __init__(self, num_classes, spectral_norm=True, kernel_initializer="orthogonal", **kwargs):
        super().__init__(**kwargs)
        if num_classes is None or int(num_classes) < 1:
            raise ValueError(f"num_classes must be a positive int. Received: num_classes={num_classes}")
        self.num_classes = int(num_classes)
        self.spectral_norm = bool(spectral_norm)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        features_shape, _ = input_shape
        self.embed = spectral_norm(
            keras.layers.Dense(
                features_shape[-1], use_bias=False, kernel_initializer=self.kernel_initializer, name="embed"
            ),
            self.spectral_norm,
        )
        self.embed.build((None, self.num_classes))

    def call(self, inputs, training=None):
        features, labels = inputs
        one_hot = ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=features.dtype)
        embedded = self.embed(one_hot, training=training)
        return ops.sum(embedded * features, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "spectral_norm": self.spectral_norm,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GlobalSumPooling2D(keras.layers.Layer):
    """Sum over the spatial axes (the SNGAN / BigGAN discriminator's pooling).

    Input shape:
        [B, H, W, C].

    Output shape:
        [B, C].

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(GlobalSumPooling2D()(np.ones((1, 2, 2, 3), "float32"))).tolist()
        [[4.0, 4.0, 4.0]]
    """

    def call(self, x):
        return ops.sum(x, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
