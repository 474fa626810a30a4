"""DiffAugment layers: sampled distributions, seeding, graph/XLA/tf.data use, saving, formats, errors."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tf_diffaug import augment
from tf_diffaug.augment import policy

RNG = np.random.default_rng(1)
X = RNG.uniform(-1, 1, (5, 12, 20, 3)).astype("float32")  # non-square: catches H/W mix-ups


def _np(t):
    return {k: np.asarray(v) for k, v in t.items()}


@pytest.fixture(scope="module")
def draws():
    """A large transformation sample at 20 x 29 (odd, non-square) and at 32 x 32."""
    layer = augment.DiffAugment(seed=0, value_range=(0.0, 1.0))
    small = _np(layer.get_random_transformation(np.zeros((6000, 20, 29, 1), "float32")))
    square = _np(layer.get_random_transformation(np.zeros((6000, 32, 32, 1), "float32")))
    return small, square


def _assert_uniform_ints(values, low, high):
    """Exact support [low, high) and a chi-square test of uniformity."""
    assert values.min() == low and values.max() == high - 1
    counts = np.bincount(values - low, minlength=high - low)
    assert len(counts) == high - low
    assert stats.chisquare(counts).pvalue > 1e-4


def test_translation_offsets_uniform_on_the_official_support(draws):
    small, square = draws
    # s = int(size * 0.125 + 0.5): 20 -> 3, 29 -> 4, 32 -> 4
    _assert_uniform_ints(small["translation"][:, 0], -3, 4)
    _assert_uniform_ints(small["translation"][:, 1], -4, 5)
    _assert_uniform_ints(square["translation"][:, 0], -4, 5)
    _assert_uniform_ints(square["translation"][:, 1], -4, 5)


def test_cutout_centers_uniform_on_the_official_support(draws):
    small, square = draws
    # c = int(size * 0.5 + 0.5): 20 -> 10 (even: [0, 21)), 29 -> 15 (odd: [0, 29)), 32 -> 16 ([0, 33))
    _assert_uniform_ints(small["cutout"][:, 0], 0, 21)
    _assert_uniform_ints(small["cutout"][:, 1], 0, 29)
    _assert_uniform_ints(square["cutout"][:, 0], 0, 33)


def test_color_parameter_moments(draws):
    small, _ = draws
    n = len(small["brightness"])
    # value_range (0, 1): delta ~ U[-0.25, 0.25); saturation ~ U[0, 2); contrast ~ U[0.5, 1.5)
    for key, low, high in [("brightness", -0.25, 0.25), ("saturation", 0.0, 2.0), ("contrast", 0.5, 1.5)]:
        v = small[key]
        assert v.min() >= low and v.max() < high
        mean, var = (low + high) / 2, (high - low) ** 2 / 12
        assert abs(v.mean() - mean) < 4 * np.sqrt(var / n)
        assert abs(v.var() - var) < 0.08 * var
        assert stats.kstest((v - low) / (high - low), "uniform").pvalue > 1e-4


def test_parameters_are_independent_across_fields(draws):
    small, _ = draws
    cols = np.stack(
        [small["brightness"], small["saturation"], small["contrast"], *small["translation"].T, *small["cutout"].T], 1
    ).astype(np.float64)
    corr = np.corrcoef(cols, rowvar=False)
    assert np.abs(corr - np.eye(7)).max() < 5 / np.sqrt(len(cols))


def test_cutout_area_matches_the_exact_expectation():
    h, w = 20, 29
    ch, cw = 10, 15
    layer = augment.CutoutAugment(seed=3)
    out = np.asarray(layer(np.ones((3000, h, w, 1), "float32"), training=True))
    area = (out == 0).mean(axis=(1, 2, 3)) * h * w

    def covered(size, c, n):  # rows covered by the clipped interval, averaged over uniform centers
        return np.mean([len(set(range(cc - c // 2, cc - c // 2 + c)) & set(range(size))) for cc in range(n)])

    expected = covered(h, ch, h + 1) * covered(w, cw, w)  # independent axes
    assert abs(area.mean() - expected) < 4 * area.std() / np.sqrt(len(area))


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_layer_call_is_its_sampled_parameters_applied(ref, jit_compile):
    a = augment.DiffAugment(seed=11, jit_compile=jit_compile)
    b = augment.DiffAugment(seed=11, jit_compile=jit_compile)
    y = a(X, training=True)
    t = b.get_random_transformation(X)
    np.testing.assert_array_equal(y, b.transform_images(X, t))
    np.testing.assert_allclose(y, ref.diffaugment(X, _np(t)), atol=2e-5)


def test_samples_in_a_batch_are_augmented_independently():
    same = np.repeat(X[:1], 16, axis=0)
    y = np.asarray(augment.DiffAugment(seed=2)(same, training=True)).reshape(16, -1)
    assert len({row.tobytes() for row in y}) == 16


def test_seed_reproducibility():
    a, b, c = (augment.DiffAugment(seed=s) for s in (5, 5, 6))
    ya1, ya2 = a(X, training=True), a(X, training=True)
    np.testing.assert_array_equal(ya1, b(X, training=True))
    np.testing.assert_array_equal(ya2, b(X, training=True))
    assert not np.allclose(ya1, ya2) and not np.allclose(ya1, c(X, training=True))


def test_identity_when_not_training():
    layer = augment.DiffAugment(seed=0)
    np.testing.assert_array_equal(layer(X, training=False), X)
    np.testing.assert_array_equal(layer(X, training=tf.constant(False)), X)
    assert layer.get_random_transformation(X, training=False) is None
    inputs = keras.Input((12, 20, 3))
    model = keras.Model(inputs, augment.DiffAugment(seed=0)(inputs))
    np.testing.assert_array_equal(model.predict(X, verbose=0), X)
    assert not np.allclose(model(X, training=True), X)


def test_empty_policy_is_identity():
    np.testing.assert_array_equal(augment.DiffAugment("", seed=0)(X, training=True), X)


@pytest.mark.parametrize("jit_compile,outer_jit", [("auto", True), (False, True), ("auto", False)])
def test_inside_tf_function_with_xla(ref, jit_compile, outer_jit):
    layer = augment.DiffAugment(seed=4, jit_compile=jit_compile)

    @tf.function(jit_compile=outer_jit)
    def step(x):
        t = layer.get_random_transformation(x)
        return layer.transform_images(x, t), t, layer(x, training=True)

    y, t, y2 = step(tf.constant(X))
    np.testing.assert_allclose(y, ref.diffaugment(X, _np(t)), atol=2e-5)
    assert y2.shape == X.shape and not np.allclose(y2, y)


def test_in_tf_data_map(ref):
    layer = augment.DiffAugment(seed=9)
    ds = tf.data.Dataset.from_tensor_slices(X).batch(5)
    ds = ds.map(lambda b: (lambda t: (layer.transform_images(b, t), t))(layer.get_random_transformation(b)))
    for y, t in ds:
        np.testing.assert_allclose(y, ref.diffaugment(X, _np(t)), atol=2e-5)
    plain = tf.data.Dataset.from_tensor_slices(X).batch(5).map(lambda b: layer(b, training=True))
    assert not np.allclose(next(iter(plain)), X)


@pytest.mark.parametrize("policy_string", ["color,translation,cutout", "cutout,color"])
def test_channels_first_equals_channels_last(policy_string):
    last = augment.DiffAugment(policy_string, seed=8)
    first = augment.DiffAugment(policy_string, seed=8, data_format="channels_first")
    y_last = last(X, training=True)
    y_first = first(np.transpose(X, (0, 3, 1, 2)), training=True)
    np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, atol=1e-6)


def test_gradient_of_sum_is_the_mask_through_the_layers(ref):
    x = tf.constant(X)
    for layer in (augment.TranslationAugment(ratio=0.5, seed=1), augment.CutoutAugment(seed=1)):
        t = layer.get_random_transformation(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer.transform_images(x, t)
        if "translation" in t:
            mask = ref.translate_keep(X.shape, -np.asarray(t["translation"]))
        else:
            mask = ref.cutout(np.ones(X.shape), np.asarray(t["cutout"]), (6, 10), 0.0)
        np.testing.assert_array_equal(tape.gradient(y, x), mask)


def test_non_official_order_runs_op_by_op(ref):
    layer = augment.DiffAugment("cutout,translation", seed=0, value_range=(0, 2))
    t = _np(layer.get_random_transformation(X))
    expected = ref.translate(ref.cutout(X, t["cutout"], (6, 10), 1.0), t["translation"], 1.0)
    np.testing.assert_allclose(layer.transform_images(X, t), expected, atol=1e-6)


def test_register_policy_adds_a_user_op(ref):
    flip = augment.PolicyOp(
        "flip",
        sample=lambda images, seed, value_range: keras.random.uniform((keras.ops.shape(images)[0],), seed=seed) < 0.5,
        apply=lambda images, flips, value_range: keras.ops.where(
            keras.ops.reshape(flips, (-1, 1, 1, 1)), keras.ops.flip(images, axis=2), images
        ),
    )
    augment.register_policy("flip", [flip])
    try:
        layer = augment.DiffAugment("flip,translation", seed=0)
        t = _np(layer.get_random_transformation(X))
        flipped = np.where(t["flip"][:, None, None, None], X[:, :, ::-1], X)
        np.testing.assert_allclose(layer.transform_images(X, t), ref.translate(flipped, t["translation"]), atol=1e-6)
        assert "flip" in augment.registered_names()
    finally:
        policy.unregister_policy("flip")
    assert "flip" not in augment.registered_names()


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: augment.DiffAugment("colour,cutout"),
            r"Unknown op 'colour' in policy 'colour,cutout'\. Expected one of \['color', 'cutout', 'translation'\]",
        ),
        (lambda: augment.DiffAugment("color,,cutout"), r"Empty item in policy 'color,,cutout'"),
        (lambda: augment.DiffAugment(value_range=(1, -1)), r"value_range=\(1, -1\)"),
        (lambda: augment.DiffAugment(data_format="NHWC"), r"data_format='NHWC'"),
        (lambda: augment.TranslationAugment(ratio=1.5), r"ratio=1\.5"),
        (lambda: augment.AdaptiveAugment(augment.DiffAugment(), initial_p=2), r"initial_p=2"),
    ],
)
def test_bad_arguments_raise_in_init(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "images,data_format,message",
    [
        (X[0], "channels_last", r"rank-4 .*got shape \(12, 20, 3\) \(rank 3\)"),
        (
            (X * 127 + 128).astype("uint8"),
            "channels_last",
            r"float images in value_range=\(-1\.0, 1\.0\), got dtype 'uint8'\. Scale them first, e\.g\. x / 255 \* 2 - 1\.",
        ),
        (np.transpose(X, (0, 3, 1, 2)), "channels_last", r"20 channels on axis 3 .*looks like channels_first"),
        (
            X,
            "channels_first",
            r"12 channels on axis 1 for data_format='channels_first', but looks like channels_last \(3 channels on axis 3\)",
        ),
    ],
)
def test_bad_inputs_raise_clearly(images, data_format, message):
    with pytest.raises(ValueError, match=message):
        augment.DiffAugment(data_format=data_format)(images, training=True)


def test_adaptive_gates_each_sample_with_p():
    inner = augment.DiffAugment(seed=1)
    ada = augment.AdaptiveAugment(inner, initial_p=0.0, seed=2)
    assert ada.p.trainable is False and ada.p.dtype == "float32" and ada.p.aggregation == "only_first_replica"
    np.testing.assert_array_equal(ada(X, training=True), X)
    ada.p.assign(1.0)
    t = ada.get_random_transformation(X)
    assert np.all(t["apply"])
    np.testing.assert_array_equal(ada.transform_images(X, t), inner.transform_images(X, t["augment"]))
    ada.p.assign(0.3)
    big = np.repeat(X, 400, axis=0)
    t = ada.get_random_transformation(big)
    gate = np.asarray(t["apply"])
    assert abs(gate.mean() - 0.3) < 4 * np.sqrt(0.21 / len(gate))
    y = np.asarray(ada.transform_images(big, t))
    aug = np.asarray(inner.transform_images(big, t["augment"]))
    np.testing.assert_array_equal(y[~gate], big[~gate])
    np.testing.assert_array_equal(y[gate], aug[gate])
    np.testing.assert_array_equal(ada(X, training=False), X)


def test_keras_file_round_trip(tmp_path):
    ada = augment.AdaptiveAugment(augment.DiffAugment("color,cutout", value_range=(0, 1), seed=3), initial_p=0.2)
    inputs = keras.Input((12, 20, 3))
    outputs = augment.TranslationAugment(ratio=0.25, seed=1)(augment.ColorAugment(seed=2)(inputs))
    outputs = augment.CutoutAugment(ratio=0.3, data_format="channels_last")(ada(outputs))
    model = keras.Model(inputs, outputs)
    ada.p.assign(0.7)
    model.save(tmp_path / "augment.keras")
    loaded = keras.saving.load_model(tmp_path / "augment.keras")
    for a, b in zip(model.layers[1:], loaded.layers[1:]):
        assert type(a) is type(b) and json.loads(json.dumps(a.get_config())) == json.loads(json.dumps(b.get_config()))
    new_ada = loaded.layers[3]
    assert float(new_ada.p.numpy()) == pytest.approx(0.7)
    assert new_ada.augment.policy == "color,cutout" and new_ada.augment.value_range == (0.0, 1.0)
    t = ada.get_random_transformation(X)
    np.testing.assert_array_equal(new_ada.transform_images(X, t), ada.transform_images(X, t))
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), X)


def test_second_order_gradient_through_the_fused_kernel():
    """R1 'through T' differentiates the augmentation's backward pass: fused XLA == portable autodiff."""
    x = tf.constant(X)
    w = tf.Variable(RNG.normal(size=X.shape[1:]).astype("float32"))
    results = []
    for jit_compile in ("auto", False):
        layer = augment.DiffAugment(seed=0, jit_compile=jit_compile)
        t = layer.get_random_transformation(x)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = tf.reduce_sum(tf.tanh(layer.transform_images(x, t) * w))
            penalty = tf.reduce_sum(inner.gradient(score, x) ** 2)
        results.append((penalty.numpy(), outer.gradient(penalty, w).numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
