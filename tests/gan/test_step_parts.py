"""The train step's parts on their own: R1 / consistency / LeCam regularizer objects, the ADA controller,
the feature-perturbation strategies, each against a closed form or a NumPy re-implementation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import gan_helpers as h
from tf_diffaug.gan import adaptive, losses, perturbation, regularizers
from tf_diffaug.gan.advaug import FeatureAdvAug

W = np.array([0.5, -1.0, 2.0, 0.25], np.float32)


def linear_d(images):
    """D(x) = x . W on [B, 2, 2, 1] images, as logits [B]."""
    return tf.reshape(tf.matmul(tf.reshape(images, [-1, 4]), W[:, None]), [-1])


X = np.arange(12, dtype=np.float32).reshape(3, 2, 2, 1) / 10.0 - 0.5


# ------------------------------------------------------------------------------------------- R1
@pytest.mark.parametrize("through, scale", [(True, 9.0), (False, 1.0)])
def test_r1_regularizer_takes_the_gradient_where_asked(through, scale):
    # T(x) = 3x: grad_x D(T(x)) = 3 W, so |.|^2 = 9 |W|^2; at y = T(x): grad_y D(y) = W.
    r1 = regularizers.R1Regularizer(gamma=0.4, through_augment=through)
    logits, penalty = r1.real_logits(linear_d, lambda x: 3.0 * x, tf.constant(X))
    np.testing.assert_allclose(logits, 3.0 * X.reshape(3, 4) @ W, rtol=1e-6)
    np.testing.assert_allclose(penalty, np.full(3, scale * np.sum(W**2)), rtol=1e-6)
    assert r1.enabled and r1.coefficient == pytest.approx(0.2) and r1.name == "r1_penalty"


def test_r1_regularizer_penalty_trains_the_discriminator_weights():
    # d/dW of gamma/2 * |grad_x (x . W)|^2 = gamma/2 * 2 W = gamma * W (double backpropagation).
    w = tf.Variable(W[:, None])
    r1 = regularizers.R1Regularizer(gamma=0.4)
    with tf.GradientTape() as tape:
        _, penalty = r1.real_logits(lambda x: tf.matmul(tf.reshape(x, [-1, 4]), w), lambda x: x, tf.constant(X))
        loss = r1.coefficient * tf.reduce_mean(penalty)
    np.testing.assert_allclose(tape.gradient(loss, w)[:, 0], 0.4 * W, rtol=1e-6)


def test_disabled_r1_is_the_plain_forward_pass():
    r1 = regularizers.R1Regularizer(gamma=0.0)
    logits, penalty = r1.real_logits(linear_d, lambda x: x + 1.0, tf.constant(X))
    assert penalty is None and not r1.enabled
    np.testing.assert_allclose(logits, (X.reshape(3, 4) + 1.0) @ W, rtol=1e-6)


# ------------------------------------------------------------------------------------------- CR
def test_consistency_regularizer_and_its_lazy_clean_pass():
    calls = []

    def clean():
        calls.append(1)
        return tf.constant([1.0, -1.0, 0.5])

    cr = regularizers.ConsistencyRegularizer(weight=10.0)
    penalty = cr.penalty(tf.constant([3.0, 0.0, 0.5]), clean)
    np.testing.assert_allclose(penalty, [4.0, 1.0, 0.0])
    assert cr.coefficient == 10.0 and calls == [1]
    assert regularizers.ConsistencyRegularizer(0.0).penalty(tf.constant([3.0]), clean) is None
    assert calls == [1]  # disabled: D is not called (its spectral-norm state would move)


# ---------------------------------------------------------------------------------------- LeCam
def lecam_official(real_batches, fake_batches, decay, start_itr):
    """google/lecam-gan, transliterated: `ema_losses.update` (third_party/utils.py) then `lecam_reg`.

    Per iteration `itr` (0-based, as `state_dict['itr']` during `train()`): the anchors take the
    batch means with `decay = 0.0 if itr < start_itr else decay` (biggan_cifar/losses.py
    `loss_hinge_dis`), then `train_fns.py` adds `lecam_reg` only `if itr > start_itr`.
    """
    anchor_real = anchor_fake = 0.0
    penalties, anchors = [], []
    for itr, (real, fake) in enumerate(zip(real_batches, fake_batches)):
        d = 0.0 if itr < start_itr else decay
        anchor_fake = anchor_fake * d + fake.mean() * (1 - d)
        anchor_real = anchor_real * d + real.mean() * (1 - d)
        value = np.maximum(real - anchor_fake, 0) ** 2 + np.maximum(anchor_real - fake, 0) ** 2
        penalties.append(value if itr > start_itr else np.zeros_like(value))
        anchors.append((anchor_real, anchor_fake))
    return penalties, anchors


@pytest.mark.parametrize("start_step", [0, 2])
def test_lecam_regularizer_follows_the_official_order_and_schedule(start_step):
    rng = np.random.default_rng(0)
    real = [rng.normal(1.0, 1.0, 5).astype(np.float32) for _ in range(5)]
    fake = [rng.normal(-1.0, 1.0, 5).astype(np.float32) for _ in range(5)]
    expected, anchors = lecam_official(real, fake, 0.8, start_step)
    lecam = regularizers.LeCamRegularizer(weight=0.3, decay=0.8, start_step=start_step)
    assert [v.name for v in lecam.variables] == ["lecam_anchor_real", "lecam_anchor_fake"]
    for step in range(5):
        step_tensor = tf.constant(step, tf.int64)  # the GAN passes its int64 step counter
        lecam.update(real[step].mean(), fake[step].mean(), step_tensor)  # first the anchors, then the term
        np.testing.assert_allclose([float(lecam.anchor_real), float(lecam.anchor_fake)], anchors[step], rtol=1e-5)
        got = lecam.penalty(tf.constant(real[step]), tf.constant(fake[step]), step_tensor)
        np.testing.assert_allclose(got, expected[step], rtol=1e-5, atol=1e-7, err_msg=f"step {step}")
    # The term starts after the start step; before it the anchors are the batch means themselves.
    assert not np.any(expected[start_step]) and np.all(expected[start_step + 1] >= 0) and np.any(expected[-1])
    if start_step:
        assert anchors[start_step - 1] == pytest.approx((real[start_step - 1].mean(), fake[start_step - 1].mean()))
    assert regularizers.LeCamRegularizer(weight=0.1).decay == 0.9  # the authors' ema_losses(decay=0.9)


def test_disabled_lecam_has_no_state_and_no_term():
    lecam = regularizers.LeCamRegularizer(weight=0.0)
    assert lecam.variables == [] and lecam.anchor_real is None
    assert lecam.penalty(tf.ones(2), tf.ones(2), 0) is None
    lecam.update(1.0, 1.0, 0)  # a no-op


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: regularizers.R1Regularizer(-1.0), r"r1_gamma must be >= 0. Received r1_gamma=-1.0"),
        (lambda: regularizers.ConsistencyRegularizer("10"), r"cr_weight must be >= 0. Received cr_weight='10'"),
        (lambda: regularizers.LeCamRegularizer(float("nan")), r"lecam_weight must be >= 0. Received lecam_weight=nan"),
        (lambda: regularizers.LeCamRegularizer(0.1, decay=1.0), r"lecam_decay must be in \[0, 1\). Received"),
        (
            lambda: regularizers.LeCamRegularizer(0.1, start_step=1.5),
            r"lecam_start_step must be an int >= 0. Received lecam_start_step=1.5",
        ),
        (
            lambda: regularizers.LeCamRegularizer(0.1, start_step=-1),
            r"lecam_start_step must be an int >= 0. Received lecam_start_step=-1",
        ),
    ],
)
def test_regularizer_arguments_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------------------------------ ADA
def ada_numpy(p, updates, target, interval, kimg):
    """p after each step by ADA's rule (Karras et al. 2020, Sec. 2.4), with [0, 1] clamping.

    `updates`: per step, (sum of sign(D(T(real))), number of real images consumed).
    """
    sign_sum = count = 0.0
    history = []
    for step, (signs, n) in enumerate(updates, start=1):
        sign_sum, count = sign_sum + signs, count + n
        if step % interval == 0:
            p = float(np.clip(p + np.sign(sign_sum / max(count, 1.0) - target) * count / (kimg * 1000), 0, 1))
            sign_sum = count = 0.0
        history.append((p, sign_sum, count))
    return history


def test_ada_controller_accumulates_and_adjusts_p_by_the_rule():
    # Each step reports 2 D updates x 4 reals (8 images); r_t alternates around the target 0.6.
    augment = h.Gated()
    augment.p.assign(0.3)
    ada = adaptive.ADAController(augment, target=0.6, interval=3, kimg=0.1)
    assert [v.name for v in ada.variables] == ["ada_sign_sum", "ada_count"]
    updates = [(8.0, 8.0), (2.0, 8.0), (-8.0, 8.0), (8.0, 8.0), (8.0, 8.0), (0.0, 8.0)] * 2 + [(8.0, 8.0)] * 12
    expected = ada_numpy(0.3, updates, 0.6, 3, 0.1)
    for step, (signs, n) in enumerate(updates, start=1):
        ada.update(tf.constant(step, tf.int64), signs, n)
        p, sign_sum, count = expected[step - 1]
        assert float(ada.probability()) == pytest.approx(p, abs=1e-6), step
        assert (float(ada.sign_sum), float(ada.count)) == (sign_sum, count), step
    probabilities = [p for p, _, _ in expected]  # 24 images / 100-per-1 = 0.24 per adjustment
    assert (
        min(probabilities) == pytest.approx(0.06) and probabilities[-4:] == [1.0] * 4
    )  # down; up; 0.78 + 0.24 clamped to 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": 1.5}, r"ada_target must be in \[0, 1\] or None. Received ada_target=1.5"),
        ({"interval": 0}, r"ada_interval must be an int >= 1. Received ada_interval=0"),
        ({"kimg": 0}, r"ada_kimg must be > 0. Received ada_kimg=0"),
    ],
)
def test_ada_controller_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adaptive.ADAController(h.Gated(), **kwargs)
    with pytest.raises(ValueError, match=r"needs an augment layer with a scalar weight `p`"):
        adaptive.ADAController(keras.layers.Identity())


# --------------------------------------------------------------------------- perturbation strategies
def test_strategies_match_a_manual_composition():
    g, d = h.advaug_networks(seed=2, latent_dim=4)
    z = tf.random.stateless_normal((5, 4), seed=[1, 2])
    real = tf.random.stateless_uniform((5, 4, 4, 1), seed=[3, 4], minval=-1, maxval=1)
    hinge = losses.get("hinge")
    d_fn = lambda x: tf.reshape(d(x + 0.1, training=True), [-1])  # a marker "augmentation" in the G step

    plain = perturbation.for_gamma(g, d, 0.0)
    assert isinstance(plain, perturbation.NoPerturbation) and plain.log_names == ()
    logits, none = plain.discriminator_logits(real)
    assert none is None
    np.testing.assert_array_equal(logits, tf.reshape(d(real), [-1]))
    fake_logits = tf.reshape(d(g(z)), [-1])
    loss, extra = plain.discriminator_loss(hinge, logits, fake_logits)
    np.testing.assert_array_equal(loss, hinge.discriminator(logits, fake_logits))
    assert extra == {}
    loss, extra = plain.generator_loss(hinge, z, None, d_fn)
    np.testing.assert_allclose(loss, -d_fn(g(z)), rtol=1e-6)
    assert extra == {}

    gamma = 0.05
    advaug = perturbation.for_gamma(g, d, gamma)
    reference = FeatureAdvAug(g, d, gamma)
    assert isinstance(advaug, perturbation.AdvAugPerturbation) and advaug.gamma == gamma
    real_clean, real_adv = advaug.discriminator_logits(real)
    manual = [tf.reshape(t, [-1]) for t in reference.discriminator_logits(real)]
    np.testing.assert_array_equal(real_clean, manual[0])
    np.testing.assert_array_equal(real_adv, manual[1])
    fake_clean, fake_adv = advaug.discriminator_logits(g(z))
    loss, extra = advaug.discriminator_loss(hinge, real_clean, fake_clean, real_adv, fake_adv)
    adv_d = hinge.discriminator(real_adv, fake_adv)
    np.testing.assert_allclose(loss, (hinge.discriminator(real_clean, fake_clean) + adv_d) / 2, rtol=1e-6)
    np.testing.assert_array_equal(extra["d_advaug_loss"], adv_d)
    loss, extra = advaug.generator_loss(hinge, z, None, d_fn)
    images, images_adv = reference.generator_images(z, d_fn)
    np.testing.assert_allclose(extra["g_advaug_loss"], -d_fn(images_adv), rtol=1e-6)
    np.testing.assert_allclose(loss, (-d_fn(images) - d_fn(images_adv)) / 2, rtol=1e-6)
    assert float(tf.reduce_mean(extra["g_advaug_loss"])) < float(tf.reduce_mean(-d_fn(images)))  # lowers G's loss
