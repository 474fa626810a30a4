"""`td.GAN(advaug_gamma=...)`: AdvAug inside the real train step, checked against a hand-written step.

Chen et al., NeurIPS 2021 (arXiv:2103.00397): `f_adv = f + gamma * sign(grad_f mean D logit)` at D's
"d_features" and G's "g_stem" (the default, the authors' location) or "g_block1", losses averaged
over clean and perturbed. The expected values are
computed from the networks' NumPy weights with plain TF ops and a separate `GradientTape`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td
from tests.helpers import gan_helpers as h
from tests.helpers import processes

GAMMA = 0.05
LATENT, CLASSES, BATCH, SEED = 4, 3, 6, 7


def _weights(model):
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


def _g_head(g, z, layer):
    """G up to `layer`: "g_stem" is `z W0 + b0`, "g_block1" its ReLU."""
    stem = tf.matmul(z, g["g0"][0]) + g["g0"][1]
    return stem if layer == "g_stem" else tf.nn.relu(stem)


def _g_tail(g, f, labels, layer="g_block1"):
    """G after `layer`: `tanh((f' + E_g[y]) W1 + b1)` with `f' = relu(f)` after "g_stem", reshaped to 4x4x1."""
    w1, b1 = g["g1"]
    f = tf.nn.relu(f) if layer == "g_stem" else f
    out = tf.tanh(tf.matmul(f + tf.gather(g["g_embed"][0], labels), w1) + b1)
    return tf.reshape(out, [-1, 4, 4, 1])


def _d_head(d, images):
    w, b = d["d0"]
    return tf.nn.relu(tf.matmul(tf.reshape(images, [-1, 16]), w) + b)


def _d_tail(d, f, labels):
    w3, b3 = d["d1"]
    w4, b4 = d["d2"]
    logits = tf.matmul(tf.nn.relu(tf.matmul(f, w3) + b3), w4) + b4 + tf.gather(d["d_embed"][0], labels)
    return tf.reshape(logits, [-1])


def _ascend(tail, f):
    """`f + gamma * sign(grad_f mean(tail(f)))` with an explicit tape; also returns the sign."""
    f = tf.constant(f)
    with tf.GradientTape() as tape:
        tape.watch(f)
        objective = tf.reduce_mean(tail(f))
    direction = tf.sign(tape.gradient(objective, f))
    return f + GAMMA * direction, direction


def _build(gamma, num_classes=CLASSES, augment=None, spectral_norm=False, **kwargs):
    g, d = h.advaug_networks(seed=1, latent_dim=LATENT, num_classes=num_classes, spectral_norm=spectral_norm)
    gan = td.GAN(
        g, d, latent_dim=LATENT, num_classes=num_classes, augment=augment, seed=SEED, advaug_gamma=gamma, **kwargs
    )
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2), loss="hinge", r1_gamma=1.0
    )
    return gan


@pytest.mark.parametrize("layer", ["g_stem", "g_block1"])
def test_logged_losses_equal_a_hand_written_advaug_step(layer):
    # The default G layer is the stem (linear output, before the ReLU); "g_block1" perturbs after it.
    gan = _build(GAMMA) if layer == "g_stem" else _build(GAMMA, advaug_g_layer=layer)
    assert gan.advaug_g_layer == layer
    g0, d0 = _weights(gan.generator), _weights(gan.discriminator)
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (BATCH, 4, 4, 1)).astype("float32")
    real_labels = rng.integers(0, CLASSES, BATCH).astype("int32")
    data = tf.data.Dataset.from_tensors((real, real_labels))
    logs = {k: v[-1] for k, v in gan.fit(data, epochs=1, verbose=0).history.items()}
    d1 = _weights(gan.discriminator)  # the G step sees D after its update

    # The GAN's latent draws: per step, z then fake labels from one SeedGenerator(seed).
    seeds = keras.random.SeedGenerator(SEED)
    draws = []
    for _ in range(2):
        z = keras.random.normal((BATCH, LATENT), seed=seeds)
        draws.append((z, tf.cast(keras.random.randint((BATCH,), 0, CLASSES, seed=seeds), tf.int32)))

    # D step: both real and fake penultimate features ascend D's mean logit.
    (z, fake_labels), (z2, labels2) = draws
    fake = _g_tail(g0, _g_head(g0, z, "g_block1"), fake_labels)
    hinge_d = lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))  # noqa: E731
    f_real, f_fake = _d_head(d0, real).numpy(), _d_head(d0, fake).numpy()
    real_adv, real_dir = _ascend(lambda f: _d_tail(d0, f, real_labels), f_real)
    fake_adv, fake_dir = _ascend(lambda f: _d_tail(d0, f, fake_labels), f_fake)
    assert np.count_nonzero(real_dir.numpy()) > 0 and np.count_nonzero(fake_dir.numpy()) > 0
    clean_d = hinge_d(_d_tail(d0, f_real, real_labels).numpy(), _d_tail(d0, f_fake, fake_labels).numpy())
    adv_d = hinge_d(_d_tail(d0, real_adv, real_labels).numpy(), _d_tail(d0, fake_adv, fake_labels).numpy())
    assert logs["d_advaug_loss"] == pytest.approx(adv_d, rel=1e-5)
    assert logs["d_loss"] == pytest.approx((clean_d + adv_d) / 2, rel=1e-5)
    assert abs(adv_d - clean_d) > 1e-3  # the perturbation mattered

    # G step: G's features at `layer` ascend D's mean logit of the generated image.
    def g_to_logits(f):
        return _d_tail(d1, _d_head(d1, _g_tail(g0, f, labels2, layer)), labels2)

    f_g = _g_head(g0, z2, layer).numpy()
    g_adv_features, g_dir = _ascend(g_to_logits, f_g)
    assert np.count_nonzero(g_dir.numpy()) > 0
    clean_g = -np.mean(g_to_logits(f_g).numpy())
    adv_g = -np.mean(g_to_logits(g_adv_features).numpy())
    assert logs["g_advaug_loss"] == pytest.approx(adv_g, rel=1e-5)
    assert logs["g_loss"] == pytest.approx((clean_g + adv_g) / 2, rel=1e-5)
    assert adv_g < clean_g  # the official convention lowers G's loss


def test_gamma_zero_is_the_plain_step_bit_for_bit():
    images = np.random.default_rng(1).uniform(-1, 1, (16, 4, 4, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(images).batch(8, drop_remainder=True)
    states = {}
    for name, gamma in (("plain", None), ("zero", 0.0), ("advaug", 0.01)):
        keras.utils.set_random_seed(3)  # spectral norm's vector u has an unseeded initializer
        augment = td.DiffAugment("color,translation,cutout", seed=5)
        g, d = h.advaug_networks(seed=1, latent_dim=LATENT, spectral_norm=True)
        kwargs = {} if gamma is None else {"advaug_gamma": gamma}
        gan = td.GAN(g, d, latent_dim=LATENT, augment=augment, seed=SEED, **kwargs)
        gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2), loss="hinge")
        history = gan.fit(data, epochs=1, verbose=0).history
        states[name] = (h.all_state(gan), sorted(history))
    plain, zero, advaug = states["plain"][0], states["zero"][0], states["advaug"][0]
    assert states["zero"][1] == states["plain"][1] == ["d_loss", "fake_score", "g_loss", "real_score"]
    assert "d_advaug_loss" in states["advaug"][1] and "g_advaug_loss" in states["advaug"][1]
    assert plain.keys() == zero.keys() and len(plain) > 20
    for key in plain:
        np.testing.assert_array_equal(zero[key], plain[key], err_msg=key)
    assert any(not np.array_equal(advaug[key], plain[key]) for key in plain if "kernel" in key)


def test_config_round_trip_and_errors():
    gan = _build(0.01, num_classes=None, advaug_g_layer="g_block1")
    clone = td.GAN.from_config(gan.get_config())
    assert clone.advaug_gamma == 0.01 and clone.get_config()["advaug_gamma"] == 0.01
    assert (clone.advaug_g_layer, clone.advaug_d_layer) == ("g_block1", "d_features")
    assert clone.feature_perturbation.advaug.g_head.layers[-1].name == "g_block1"  # split where configured
    for bad in (-0.1, "0.01", True):
        with pytest.raises(ValueError, match="advaug_gamma"):
            td.GAN(gan.generator, gan.discriminator, latent_dim=LATENT, advaug_gamma=bad)
    with pytest.raises(ValueError, match=r"advaug_g_layer must be a layer name .* Received advaug_g_layer=3"):
        td.GAN(gan.generator, gan.discriminator, latent_dim=LATENT, advaug_gamma=0.01, advaug_g_layer=3)
    g, d = h.small_networks(seed=0)  # no "g_stem" / "d_features"
    with pytest.raises(ValueError, match=r"'g_stem'.*Identity\(name='g_stem'\)"):
        td.GAN(g, d, latent_dim=4, advaug_gamma=0.01)
    td.GAN(g, d, latent_dim=4, advaug_gamma=0.0)  # no AdvAug: the layers are not needed
    _, d_adv = h.advaug_networks(seed=1, latent_dim=4)
    g_adv, _ = h.advaug_networks(seed=1, latent_dim=4)
    with pytest.raises(ValueError, match=r"'d_features'.*discriminator"):
        td.GAN(g_adv, d, latent_dim=4, advaug_gamma=0.01)
    td.GAN(g_adv, d_adv, latent_dim=4, advaug_gamma=0.01)


@pytest.mark.slow  # a subprocess with 2 MirroredStrategy replicas
def test_two_mirrored_replicas_equal_one_device_with_advaug(tmp_path):
    """AdvAug + DiffAugment + conditional nets: 2 MirroredStrategy replicas give the one-device state."""
    import json
    import os
    import subprocess

    out = str(tmp_path / "advaug.npz")
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_worker.py")
    proc = subprocess.run(
        processes.python_command(worker, "advaug", out, timeout=200),
        capture_output=True,
        text=True,
        env=processes.environment(),
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    states = np.load(out)
    assert int(states["replicas"]) == 2
    keys = [k[len("single:") :] for k in states.files if k.startswith("single:")]
    assert len(keys) > 20
    for key in keys:
        np.testing.assert_allclose(
            states["mirrored:" + key], states["single:" + key], rtol=1e-5, atol=1e-6, err_msg=key
        )
    logs = json.load(open(out + ".json"))
    assert "d_advaug_loss" in logs["single"][-1] and "g_advaug_loss" in logs["single"][-1]
    for name, value in logs["single"][-1].items():
        assert logs["mirrored"][-1][name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
