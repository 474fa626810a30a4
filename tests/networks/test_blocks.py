"""Shared layers checked against NumPy computations and closed forms."""

import math

import keras
import numpy as np
import pytest

from tf_diffaug.networks import (
    ClassProjection,
    ConditionalBatchNorm,
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStdDev,
    ModulatedConv2D,
    NoiseInjection,
    SelfAttention,
    StyleBroadcast,
)


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * math.sqrt(2.0)


def conv_same(x, kernel):
    """NumPy 'same' convolution (cross-correlation, like TF) of one image x [H, W, I] with [k, k, I, O]."""
    k = kernel.shape[0]
    p = k // 2
    padded = np.pad(x, ((p, k - 1 - p), (p, k - 1 - p), (0, 0)))
    height, width = x.shape[:2]
    out = np.zeros((height, width, kernel.shape[-1]))
    for i in range(height):
        for j in range(width):
            out[i, j] = np.einsum("abi,abio->o", padded[i : i + k, j : j + k], kernel)
    return out


def upsample_bilinear_np(x):
    """2x bilinear upsampling with half-pixel centres: weights (1/4, 3/4) to the neighbours, edges clamped."""

    def along(a, axis):
        n = a.shape[axis]
        prev = np.take(a, np.clip(np.arange(n) - 1, 0, n - 1), axis=axis)
        nxt = np.take(a, np.clip(np.arange(n) + 1, 0, n - 1), axis=axis)
        even, odd = 0.75 * a + 0.25 * prev, 0.75 * a + 0.25 * nxt
        return np.stack([even, odd], axis=axis + 1).reshape(a.shape[:axis] + (2 * n,) + a.shape[axis + 1 :])

    return along(along(x, 0), 1)


@pytest.mark.parametrize("demodulate,upsample", [(True, False), (False, False), (True, True)])
def test_modulated_conv_matches_numpy_per_sample_kernels(demodulate, upsample):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    w = rng.normal(size=(2, 4)).astype("float32")
    layer = ModulatedConv2D(2, 3, demodulate=demodulate, upsample=upsample, activation="lrelu")
    layer.build([x.shape, w.shape])
    for weight in layer.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    got = keras.ops.convert_to_numpy(layer([x, w]))

    affine_kernel = keras.ops.convert_to_numpy(layer.affine.kernel)
    affine_bias = keras.ops.convert_to_numpy(layer.affine.bias)
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float64")
    bias = keras.ops.convert_to_numpy(layer.bias)
    styles = w @ affine_kernel / math.sqrt(4) + affine_bias  # equalized dense, lr multiplier 1
    expected = []
    for b in range(2):
        weight = kernel / math.sqrt(3 * 9) * styles[b][None, None, :, None]  # per-sample modulated kernel
        if demodulate:
            weight = weight / np.sqrt(np.sum(weight**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        image = upsample_bilinear_np(x[b]) if upsample else x[b]
        expected.append(lrelu(conv_same(image, weight) + bias))
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-4, atol=1e-4)


def test_modulated_conv_demodulation_normalizes_output_scale():
    # With demodulation, scaling the style by any factor leaves the output unchanged (up to eps).
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    layer = ModulatedConv2D(2, 3, activation="linear")
    w = rng.normal(size=(1, 4)).astype("float32")
    layer.build([x.shape, w.shape])
    layer.affine.bias.assign(np.zeros(3, "float32"))
    y1 = keras.ops.convert_to_numpy(layer([x, w]))
    y2 = keras.ops.convert_to_numpy(layer([x, 5.0 * w]))
    np.testing.assert_allclose(y1, y2, rtol=1e-4, atol=1e-5)


def test_modulated_conv_selects_style_index():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 4, 3)).astype("float32")
    ws = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = ModulatedConv2D(2, 3, style_index=1)
    out = layer([x, ws])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(layer([x, ws[:, 1]])), rtol=1e-6
    )
    with pytest.raises(ValueError, match="style_index must be in"):
        ModulatedConv2D(2, 3, style_index=3)([x, ws])


def mbstd_numpy(x, group):
    n, h, w, c = x.shape
    y = x.reshape(group, n // group, h, w, c).astype("float64")
    std = np.sqrt(((y - y.mean(0)) ** 2).mean(0) + 1e-8)  # [n/G, h, w, c]
    stat = std.mean(axis=(1, 2, 3))  # [n/G]
    per_sample = stat[np.arange(n) % (n // group)]
    return np.concatenate([x, np.broadcast_to(per_sample[:, None, None, None], (n, h, w, 1))], axis=-1)


@pytest.mark.parametrize("batch,expected_group", [(8, 4), (6, 3), (5, 1), (2, 2)])
def test_minibatch_stddev_matches_numpy(batch, expected_group):
    x = np.random.default_rng(batch).normal(size=(batch, 3, 3, 4)).astype("float32")
    got = keras.ops.convert_to_numpy(MinibatchStdDev(group_size=4)(x))
    np.testing.assert_allclose(got, mbstd_numpy(x, expected_group), rtol=1e-5, atol=1e-6)


def test_equalized_dense_and_conv_runtime_scaling():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6)).astype("float32")
    dense = EqualizedDense(4, lr_multiplier=0.01, bias_init=0.5, activation="lrelu")
    dense.build(x.shape)
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    assert abs(kernel.std() - 100.0) < 40.0  # N(0, 1 / lr_multiplier) storage
    expected = lrelu(x @ (kernel * 0.01 / math.sqrt(6)) + 0.5 * 0.01)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dense(x)), expected, rtol=1e-5, atol=1e-6)

    images = rng.normal(size=(1, 4, 4, 2)).astype("float32")
    conv = EqualizedConv2D(3, 3, downsample=True, gain=0.5)
    conv.build(images.shape)
    pooled = images[0].reshape(2, 2, 2, 2, 2).mean(axis=(1, 3))
    expected = conv_same(pooled, keras.ops.convert_to_numpy(conv.kernel) / math.sqrt(18)) * 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv(images))[0], expected, rtol=1e-5, atol=1e-5)


def test_spectral_norm_bounds_largest_singular_value():
    layer = keras.layers.SpectralNormalization(keras.layers.Dense(12, kernel_initializer="glorot_uniform"))
    x = np.ones((2, 20), "float32")
    layer(x)
    layer.layer.kernel.assign(5.0 * keras.ops.convert_to_numpy(layer.layer.kernel))
    before = np.linalg.svd(keras.ops.convert_to_numpy(layer.layer.kernel), compute_uv=False)[0]
    for _ in range(30):  # one power iteration per training call
        layer(x, training=True)
    after = np.linalg.svd(keras.ops.convert_to_numpy(layer.layer.kernel), compute_uv=False)[0]
    assert before > 3.0
    assert after == pytest.approx(1.0, abs=0.02)


def test_conditional_batch_norm_matches_numpy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 2, 2, 3)).astype("float32") * 3 + 1
    labels = np.array([0, 1, 2, 0, 1, 2], "int32")
    layer = ConditionalBatchNorm(num_classes=3, epsilon=1e-5)
    got = keras.ops.convert_to_numpy(layer([x, labels], training=True))
    gain = keras.ops.convert_to_numpy(layer.gain.embeddings)
    bias = keras.ops.convert_to_numpy(layer.bias.embeddings)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(var + 1e-5) * (1 + gain[labels])[:, None, None] + bias[labels][:, None, None]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)

    vector = rng.normal(size=(6, 5)).astype("float32")
    layer = ConditionalBatchNorm(spectral_norm=False)
    got = keras.ops.convert_to_numpy(layer([x, vector], training=True))
    gain = vector @ keras.ops.convert_to_numpy(layer.gain.kernel)
    bias = vector @ keras.ops.convert_to_numpy(layer.bias.kernel)
    expected = (x - mean) / np.sqrt(var + 1e-5) * (1 + gain)[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_self_attention_matches_numpy():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 4, 16)).astype("float32")
    layer = SelfAttention(spectral_norm=False)
    layer.build(x.shape)
    layer.gamma.assign(0.7)
    got = keras.ops.convert_to_numpy(layer(x))
    k = {name: keras.ops.convert_to_numpy(getattr(layer, name).kernel)[0, 0] for name in ("theta", "phi", "g", "o")}

    def pool(t):  # 2x2 max pool of [4, 4, C]
        return t.reshape(2, 2, 2, 2, -1).max(axis=(1, 3))

    expected = []
    for b in range(2):
        theta = (x[b] @ k["theta"]).reshape(16, 2)
        phi = pool(x[b] @ k["phi"]).reshape(4, 2)
        g = pool(x[b] @ k["g"]).reshape(4, 8)
        logits = theta @ phi.T
        beta = np.exp(logits - logits.max(-1, keepdims=True))
        beta /= beta.sum(-1, keepdims=True)
        expected.append(x[b] + 0.7 * ((beta @ g).reshape(4, 4, 8) @ k["o"]))
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-4, atol=1e-4)


def test_class_projection_is_embedding_dot_features():
    features = np.arange(8, dtype="float32").reshape(2, 4)
    layer = ClassProjection(3, spectral_norm=False)
    out = keras.ops.convert_to_numpy(layer([features, np.array([2, 0])]))
    table = keras.ops.convert_to_numpy(layer.embed.kernel)
    np.testing.assert_allclose(out[:, 0], [table[2] @ features[0], table[0] @ features[1]], rtol=1e-5)


def test_noise_injection_modes():
    x = np.zeros((2, 4, 4, 3), "float32")
    layer = NoiseInjection(seed=0)
    layer.build(x.shape)
    layer.strength.assign(2.0)
    const = keras.ops.convert_to_numpy(layer.const_noise)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np.broadcast_to(2.0 * const[None], x.shape))
    a = keras.ops.convert_to_numpy(layer(x, training=True))
    b = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a[..., 0], a[..., 2])  # one noise map shared by the channels
    none = NoiseInjection("none")
    none.build(x.shape)
    none.strength.assign(2.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(none(x + 1.0)), x + 1.0)
    with pytest.raises(ValueError, match="Unknown inference_noise 'fixed'"):
        NoiseInjection("fixed")


def test_style_broadcast_mixing_only_when_training():
    num_ws, batch = 6, 64
    w1 = np.zeros((batch, 3), "float32")
    w2 = np.ones((batch, 3), "float32")
    layer = StyleBroadcast(num_ws, mixing_probability=0.5, seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer([w1, w2])), 0.0)
    mixed = keras.ops.convert_to_numpy(layer([w1, w2], training=True))[:, :, 0]
    cutoffs = num_ws - mixed.sum(axis=1)  # number of leading w1 layers
    for row, cutoff in zip(mixed, cutoffs.astype(int)):
        np.testing.assert_array_equal(row, (np.arange(num_ws) >= cutoff).astype("float32"))
    mixed_rows = cutoffs < num_ws
    assert 0.2 < mixed_rows.mean() < 0.8  # ~ mixing_probability
    assert cutoffs[mixed_rows].min() >= 1
    with pytest.raises(ValueError, match="mixing_probability must be in"):
        StyleBroadcast(4, mixing_probability=1.5)
