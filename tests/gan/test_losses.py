"""Loss pairs, R1 / CR / LeCam and the ADA rule against NumPy closed forms."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_diffaug.gan import adaptive, losses, regularizers

REAL = np.array([-2.0, -0.5, 0.0, 0.7, 3.0], np.float32)
FAKE = np.array([1.5, -3.0, 0.2, 0.0, -0.9], np.float32)


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


EXPECTED = {
    "hinge": (np.maximum(0, 1 - REAL) + np.maximum(0, 1 + FAKE), -FAKE),
    "non_saturating": (
        -np.log(1 / (1 + np.exp(-REAL))) - np.log(1 - 1 / (1 + np.exp(-FAKE))),
        -np.log(1 / (1 + np.exp(-FAKE))),
    ),
    "wasserstein": (FAKE - REAL, -FAKE),
    "least_squares": (0.5 * (REAL - 1) ** 2 + 0.5 * FAKE**2, 0.5 * (FAKE - 1) ** 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_pairs_match_closed_forms(name):
    pair = losses.get(name)
    d_expected, g_expected = EXPECTED[name]
    # [B, 1] logits (what a discriminator returns) give per-example [B] losses.
    np.testing.assert_allclose(
        pair.discriminator(REAL[:, None], FAKE[:, None]).numpy(), d_expected, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(pair.generator(FAKE[:, None]).numpy(), g_expected, rtol=1e-5, atol=1e-6)


def test_non_saturating_is_stable_for_large_logits():
    pair = losses.get("non_saturating")
    d = pair.discriminator(np.array([-200.0], np.float32), np.array([200.0], np.float32)).numpy()
    np.testing.assert_allclose(d, softplus(np.array([200.0])) * 2, rtol=1e-6)


def test_unknown_loss_names_the_choices():
    with pytest.raises(ValueError, match=r"Unknown loss 'hinj'.*'hinge'.*'least_squares'"):
        losses.get("hinj")
    custom = losses.AdversarialLoss(lambda r, f: f, lambda f: f)
    assert losses.get(custom) is custom


def test_r1_of_linear_discriminator_is_squared_weight_norm():
    w = np.array([[0.5], [-1.0], [2.0], [0.25]], np.float32)
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 2, 2, 1)).astype(np.float32))
    d = lambda images: tf.matmul(tf.reshape(images, [-1, 4]), w) + 3.0  # noqa: E731
    penalty, logits = regularizers.r1_penalty(d, x)
    np.testing.assert_allclose(penalty.numpy(), np.full(3, np.sum(w**2)), rtol=1e-6)
    np.testing.assert_allclose(logits.numpy()[:, 0], x.numpy().reshape(3, 4) @ w[:, 0] + 3.0, rtol=1e-6)
    # Through an augmentation T(x) = 3x the gradient w.r.t. x is 3w.
    penalty_through, _ = regularizers.r1_penalty(lambda images: d(3.0 * images), x)
    np.testing.assert_allclose(penalty_through.numpy(), np.full(3, 9 * np.sum(w**2)), rtol=1e-6)


def test_r1_is_differentiable_in_the_discriminator_weights():
    w = tf.Variable([[1.0], [2.0]])
    x = tf.ones([1, 2])
    with tf.GradientTape() as tape:
        penalty, _ = regularizers.r1_penalty(lambda images: tf.matmul(images, w), x)
        total = tf.reduce_sum(penalty)
    # d/dw |w|^2 = 2w
    np.testing.assert_allclose(tape.gradient(total, w).numpy(), [[2.0], [4.0]], rtol=1e-6)


def test_consistency_penalty():
    augmented, clean = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 0.5])
    np.testing.assert_allclose(regularizers.consistency_penalty(augmented, clean).numpy(), (augmented - clean) ** 2)


def test_lecam_penalty_and_anchor_update():
    anchor_real, anchor_fake = 0.4, -0.3
    expected = np.maximum(REAL - anchor_fake, 0) ** 2 + np.maximum(anchor_real - FAKE, 0) ** 2
    got = regularizers.lecam_penalty(REAL[:, None], FAKE[:, None], anchor_real, anchor_fake).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(float(regularizers.update_anchor(0.4, 2.0, 0.99)), 0.99 * 0.4 + 0.01 * 2.0, rtol=1e-6)


@pytest.mark.parametrize(
    "p, sign_mean, expected",
    [
        (0.5, 0.9, 0.5 + 64 / 500_000),  # overfitting: more augmentation
        (0.5, 0.1, 0.5 - 64 / 500_000),  # less
        (0.5, 0.6, 0.5),  # on target: unchanged
        (0.99999, 1.0, 1.0),  # clamped above (ADA's own code is not: issue #175)
        (0.00001, -1.0, 0.0),  # clamped below
    ],
)
def test_ada_update_rule_and_clamp(p, sign_mean, expected):
    got = float(adaptive.ada_update(p, sign_mean, target=0.6, images=64, kimg=500))
    assert got == pytest.approx(expected, abs=1e-7)


def test_ada_needs_a_p_weight():
    with pytest.raises(ValueError, match="scalar weight `p`"):
        adaptive.probability_variable(keras.layers.Identity())
