"""The five pure ops and the fused kernel against NumPy on explicit parameters, values and gradients."""

import numpy as np
import pytest
import tensorflow as tf

from tf_diffaug.augment import fused, ops, spatial

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, (6, 7, 9, 3)).astype("float32")  # odd sizes on purpose
# offsets: identity, small, everything out (dy = H, dx = -W), far out, mixed.
OFFSETS = np.array([[0, 0], [2, -3], [7, 0], [0, -9], [-100, 100], [-6, 8]], "int32")
# centers: corners, beyond the border, negative, interior.
CENTERS = np.array([[0, 0], [6, 8], [7, 9], [-1, 4], [3, 4], [9, -2]], "int32")


def test_color_ops_match_numpy(ref):
    delta = RNG.uniform(-0.5, 0.5, 6).astype("float32")
    factor = RNG.uniform(0, 2, 6).astype("float32")
    np.testing.assert_allclose(ops.adjust_brightness(X, delta), ref.brightness(X, delta), atol=1e-6)
    np.testing.assert_allclose(ops.adjust_saturation(X, factor), ref.saturation(X, factor), atol=1e-5)
    np.testing.assert_allclose(ops.adjust_contrast(X, factor), ref.contrast(X, factor), atol=1e-5)


def test_saturation_of_gray_and_single_channel_is_identity():
    gray = np.repeat(X[..., :1], 3, axis=-1)
    np.testing.assert_allclose(ops.adjust_saturation(gray, np.full(6, 1.7, "float32")), gray, atol=1e-6)
    np.testing.assert_allclose(ops.adjust_saturation(X[..., :1], np.zeros(6, "float32")), X[..., :1], atol=1e-6)


@pytest.mark.parametrize("fill", [0.0, 0.25])
def test_translate_matches_numpy(ref, fill):
    expected = ref.translate(X, OFFSETS, fill)
    np.testing.assert_array_equal(ops.translate(X, OFFSETS, fill=fill), expected.astype("float32"))
    assert np.all(expected[2] == fill) and np.all(expected[4] == fill)  # moved fully out


@pytest.mark.parametrize("size,fill", [((3, 4), 0.0), ((4, 5), -0.5), ((0, 3), 0.0), ((7, 9), 0.1)])
def test_cutout_matches_numpy(ref, size, fill):
    expected = ref.cutout(X, CENTERS, size, fill).astype("float32")
    np.testing.assert_array_equal(ops.cutout(X, CENTERS, size, fill=fill), expected)


def _grad(fn, x, upstream=None):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x, output_gradients=upstream).numpy()


def test_translate_gradient_is_the_mask_and_the_transpose(ref):
    keep = ref.translate_keep(X.shape, -OFFSETS)  # pixel k is read iff k + d lies in the image
    np.testing.assert_array_equal(_grad(lambda x: ops.translate(x, OFFSETS, fill=0.3), X), keep)
    upstream = RNG.normal(size=X.shape).astype("float32")
    np.testing.assert_allclose(
        _grad(lambda x: ops.translate(x, OFFSETS), X, upstream), ref.translate_transpose(upstream, OFFSETS), atol=1e-6
    )


def test_cutout_gradient_is_the_mask(ref):
    keep = ref.cutout(np.ones(X.shape), CENTERS, (3, 4), 0.0)
    np.testing.assert_array_equal(_grad(lambda x: ops.cutout(x, CENTERS, (3, 4), fill=0.5), X), keep)


def test_combined_shift_and_mask_matches_numpy(ref):
    expected = ref.cutout(ref.translate(X, OFFSETS, -0.2), CENTERS, (3, 3), -0.2)
    got = spatial.shift_and_mask(X, OFFSETS, CENTERS, (3, 3), fill=-0.2)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_reductions_match_numpy():
    for shape in [(2, 7, 9, 3), (3, 5, 5, 1), (2, 32, 32, 3)]:
        x = RNG.normal(size=shape).astype("float32")
        np.testing.assert_allclose(fused.image_mean(x).numpy().ravel(), x.mean(axis=(1, 2, 3)), atol=1e-5)
        np.testing.assert_allclose(fused.channel_sum(x), x.sum(axis=-1, keepdims=True), atol=1e-5)


def test_half_precision_policy_does_not_overflow(ref):
    # 160 x 160 x 3 values sum past float16's max (65504): the image mean must accumulate in float32
    x = np.full((2, 160, 160, 3), 0.75, "float16")
    np.testing.assert_array_equal(fused.image_mean(x).numpy().ravel(), [0.75, 0.75])
    got = fused.compile_for_backend(True)(x, color=(np.zeros(2), np.ones(2), np.full(2, 0.5)))
    assert got.dtype == tf.float16
    np.testing.assert_allclose(np.asarray(got, np.float32), 0.75, atol=1e-3)


def _params(x, ratio=0.5):
    b, h, w = x.shape[:3]
    return {
        "brightness": RNG.uniform(-0.5, 0.5, b).astype("float32"),
        "saturation": RNG.uniform(0, 2, b).astype("float32"),
        "contrast": RNG.uniform(0.5, 1.5, b).astype("float32"),
        "translation": OFFSETS[:b],
        "cutout": CENTERS[:b],
    }, (int(h * ratio + 0.5), int(w * ratio + 0.5))


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 3.0)])
def test_fused_policy_matches_sequential_numpy(ref, jit_compile, value_range):
    t, size = _params(X)
    fill = sum(value_range) / 2
    apply = fused.compile_for_backend(jit_compile)
    color = (t["brightness"], t["saturation"], t["contrast"])
    got = apply(X, color=color, offsets=t["translation"], centers=t["cutout"], cutout_size=size, fill=fill)
    np.testing.assert_allclose(got, ref.diffaugment(X, t, value_range), atol=2e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("parts", ["color", "translation", "cutout", "all"])
def test_fused_gradient_matches_autodiff_of_the_ops(jit_compile, parts):
    t, size = _params(X)
    color = (t["brightness"], t["saturation"], t["contrast"]) if parts in ("color", "all") else None
    offsets = t["translation"] if parts in ("translation", "all") else None
    centers = t["cutout"] if parts in ("cutout", "all") else None

    def sequential(x):
        if color is not None:
            x = ops.adjust_contrast(ops.adjust_saturation(ops.adjust_brightness(x, color[0]), color[1]), color[2])
        if offsets is not None:
            x = ops.translate(x, offsets, fill=0.5)
        return ops.cutout(x, centers, size, fill=0.5) if centers is not None else x

    apply = fused.compile_for_backend(jit_compile)
    upstream = RNG.normal(size=X.shape).astype("float32")
    got = _grad(lambda x: apply(x, color, offsets, centers, size, fill=0.5), X, upstream)
    np.testing.assert_allclose(got, _grad(sequential, X, upstream), atol=2e-5)
    np.testing.assert_allclose(
        fused.augment_batch_vjp(upstream, color, offsets, centers, size), _grad(sequential, X, upstream), atol=2e-5
    )
    autodiff = _grad(lambda x: fused.augment_batch(x, color, offsets, centers, size, fill=0.5), X, upstream)
    np.testing.assert_allclose(autodiff, _grad(sequential, X, upstream), atol=2e-5)  # the other backends' path
