"""Equalized-learning-rate layers and the StyleGAN discriminator's minibatch standard deviation.

Karras et al., "Progressive Growing of GANs", ICLR 2018 (arXiv:1710.10196): weights are drawn from
N(0, 1) and scaled at run time by `lr_multiplier / sqrt(fan_in)`, so Adam's step is the same for
every layer. As used by StyleGAN2 (Karras et al., "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020, arXiv:1912.04958).
"""

import math

import keras
from keras import ops

_PACKAGE = "tf_diffaug"
_ACTIVATIONS = ("linear", "lrelu")


def _check_activation(activation):
    if activation not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}. Expected one of {list(_ACTIVATIONS)}.")
    return activation


def bias_activation(x, activation, gain=1.0):
    """`lrelu` is leaky ReLU(0.2) times sqrt(2) (StyleGAN's gain); `linear` is the identity; then `* gain`."""
    if activation == "lrelu":
        x = ops.leaky_relu(x, negative_slope=0.2) * math.sqrt(2.0)
    return x * gain if gain != 1.0 else x


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EqualizedDense(keras.layers.Layer):
    """Fully connected layer with equalized learning rate.

    `y = act(x @ (W * lr_multiplier / sqrt(fan_in)) + b * lr_multiplier) * gain`, W ~ N(0, 1/lr_multiplier).

    Args:
        units: output features.
        lr_multiplier: learning-rate multiplier (0.01 in StyleGAN's mapping network).
        bias_init: initial value of the stored bias (1.0 for the style affine layers).
        use_bias: bool.
        activation: "linear" or "lrelu".
        gain: output scale.

    Input shape:
        [B, D].

    Output shape:
        [B, units].

    Example:
        >>> import numpy as np
        >>> y = EqualizedDense(8, activation="lrelu")(np.ones((2, 4), "float32"))
        >>> tuple(y.shape)
        (2, 8)
    """

    def __init__(self, units, lr_multiplier=1.0, bias_init=0.0, use_bias=True, activation="linear", gain=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.use_bias = bool(use_bias)
        self.activation = _check_activation(activation)
        self.gain = float(gain)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier),
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,), initializer=keras.initializers.Constant(self.bias_init), name="bias"
            )

    def call(self, x):
        y = ops.matmul(x, self.kernel * self.weight_gain)
        if self.use_bias:
            y = y + self.bias * self.lr_multiplier
        return bias_activation(y, self.activation, self.gain)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "lr_multiplier": self.lr_multiplier,
            "bias_init": self.bias_init,
            "use_bias": self.use_bias,
            "activation": self.activation,
            "gain": self.gain,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EqualizedConv2D(keras.layers.Layer):
    """2-D convolution ('same' padding) with equalized learning rate and optional 2x downsampling.

    Downsampling is a 2x2 average pool before the convolution (the reference blurs with the
    [1, 3, 3, 1] FIR filter and convolves with stride 2; the box filter is our simplification).

    Args:
        filters: output channels.
        kernel_size: square kernel size.
        use_bias: bool.
        activation: "linear" or "lrelu".
        downsample: bool, halve H and W.
        gain: output scale (sqrt(0.5) on both branches of StyleGAN2's residual D blocks).

    Input shape:
        [B, H, W, C].

    Output shape:
        [B, H', W', filters] with H' = H / 2 when downsampling.

    Example:
        >>> import numpy as np
        >>> y = EqualizedConv2D(8, 3, activation="lrelu", downsample=True)(np.ones((1, 8, 8, 3), "float32"))
        >>> tuple(y.shape)
        (1, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size, use_bias=True, activation="linear", downsample=False, gain=1.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(use_bias)
        self.activation = _check_activation(activation)
        self.downsample = bool(downsample)
        self.gain = float(gain)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.weight_gain = 1.0 / math.sqrt(in_channels * self.kernel_size**2)
        self.kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="kernel",
        )
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        if self.downsample:
            x = ops.average_pool(x, pool_size=2, strides=2, padding="valid")
        y = ops.conv(x, self.kernel * self.weight_gain, strides=1, padding="same")
        if self.use_bias:
            y = y + self.bias
        return bias_activation(y, self.activation, self.gain)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.downsample:
            height = None if height is None else height // 2
            width = None if width is None else width // 2
        return (batch, height, width, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "use_bias": self.use_bias,
            "activation": self.activation,
            "downsample": self.downsample,
            "gain": self.gain,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MinibatchStdDev(keras.layers.Layer):
    """Appends the minibatch standard deviation as extra feature maps (StyleGAN2 D epilogue).

    The batch is split into groups of `group_size` samples taken with stride B / group_size
    (sample n belongs to group n mod (B / G)); per group, the standard deviation over the group of
    each feature (sqrt(var + 1e-8)) is averaged over H, W and the channels of each of the
    `num_channels` channel slices, and broadcast back as `num_channels` extra maps. When B is not
    divisible by `group_size`, the largest divisor of B not above `group_size` is used (the
    reference requires divisibility).

    Args:
        group_size: samples per group (4 in StyleGAN2 config-e/f).
        num_channels: number of statistics maps appended (1).

    Input shape:
        [B, H, W, C] with C divisible by num_channels.

    Output shape:
        [B, H, W, C + num_channels].

    Example:
        >>> import numpy as np
        >>> y = MinibatchStdDev(4)(np.random.rand(8, 4, 4, 16).astype("float32"))
        >>> tuple(y.shape)
        (8, 4, 4, 17)
    """

    def __init__(self, group_size=4, num_channels=1, **kwargs):
        super().__init__(**kwargs)
        if int(group_size) < 1 or int(num_channels) < 1:
            raise ValueError(
                f"group_size and num_channels must be >= 1. Received: group_size={group_size}, "
                f"num_channels={num_channels}"
            )
        self.group_size = int(group_size)
        self.num_channels = int(num_channels)

    def build(self, input_shape):
        if input_shape[-1] % self.num_channels:
            raise ValueError(
                f"MinibatchStdDev needs channels divisible by num_channels={self.num_channels}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, x):
        batch = ops.shape(x)[0]
        _, height, width, channels = x.shape
        group = ops.convert_to_tensor(1, dtype="int32")
        for candidate in range(2, self.group_size + 1):
            group = ops.where(ops.equal(ops.mod(batch, candidate), 0), candidate, group)
        f = self.num_channels
        y = ops.reshape(
            ops.cast(x, "float32"), (group, -1, height, width, f, channels // f)
        )  # f32 under mixed precision
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)  # [B/G, H, W, F, C/F]
        y = ops.mean(y, axis=(1, 2, 4))  # [B/G, F]
        y = ops.tile(y, (group, 1))  # sample n -> group n mod (B/G)
        y = ops.broadcast_to(y[:, None, None, :], (batch, height, width, f))
        return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_channels)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "num_channels": self.num_channels}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LatentNormalization(keras.layers.Layer):
    """`x / sqrt(mean(x**2, axis=-1) + 1e-8)`: StyleGAN's normalization of z (and label embeddings).

    Input shape:
        [B, D].

    Output shape:
        [B, D].

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(LatentNormalization()(np.full((1, 4), 3.0, "float32"))).round(4).tolist()
        [[1.0, 1.0, 1.0, 1.0]]
    """

    def call(self, x):
        x32 = ops.cast(x, "float32")
        return ops.cast(x32 * ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + 1e-8), x.dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LabelEmbedding(keras.layers.Layer):
    """Equalized-lr linear embedding of integer labels (one-hot @ W / sqrt(num_classes) + b).

    StyleGAN2-ADA's conditional mapping input. Args: num_classes, units.

    Input shape:
        [B] int.

    Output shape:
        [B, units].

    Example:
        >>> import numpy as np
        >>> e = LabelEmbedding(10, 16)(np.array([0, 3], "int32"))
        >>> tuple(e.shape)
        (2, 16)
    """

    def __init__(self, num_classes, units, **kwargs):
        super().__init__(**kwargs)
        if num_classes is None or int(num_classes) < 1:
            raise ValueError(f"num_classes must be a positive int. Received: num_classes={num_classes}")
        self.num_classes = int(num_classes)
        self.units = int(units)
        self.dense = EqualizedDense(self.units, name="dense")

    def build(self, input_shape):
        self.dense.build((None, self.num_classes))

    def call(self, labels):
        return self.dense(ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "units": self.units}
