"""td.GAN's train step against closed forms on a linear D and a constant G, with marker augmentations."""

import contextlib
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td
from tests.helpers import gan_helpers as h

SHAPE = (2, 2, 1)
W = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
W.setflags(write=False)  # the networks get copies; catch any aliasing
B = 0.3
REAL = np.arange(8 * 4, dtype=np.float32).reshape(8, *SHAPE) / 32.0 - 0.4


def make_gan(augment=None, mode="both", fake_value=0.0, g_lr=0.0, d_lr=0.0, w=W, b=B, **compile_kwargs):
    gan = td.GAN(
        h.constant_generator(3, SHAPE, fake_value),
        h.linear_discriminator(SHAPE, w, b),
        latent_dim=3,
        augment=augment,
        augment_mode=mode,
        seed=0,
    )
    gan.compile(g_optimizer=keras.optimizers.SGD(g_lr), d_optimizer=keras.optimizers.SGD(d_lr), **compile_kwargs)
    return gan


def fit_logs(gan, images=REAL, batch_size=4, epochs=1):
    """Runs fit and returns the per-batch logs (a list of dicts of floats)."""
    batches = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(dict(logs)))
    gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(batch_size), epochs=epochs, verbose=0, callbacks=[record])
    return [{k: float(np.asarray(v)) for k, v in logs.items()} for logs in batches]


def d_np(x, w=W, b=B):
    return x.reshape(len(x), -1) @ w + b


@pytest.mark.parametrize(
    "mode, real_aug, fake_aug_d, fake_aug_g",
    [("both", 1, 1, 1), ("real_only", 1, 0, 0), ("d_only", 1, 1, 0), ("none", 0, 0, 0)],
)
def test_augment_mode_feeds_discriminator_the_described_inputs(mode, real_aug, fake_aug_d, fake_aug_g):
    # T adds 100 to every pixel, so D(T(x)) = D(x) + 100 * sum(w): visible in every score.
    c = 100.0 * W.sum()
    gan = make_gan(h.AddConstant(100.0), mode, fake_value=0.25, loss="wasserstein")
    logs = fit_logs(gan, REAL[:4])[0]
    real_expected = d_np(REAL[:4]).mean() + real_aug * c
    fake_d = d_np(np.full((4, *SHAPE), 0.25, np.float32)).mean() + fake_aug_d * c
    fake_g = d_np(np.full((4, *SHAPE), 0.25, np.float32)).mean() + fake_aug_g * c
    assert logs["real_score"] == pytest.approx(real_expected, rel=1e-5)
    assert logs["fake_score"] == pytest.approx(fake_d, rel=1e-5)
    assert logs["d_loss"] == pytest.approx(fake_d - real_expected, abs=1e-3)  # wasserstein: f - r
    assert logs["g_loss"] == pytest.approx(-fake_g, rel=1e-5)  # G step sees T only in "both"


@pytest.mark.parametrize("mode, factor", [("both", 3.0), ("d_only", 1.0)])
def test_generator_gradient_flows_through_augmentation(mode, factor):
    # g_loss = -mean_b D(T(G(z))) with T(x) = 3x and G(z) = bias: d g_loss / d bias_j = -3 w_j in "both".
    gan = make_gan(h.Scale(3.0), mode, g_lr=0.1, loss="wasserstein")
    fit_logs(gan, REAL[:4])
    bias = keras.ops.convert_to_numpy(gan.generator.layers[1].bias)
    np.testing.assert_allclose(bias, 0.1 * factor * W, rtol=1e-6)


@pytest.mark.parametrize("name", ["hinge", "non_saturating", "wasserstein", "least_squares"])
def test_logged_losses_are_per_example_means_of_the_pair(name):
    gan = make_gan(loss=name, fake_value=0.1)
    logs = fit_logs(gan, REAL[:4])[0]
    pair = td.gan.losses.get(name)
    real, fake = d_np(REAL[:4]), d_np(np.full((4, *SHAPE), 0.1, np.float32))
    assert logs["d_loss"] == pytest.approx(float(np.mean(pair.discriminator(real, fake))), rel=1e-5)
    assert logs["g_loss"] == pytest.approx(float(np.mean(pair.generator(fake))), rel=1e-5)


@pytest.mark.parametrize("through, expected_scale", [(True, 4.0), (False, 1.0)])
def test_r1_variants_and_discriminator_update(through, expected_scale):
    # T(x) = 2x; through T: |grad_x D(2x)|^2 = 4|w|^2; on T(x): |w|^2. One SGD step on D:
    # wasserstein grad_w = mean T(fake) - mean T(real); R1 grad_w = gamma * scale * w.
    gamma, lr = 0.5, 0.01
    gan = make_gan(h.Scale(2.0), "both", d_lr=lr, loss="wasserstein", r1_gamma=gamma, r1_through_augment=through)
    logs = fit_logs(gan, REAL[:4])[0]
    assert logs["r1_penalty"] == pytest.approx(expected_scale * np.sum(W**2), rel=1e-5)
    grad = 0.0 - 2.0 * REAL[:4].reshape(4, -1).mean(0) + gamma * expected_scale * W
    kernel = keras.ops.convert_to_numpy(gan.discriminator.layers[-1].kernel)[:, 0]
    np.testing.assert_allclose(kernel, W - lr * grad, rtol=1e-5)


def test_until_the_lecam_term_starts_the_discriminator_update_is_the_plain_one():
    # The term is added at steps > lecam_start_step (google/lecam-gan: `itr > start_itr`); the anchor
    # updates before it do not touch D.
    def kernels(**compile_kwargs):
        gan = make_gan(h.AddConstant(0.5), "both", fake_value=-0.2, d_lr=0.05, **compile_kwargs)
        history = []
        record = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: history.append(gan.discriminator.layers[-1].kernel.numpy().copy())
        )
        gan.fit(tf.data.Dataset.from_tensor_slices(REAL).batch(2), epochs=1, verbose=0, callbacks=[record])
        return history

    plain, delayed, immediate = kernels(), kernels(lecam_weight=0.5, lecam_start_step=1), kernels(lecam_weight=0.5)
    for step in (0, 1):  # steps 0 and 1: no LeCam term, bit for bit
        np.testing.assert_array_equal(delayed[step], plain[step])
    assert not np.allclose(delayed[2], plain[2])  # step 2: LeCam acts
    np.testing.assert_array_equal(immediate[0], plain[0])
    assert not np.allclose(immediate[1], plain[1])


def test_compile_takes_keywords_only_and_recompiling_starts_new_state():
    gan = make_gan(h.AddConstant(0.5), lecam_weight=0.3)
    with pytest.raises(TypeError, match="positional"):
        gan.compile(keras.optimizers.SGD(), keras.optimizers.SGD())
    fit_logs(gan, REAL[:4])
    first = gan.lecam.anchor_real
    assert float(first) != 0.0
    own = lambda: [v.name for v in gan.non_trainable_variables if v.path.startswith(gan.name + "/")]
    assert own() == ["step", "lecam_anchor_real", "lecam_anchor_fake"]
    gan.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(0.0), lecam_weight=0.3)
    assert gan.lecam.anchor_real is not first and float(gan.lecam.anchor_real) == 0.0
    assert own() == ["step", "lecam_anchor_real", "lecam_anchor_fake"]  # the old anchors are no longer tracked
    assert not any(v is first for v in gan.variables)
    assert gan.lecam_anchor_real is gan.lecam.anchor_real and gan.lecam_weight == 0.3  # the old attribute names
    gan.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(0.0))
    assert own() == ["step"] and gan.lecam.variables == [] and gan.ada is None
    assert gan.lecam_anchor_real is None and gan.ada_sign_sum is None and gan.lecam_weight == 0.0
    assert (gan.r1_gamma, gan.ada_target, gan.ada_interval, gan.lecam_decay) == (0.0, None, 4, 0.9)
    assert int(gan.step_counter) == 1  # the step counter is the model's, kept


def test_ema_arithmetic_with_start_step():
    decay, start = 0.8, 2
    gan = td.GAN(
        h.constant_generator(3, SHAPE, 0.0),
        h.linear_discriminator(SHAPE, W, B),
        latent_dim=3,
        ema_decay=decay,
        ema_start_step=start,
        seed=0,
    )
    gan.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.0), loss="wasserstein")
    history = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: history.append(
            (gan.generator.layers[1].bias.numpy().copy(), gan.ema_generator.layers[1].bias.numpy().copy())
        )
    )
    gan.fit(tf.data.Dataset.from_tensor_slices(REAL).batch(2), epochs=1, verbose=0, callbacks=[record])
    ema = np.zeros(4, np.float32)  # G's initial bias
    for step, (bias, ema_bias) in enumerate(history, start=1):
        ema = bias if step <= start else decay * ema + (1 - decay) * bias
        np.testing.assert_allclose(ema_bias, ema, rtol=1e-5, atol=1e-7)
    assert not np.allclose(history[-1][0], history[-1][1])  # the EMA really lags G
    assert int(gan.step_counter) == 4


@pytest.mark.parametrize("bias, expected", [(1.0, [0, 0.5, 0.5, 1.0, 1.0, 1.0]), (-1.0, [0.5, 0.0, 0.0, 0.0])])
def test_ada_controller_updates_and_clamps_p(bias, expected):
    # D(x) = bias everywhere, so r_t = sign(bias). interval 2, batch 4 -> 8 images / 16 images = 0.5 per update.
    gated = h.Gated()
    gan = td.GAN(
        h.constant_generator(3, SHAPE), h.linear_discriminator(SHAPE, np.zeros(4), bias), latent_dim=3, augment=gated
    )
    gan.compile(
        g_optimizer=keras.optimizers.SGD(0.0),
        d_optimizer=keras.optimizers.SGD(0.0),
        ada_target=0.6,
        ada_interval=2,
        ada_kimg=0.016,
    )
    if bias < 0:
        gated.p.assign(0.75)
        logs = fit_logs(gan, np.zeros((16, *SHAPE), np.float32))
        expected = [0.75, 0.25, 0.25, 0.0]
    else:
        logs = fit_logs(gan, np.zeros((24, *SHAPE), np.float32))
    np.testing.assert_allclose([entry["aug_p"] for entry in logs], expected, atol=1e-6)
    assert float(gated.p) == pytest.approx(expected[-1])


def test_fit_with_progress_bar_history_and_conditional_labels():
    gan = td.GAN(
        h.constant_generator(3, SHAPE, 0.1, num_classes=3),
        h.linear_discriminator(SHAPE, W, B, num_classes=3),
        latent_dim=3,
        num_classes=3,
        seed=0,
    )
    gan.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(0.0), loss="hinge")
    labels = np.arange(8) % 3
    dataset = tf.data.Dataset.from_tensor_slices((REAL, labels)).batch(4)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = gan.fit(dataset, epochs=2)  # default verbose="auto": the progress bar
    assert "d_loss" in out.getvalue() and "Epoch 2/2" in out.getvalue()
    assert set(history.history) == {"d_loss", "g_loss", "real_score", "fake_score"}
    # D's class bias is 0 and lr is 0: the epoch mean of hinge D loss over both batches.
    real, fake = d_np(REAL), d_np(np.full((8, *SHAPE), 0.1, np.float32))
    expected = np.mean(np.maximum(0, 1 - real) + np.maximum(0, 1 + fake))
    np.testing.assert_allclose(history.history["d_loss"], [expected, expected], rtol=1e-5)
    samples = gan.generate(5, labels=[0, 1, 2, 0, 1])
    np.testing.assert_allclose(samples, np.full((5, *SHAPE), 0.1), rtol=1e-6)


def test_generate_is_seeded_and_uses_the_ema_generator():
    g, d = h.small_networks(seed=1)
    gan = td.GAN(g, d, latent_dim=4)
    gan.ema_generator.set_weights([w * 0.5 for w in g.get_weights()])
    z = keras.random.normal((6, 4), seed=7)
    np.testing.assert_allclose(gan.generate(6, seed=7, batch_size=4), gan.ema_generator(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gan.generate(6, seed=7, use_ema=False), g(z), rtol=1e-5, atol=1e-6)
    assert not np.allclose(gan.generate(3), gan.generate(3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"augment_mode": "augmented"}, r"Unknown augment_mode 'augmented'. Expected one of \['both'"),
        ({"latent_dim": 5}, r"latent_dim=5 does not match"),
        ({"num_classes": 0}, r"num_classes must be a positive int"),
        ({"ema_decay": 1.5}, r"ema_decay must be in \[0, 1\]. Received ema_decay=1.5"),
        ({"augment": "color"}, r"augment must be a keras Layer or None. Received augment='color'"),
    ],
)
def test_constructor_errors(kwargs, message):
    kwargs = {"latent_dim": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        td.GAN(h.constant_generator(3, SHAPE), h.linear_discriminator(SHAPE, W), **kwargs)


@pytest.mark.parametrize("units, shape", [(2, "(None, 2)"), (4, "(None, 4)")])
def test_a_discriminator_with_more_than_one_score_per_image_is_refused(units, shape):
    features = h.linear_discriminator(SHAPE, W)
    two = keras.Model(features.inputs, keras.layers.Dense(units)(features.outputs[0]), name="two_logits")
    with pytest.raises(ValueError) as info:
        td.GAN(h.constant_generator(3, SHAPE), two, latent_dim=3)
    assert str(info.value) == (
        f"The discriminator 'two_logits' outputs shape {shape}; td.GAN needs one real/fake score per image: "
        "one output of shape (batch, 1) or (batch,)."
    )


def test_one_score_per_image_is_accepted_as_batch_or_batch_by_one():
    column = h.linear_discriminator(SHAPE, W)
    squeeze = keras.layers.Lambda(lambda t: keras.ops.squeeze(t, -1))
    flat = keras.Model(column.inputs, squeeze(column.outputs[0]), name="flat")
    for discriminator, expected in ((flat, (None,)), (column, (None, 1))):
        assert tuple(discriminator.outputs[0].shape) == expected
        td.GAN(h.constant_generator(3, SHAPE), discriminator, latent_dim=3)


def test_td_gan_on_another_keras_backend_says_what_it_needs(monkeypatch):
    from tf_diffaug.gan import model

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(RuntimeError) as info:
        td.GAN(h.constant_generator(3, SHAPE), h.linear_discriminator(SHAPE, W), latent_dim=3)
    assert str(info.value) == (
        "td.GAN trains on Keras' TensorFlow or JAX backend, but Keras runs on 'torch'. Set "
        'KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax (or "backend" in ~/.keras/keras.json); DiffAugment itself '
        "also runs on torch."
    )
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    model.check_backend()  # JAX trains (tests/gan/test_jax_backend.py runs it)
    assert model._train_step_mixin("jax").__name__ == "GANJaxTrainStep"
    assert model._train_step_mixin("tensorflow") is model.GANTrainStep
    monkeypatch.undo()
    model.check_backend()  # the real backend here is TensorFlow


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss": "minimax"}, r"Unknown loss 'minimax'"),
        ({"d_steps": 0}, r"d_steps must be an int >= 1. Received d_steps=0"),
        ({"cr_weight": 10.0}, r"cr_weight=10.0 needs an augmentation of the reals"),
        ({"ada_target": 0.6}, r"ada_target needs an augment"),
        ({"r1_gamma": -1.0}, r"r1_gamma must be >= 0"),
    ],
)
def test_compile_errors(kwargs, message):
    gan = td.GAN(h.constant_generator(3, SHAPE), h.linear_discriminator(SHAPE, W), latent_dim=3)
    with pytest.raises(ValueError, match=message):
        gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), **kwargs)


def test_d_steps_consume_one_real_slice_and_one_latent_batch_per_update():
    # d_steps = 3 on an element of 3 x 4 reals: 3 D updates of 4 reals and 4 latents each, one G update.
    g, d = h.small_networks(seed=2)
    gan = td.GAN(g, d, latent_dim=4, seed=3)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-3), d_optimizer=keras.optimizers.Adam(1e-3), d_steps=3)
    state = gan.seed_generator.state.numpy().copy()
    fit_logs(gan, np.zeros((12, 4, 4, 1), np.float32), batch_size=12)
    assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 1
    assert int(gan.seed_generator.state.numpy()[1] - state[1]) == 4  # 3 D draws + 1 G draw of z


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_step_has_finite_losses(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        g, d = h.small_networks(seed=4)
        gan = td.GAN(g, d, latent_dim=4, augment=h.AddConstant(0.1))
        gan.compile(
            g_optimizer=keras.optimizers.Adam(1e-3),
            d_optimizer=keras.optimizers.Adam(1e-3),
            r1_gamma=1.0,
            lecam_weight=0.1,
        )
    finally:
        keras.config.set_dtype_policy(previous)
    assert g.outputs[0].dtype == policy.split("_")[1]
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    before = [w.copy() for w in d.get_weights()]
    logs = fit_logs(gan, np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32))
    assert all(np.isfinite(v) for entry in logs for v in entry.values())
    assert not all(np.array_equal(a, b) for a, b in zip(before, d.get_weights()))


def test_config_round_trip():
    g, d = h.small_networks(seed=5)
    gan = td.GAN(g, d, latent_dim=4, augment_mode="d_only", ema_decay=0.99, ema_start_step=10, seed=4)
    clone = td.GAN.from_config(gan.get_config())
    assert clone.get_config()["augment_mode"] == "d_only" and clone.ema_start_step == 10 and clone.seed == 4
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in gan.weights]
