"""StyleGAN2 synthesis layers: modulated convolution, noise injection, constant input, style mixing.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(arXiv:1912.04958), config-e/f. All weights use the equalized learning rate.
"""

import math

import keras
from keras import ops

from tf_diffaug.networks.equalized import EqualizedDense, _check_activation, bias_activation

_PACKAGE = "tf_diffaug"
_INFERENCE_NOISE = ("const", "random", "none")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NoiseInjection(keras.layers.Layer):
    """Adds per-pixel Gaussian noise scaled by a learned scalar strength (initialised to 0).

    With `training=True` fresh noise [B, H, W, 1] is drawn from `keras.random.normal` at every
    call. At inference, `inference_noise` selects: "const" (a fixed noise map stored as a
    non-trainable weight, so evaluation is deterministic; StyleGAN2-ADA's noise_mode='const'),
    "random" (fresh noise, as in training) or "none".

    Args:
        inference_noise: "const", "random" or "none".
        seed: int or None, seed of the noise generator and of the constant map.

    Input shape:
        [B, H, W, C].

    Output shape:
        [B, H, W, C].

    Example:
        >>> import numpy as np
        >>> y = NoiseInjection(seed=0)(np.zeros((2, 4, 4, 3), "float32"), training=True)
        >>> float(keras.ops.max(keras.ops.abs(y)))  # the strength starts at 0
        0.0
    """

    def __init__(self, inference_noise="const", seed=None, **kwargs):
        super().__init__(**kwargs)
        if inference_noise not in _INFERENCE_NOISE:
            raise ValueError(f"Unknown inference_noise {inference_noise!r}. Expected one of {list(_INFERENCE_NOISE)}.")
        self.inference_noise = inference_noise
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        _, height, width, _ = input_shape
        self.strength = self.add_weight(shape=(), initializer="zeros", name="strength")
        self.const_noise = self.add_weight(
            shape=(height, width, 1),
            initializer=keras.initializers.RandomNormal(seed=self.seed),
            trainable=False,
            name="const_noise",
        )

    def call(self, x, training=None):
        if training or self.inference_noise == "random":
            shape = ops.shape(x)
            noise = keras.random.normal((shape[0], shape[1], shape[2], 1), seed=self.seed_generator, dtype=x.dtype)
        elif self.inference_noise == "const":
            noise = ops.cast(self.const_noise, x.dtype)[None]
        else:
            return x
        return x + noise * ops.cast(self.strength, x.dtype)

    def get_config(self):
        return {**super().get_config(), "inference_noise": self.inference_noise, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ModulatedConv2D(keras.layers.Layer):
    """Modulated 2-D convolution with weight demodulation (StyleGAN2, Sec. 2.2).

    For sample b with style `s_b = affine(w_b)` (an equalized dense layer, bias initialised to 1):
    `w'_{kio} = W_{kio} / sqrt(fan_in) * s_{bi}`, and with demodulation
    `w''_{kio} = w'_{kio} / sqrt(sum_{k,i} w'_{kio}^2 + 1e-8)`. It is computed without per-sample
    kernels: scale the input channels by s, convolve with the shared kernel, scale the output
    channels by the demodulation coefficients (mathematically identical). Then optional noise
    (:class:`NoiseInjection`), bias and activation. `upsample=True` doubles H and W first with
    bilinear interpolation (the [1, 3, 3, 1] filter of the reference, up to border handling).

    Args:
        filters: output channels.
        kernel_size: square kernel size (3 for convs, 1 for ToRGB).
        demodulate: bool (False for ToRGB).
        upsample: bool.
        style_index: when the style input is [B, num_ws, w_dim], the index of w used here.
        activation: "lrelu" or "linear".
        use_noise: bool, add a NoiseInjection before the bias.
        inference_noise: NoiseInjection's inference mode.
        seed: int or None, NoiseInjection's seed.

    Input shape:
        `[x, w]`: x [B, H, W, C]; w [B, w_dim] or [B, num_ws, w_dim].

    Output shape:
        [B, H', W', filters].

    Example:
        >>> import numpy as np
        >>> conv = ModulatedConv2D(8, 3, upsample=True)
        >>> y = conv([np.ones((2, 4, 4, 3), "float32"), np.ones((2, 16), "float32")])
        >>> tuple(y.shape)
        (2, 8, 8, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        demodulate=True,
        upsample=False,
        style_index=None,
        activation="lrelu",
        use_noise=False,
        inference_noise="const",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.upsample = bool(upsample)
        self.style_index = None if style_index is None else int(style_index)
        self.activation = _check_activation(activation)
        self.use_noise = bool(use_noise)
        self.inference_noise = inference_noise
        self.seed = seed
        self.noise = NoiseInjection(inference_noise, seed=seed, name="noise") if self.use_noise else None

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        in_channels = x_shape[-1]
        if len(w_shape) == 3 and (self.style_index is None or not 0 <= self.style_index < w_shape[1]):
            raise ValueError(
                f"style_index must be in [0, {w_shape[1]}) for styles of shape {tuple(w_shape)}. "
                f"Received: style_index={self.style_index}"
            )
        self.affine = EqualizedDense(in_channels, bias_init=1.0, name="affine")
        self.affine.build((None, w_shape[-1]))
        self.weight_gain = 1.0 / math.sqrt(in_channels * self.kernel_size**2)
        self.kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="kernel",
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
        if self.noise is not None:
            height, width = x_shape[1], x_shape[2]
            if self.upsample:
                height, width = height * 2, width * 2
            self.noise.build((None, height, width, self.filters))

    def call(self, inputs, training=None):
        x, w = inputs
        if len(w.shape) == 3:
            w = w[:, self.style_index]
        styles = self.affine(w)  # [B, C_in]
        if self.upsample:
            height, width = x.shape[1], x.shape[2]
            x = ops.image.resize(x, (2 * height, 2 * width), interpolation="bilinear")
        kernel = self.kernel * self.weight_gain
        y = ops.conv(x * styles[:, None, None, :], kernel, strides=1, padding="same")
        if self.demodulate:  # coefficients in float32 (1e-8 underflows in float16)
            energy = ops.sum(ops.square(ops.cast(kernel, "float32")), axis=(0, 1))  # [C_in, C_out]
            coefficients = ops.rsqrt(ops.matmul(ops.square(ops.cast(styles, "float32")), energy) + 1e-8)
            y = y * ops.cast(coefficients, y.dtype)[:, None, None, :]
        if self.noise is not None:
            y = self.noise(y, training=training)
        return bias_activation(y + self.bias, self.activation)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape[0]
        if self.upsample:
            height, width = height * 2, width * 2
        return (batch, height, width, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "demodulate": self.demodulate,
            "upsample": self.upsample,
            "style_index": self.style_index,
            "activation": self.activation,
            "use_noise": self.use_noise,
            "inference_noise": self.inference_noise,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConstantInput(keras.layers.Layer):
    """The learned constant [size, size, channels] that starts StyleGAN's synthesis, tiled over the batch.

    Args:
        channels: feature maps.
        size: spatial size (4).

    Input shape:
        any tensor whose first axis is the batch (the w latents).

    Output shape:
        [B, size, size, channels].

    Example:
        >>> import numpy as np
        >>> x = ConstantInput(8)(np.zeros((2, 16), "float32"))
        >>> tuple(x.shape)
        (2, 4, 4, 8)
    """

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape):
        self.const = self.add_weight(
            shape=(self.size, self.size, self.channels),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="const",
        )

    def call(self, w):
        batch = ops.shape(w)[0]
        return ops.broadcast_to(
            ops.cast(self.const, self.compute_dtype)[None], (batch, self.size, self.size, self.channels)
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MixingLatent(keras.layers.Layer):
    """Draws a second latent z2 ~ N(0, I) shaped like z, for style mixing (seeded keras.random).

    Args:
        seed: int or None.

    Input shape:
        [B, D] (only its shape is used).

    Output shape:
        [B, D].

    Example:
        >>> import numpy as np
        >>> z2 = MixingLatent(seed=1)(np.zeros((2, 8), "float32"))
        >>> tuple(z2.shape)
        (2, 8)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, z):
        return keras.random.normal(ops.shape(z), seed=self.seed_generator, dtype=z.dtype)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StyleBroadcast(keras.layers.Layer):
    """Broadcasts w to [B, num_ws, w_dim], mixing two latents when training (StyleGAN2 style mixing).

    With inputs `[w1, w2]`, `training=True` and `mixing_probability > 0`, each sample independently
    (the reference draws one cutoff per batch) with probability `mixing_probability` draws a
    cutoff c uniformly in [1, num_ws) and uses w1 for layers < c and w2 for layers >= c. At
    inference (or with a single input) w1 is broadcast to all layers.

    Args:
        num_ws: number of style inputs of the synthesis network.
        mixing_probability: float in [0, 1] (0.9 in StyleGAN2).
        seed: int or None.

    Input shape:
        w1 [B, w_dim], or `[w1, w2]`.

    Output shape:
        [B, num_ws, w_dim].

    Example:
        >>> import numpy as np
        >>> ws = StyleBroadcast(6)(np.ones((2, 16), "float32"))
        >>> tuple(ws.shape)
        (2, 6, 16)
    """

    def __init__(self, num_ws, mixing_probability=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(mixing_probability) <= 1.0:
            raise ValueError(f"mixing_probability must be in [0, 1]. Received: mixing_probability={mixing_probability}")
        self.num_ws = int(num_ws)
        self.mixing_probability = float(mixing_probability)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        w1, w2 = (inputs[0], inputs[1]) if isinstance(inputs, (list, tuple)) else (inputs, None)
        ws = ops.repeat(w1[:, None, :], self.num_ws, axis=1)
        if w2 is None or not training or self.mixing_probability == 0.0 or self.num_ws < 2:
            return ws
        batch = ops.shape(w1)[0]
        cutoff = keras.random.randint((batch,), 1, self.num_ws, seed=self.seed_generator)
        mix = keras.random.uniform((batch,), seed=self.seed_generator) < self.mixing_probability
        cutoff = ops.where(mix, cutoff, self.num_ws)
        use_w2 = ops.arange(self.num_ws)[None, :] >= cutoff[:, None]  # [B, num_ws]
        return ops.where(use_w2[:, :, None], w2[:, None, :], ws)

    def compute_output_shape(self, input_shape):
        shape = (
            input_shape[0]
            if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple))
            else input_shape
        )
        return (shape[0], self.num_ws, shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "num_ws": self.num_ws,
            "mixing_probability": self.mixing_probability,
            "seed": self.seed,
        }
