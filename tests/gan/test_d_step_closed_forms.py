"""td.GAN's D updates, one real slice each, against a NumPy re-implementation of the step (issues 13, 14).

The networks are a linear D, `D(x) = w . flatten(x) + b`, and a constant G (`G(z) = v`), the
augmentation `T(x) = x + c`. One D update with plain SGD then has a hand-computable gradient:

    hinge:  d/dw mean relu(1 - D(T x)) + relu(1 + D(T f)) = -mean[(D(Tx) < 1) Tx] + (D(Tf) > -1) Tf
    CR:     (D(Tx) - D(x))^2 = (c sum w)^2, so d/dw = 2 c^2 (sum w) 1 (the clean branch matters)
    LeCam:  relu(D(Tx) - a_F)^2 + relu(a_R - D(Tf))^2 at the anchors just updated (google/lecam-gan)

`simulate` runs that arithmetic in float64 for whole steps (`d_steps` updates on the slices
`x[i::d_steps]`) and also in the "plausible bug" variants the tests must reject.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td
from tests.helpers import gan_helpers as h

SHAPE = (2, 2, 1)
W0 = np.array([0.5, -1.0, 2.0, 0.25], np.float64)
B0 = 0.3
FAKE, SHIFT = -0.2, 0.5


def reals(count, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (count, *SHAPE)).astype(np.float32)


def make_gan(d_lr, augment=None, g=None, latent_dim=3, **compile_kwargs):
    gan = td.GAN(
        g if g is not None else h.constant_generator(latent_dim, SHAPE, FAKE),
        h.linear_discriminator(SHAPE, W0, B0),
        latent_dim=latent_dim,
        augment=h.AddConstant(SHIFT) if augment is None else augment,
        seed=0,
    )
    gan.compile(g_optimizer=keras.optimizers.SGD(0.0), d_optimizer=keras.optimizers.SGD(d_lr), **compile_kwargs)
    return gan


def fit_recording(gan, images, element, epochs=1):
    """Fits on batches of `element` images; returns per-step logs and (kernel, bias, anchors) after each step."""
    logs, state = [], []

    def record(batch, logs=None, out=logs):
        out.append({k: float(np.asarray(v)) for k, v in logs.items()})
        kernel = gan.discriminator.layers[-1].kernel.numpy()[:, 0].astype(np.float64)
        bias = float(gan.discriminator.layers[-1].bias.numpy()[0])
        anchors = (
            None if gan.lecam.anchor_real is None else (float(gan.lecam.anchor_real), float(gan.lecam.anchor_fake))
        )
        state.append((kernel, bias, anchors))

    data = tf.data.Dataset.from_tensor_slices(images).batch(element, drop_remainder=True)
    callback = keras.callbacks.LambdaCallback(on_train_batch_end=record)
    gan.fit(data, epochs=epochs, verbose=0, callbacks=[callback])
    return logs, state


def simulate(images, element, d_steps, lr, cr=0.0, lecam=0.0, decay=0.9, start=0, bug=None):
    """The D side of `len(images) // element` training steps in NumPy; returns per-step state and penalties.

    `bug` replays a plausible mistake: "cr_stop_gradient" (no gradient through CR's clean D(x)),
    "lecam_penalty_first" (the penalty reads the anchors before this update's means),
    "same_slice" (every D update of a step uses the first slice), "lecam_frozen" (no anchor update
    before the start step, the term from the start step on).
    """
    w, b = W0.copy(), B0
    anchor_real = anchor_fake = 0.0
    flat = images.reshape(len(images), -1).astype(np.float64)
    tf_ = np.full(4, FAKE + SHIFT)  # T(G(z)) for every latent
    out = []
    for step in range(len(images) // element):
        chunk = flat[step * element : (step + 1) * element]
        cr_values, lecam_values = [], []
        for i in range(d_steps):
            x = chunk[0::d_steps] if bug == "same_slice" else chunk[i::d_steps]
            tx = x + SHIFT
            r, f = tx @ w + b, tf_ @ w + b
            grad_w = -((r < 1)[:, None] * tx).mean(0) + (f > -1) * tf_
            grad_b = -(r < 1).mean() + float(f > -1)
            if cr:
                diff = r - (x @ w + b)
                branch = tx if bug == "cr_stop_gradient" else tx - x  # d/dw of D(Tx) - D(x)
                grad_w = grad_w + cr * (2 * diff[:, None] * branch).mean(0)
                grad_b = grad_b + cr * (2 * diff).mean() * (bug == "cr_stop_gradient")
                cr_values.append((diff**2).mean())
            if lecam:
                frozen = bug == "lecam_frozen"
                on = step >= start if frozen else step > start
                d = decay if (frozen or step >= start) else 0.0
                new = (d * anchor_real + (1 - d) * r.mean(), d * anchor_fake + (1 - d) * f)
                if not (frozen and step < start):
                    if bug == "lecam_penalty_first":
                        used = (anchor_real, anchor_fake)
                    anchor_real, anchor_fake = new
                if bug != "lecam_penalty_first":
                    used = (anchor_real, anchor_fake)
                u, v = np.maximum(r - used[1], 0), np.maximum(used[0] - f, 0)
                if on:
                    grad_w = grad_w + lecam * (2 * u[:, None] * tx - 2 * v * tf_).mean(0)
                    grad_b = grad_b + lecam * (2 * u - 2 * v).mean()
                lecam_values.append((u**2 + v**2).mean() * on)
            w, b = w - lr * grad_w, b - lr * grad_b
        out.append(
            {
                "w": w.copy(),
                "b": b,
                "anchors": (anchor_real, anchor_fake),
                "cr": np.mean(cr_values) if cr else None,
                "lecam": np.mean(lecam_values) if lecam else None,
            }
        )
    return out


def running_means(values):
    return [float(np.mean(values[: i + 1])) for i in range(len(values))]


# ------------------------------------------------------------------------------ slices and LeCam
def test_d_updates_with_cr_lecam_and_slices_equal_the_closed_form_step_by_step():
    # 5 steps of 2 D updates on 2 x 4 reals, lr > 0, CR and LeCam with start step 2: steps 0-1
    # copy the batch means into the anchors without a term, step 2 averages them without a term,
    # steps 3-4 add the term at the anchors just updated.
    images, d_steps, element = reals(40), 2, 8
    settings = dict(lr=0.05, cr=2.0, lecam=0.3, decay=0.9, start=2)
    gan = make_gan(
        settings["lr"], d_steps=d_steps, cr_weight=2.0, lecam_weight=0.3, lecam_decay=0.9, lecam_start_step=2
    )
    logs, state = fit_recording(gan, images, element)
    expected = simulate(images, element, d_steps, **settings)
    for step, ((kernel, bias, anchors), want) in enumerate(zip(state, expected)):
        np.testing.assert_allclose(kernel, want["w"], rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        assert bias == pytest.approx(want["b"], rel=1e-5, abs=1e-6), step
        np.testing.assert_allclose(anchors, want["anchors"], rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
    for name, key in (("cr_penalty", "cr"), ("lecam_penalty", "lecam")):
        np.testing.assert_allclose(
            [entry[name] for entry in logs], running_means([e[key] for e in expected]), rtol=1e-5, atol=1e-7
        )
    assert [e["lecam"] == 0 for e in expected] == [True, True, True, False, False]
    # The closed form is sharp: each plausible bug moves D's weights.
    for bug in ("cr_stop_gradient", "lecam_penalty_first", "same_slice", "lecam_frozen"):
        wrong = simulate(images, element, d_steps, bug=bug, **settings)[-1]["w"]
        assert np.abs(wrong - expected[-1]["w"]).max() > 1e-3, bug


@pytest.mark.parametrize("start", [0, 1])
def test_lecam_start_step_in_the_step_follows_the_official_schedule(start):
    # One D update per step: the term is first added at step start + 1 (official `itr > start_itr`).
    images = reals(16, seed=3)
    gan = make_gan(0.1, lecam_weight=0.5, lecam_decay=0.8, lecam_start_step=start)
    logs, state = fit_recording(gan, images, 4)
    expected = simulate(images, 4, 1, lr=0.1, lecam=0.5, decay=0.8, start=start)
    for step, ((kernel, _, anchors), want) in enumerate(zip(state, expected)):
        np.testing.assert_allclose(kernel, want["w"], rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
        np.testing.assert_allclose(anchors, want["anchors"], rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
    per_step = [e["lecam"] for e in expected]
    assert per_step[: start + 1] == [0.0] * (start + 1) and all(v > 0 for v in per_step[start + 1 :])
    np.testing.assert_allclose([entry["lecam_penalty"] for entry in logs], running_means(per_step), rtol=1e-5)
    plain = simulate(images, 4, 1, lr=0.1)
    for step in range(start + 1):  # no term yet: exactly the plain update
        np.testing.assert_allclose(state[step][0], plain[step]["w"], rtol=1e-5, atol=1e-6)


def test_batches_that_d_steps_does_not_divide_are_an_error():
    images = reals(14)
    gan = make_gan(0.0, d_steps=2)
    static = tf.data.Dataset.from_tensor_slices(images).batch(7, drop_remainder=True)  # shape [7, ...] known
    with pytest.raises(ValueError, match=r"d_steps=2 .* batch the dataset at 2 x batch_size\. Received a batch of 7"):
        gan.fit(static, epochs=1, verbose=0)
    gan = make_gan(0.0, d_steps=2)
    dynamic = tf.data.Dataset.from_tensor_slices(images).batch(7)  # shape [None, ...]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"d_steps x batch_size real images"):
        gan.fit(dynamic, epochs=1, verbose=0)


# ------------------------------------------------------------------------------------------------ ADA
def test_ada_reads_the_real_logits_of_every_slice_and_counts_the_images_consumed():
    # D(x) = sum(x): slice 0 (rows 0, 2, 4, 6) has logits +2, slice 1 (rows 1, 3, 5, 7) +2, -2, +2, -2
    # and fakes (0.3 everywhere) +1.2. r_t = (4 + 0) / 8 = 0.5 < 0.6: p goes down by
    # (2 steps x 8 images) / (0.064 * 1000) = 0.25 per adjustment. Reading the fakes (r = 1), the
    # first slice only (r = 1) or counting 8 / d_steps images per step would not.
    rows = np.array([0.5, 0.5, 0.5, -0.5, 0.5, 0.5, 0.5, -0.5], np.float32)
    images = np.repeat(rows[:, None], 4, axis=1).reshape(8, *SHAPE)
    images = np.concatenate([images] * 4)  # 4 steps
    gated = h.Gated()  # noise 0, shift 0: T is the identity whatever p
    gan = td.GAN(
        h.constant_generator(3, SHAPE, 0.3), h.linear_discriminator(SHAPE, np.ones(4), 0.0), latent_dim=3, augment=gated
    )
    gan.compile(
        g_optimizer=keras.optimizers.SGD(0.0),
        d_optimizer=keras.optimizers.SGD(0.0),
        d_steps=2,
        ada_target=0.6,
        ada_interval=2,
        ada_kimg=0.064,
    )
    gated.p.assign(0.75)
    logs, _ = fit_recording(gan, images, 8)
    signs = np.sign(images.reshape(len(images), -1).sum(1)).reshape(4, 8)
    p, expected = 0.75, []
    for step in range(1, 5):
        if step % 2 == 0:
            consumed = signs[step - 2 : step]
            p = float(np.clip(p + np.sign(consumed.mean() - 0.6) * consumed.size / 64.0, 0, 1))
        expected.append(p)
    assert expected == [0.75, 0.5, 0.5, 0.25]
    np.testing.assert_allclose([entry["aug_p"] for entry in logs], expected, atol=1e-6)
    assert logs[0]["real_score"] == pytest.approx(1.0) and logs[0]["fake_score"] == pytest.approx(1.2)


# ------------------------------------------------------------------------------------------ G batch
def test_g_batch_size_sets_the_generator_updates_latents_and_normalization():
    # G(z) = z K + c0 (no activation), T(x) = x + 0.5, D linear and frozen, wasserstein G loss
    # -mean_b D(T(G(z_b))): dK = -outer(mean_b z_b, w). The G update draws g_batch_size = 6 latents
    # after the two D updates' 4 each; one SGD step of 0.1.
    latent, kernel0 = 3, np.random.default_rng(5).normal(size=(3, 4)).astype(np.float32)
    z = keras.Input((latent,))
    dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.Constant(kernel0), bias_initializer="zeros")
    g = keras.Model(z, keras.layers.Reshape(SHAPE)(dense(z)))
    gan = td.GAN(g, h.linear_discriminator(SHAPE, W0, B0), latent_dim=latent, augment=h.AddConstant(SHIFT), seed=4)
    gan.compile(
        g_optimizer=keras.optimizers.SGD(0.1),
        d_optimizer=keras.optimizers.SGD(0.0),
        loss="wasserstein",
        d_steps=2,
        g_batch_size=6,
    )
    assert gan.get_compile_config()["g_batch_size"] == 6
    logs, _ = fit_recording(gan, reals(8), 8)
    seeds = keras.random.SeedGenerator(4)
    for _ in range(2):  # the D updates' latents
        assert tuple(keras.random.normal((4, latent), seed=seeds).shape) == (4, latent)
    z_g = keras.ops.convert_to_numpy(keras.random.normal((6, latent), seed=seeds)).astype(np.float64)
    expected_kernel = kernel0 + 0.1 * np.outer(z_g.mean(0), W0)
    np.testing.assert_allclose(dense.kernel.numpy(), expected_kernel, rtol=1e-5, atol=1e-6)
    g_loss = -np.mean((z_g @ kernel0 + SHIFT) @ W0 + B0)
    assert logs[0]["g_loss"] == pytest.approx(g_loss, rel=1e-5)
    for bad in (0, 2.0, True):
        with pytest.raises(
            ValueError, match=rf"g_batch_size must be an int >= 1 or None .* Received g_batch_size={bad}"
        ):
            gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), g_batch_size=bad)
