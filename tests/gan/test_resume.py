"""BackupAndRestore: an interrupted and resumed fit equals an uninterrupted one, exactly."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_diffaug as td
from tests.helpers import gan_helpers as h

IMAGES = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32)
EPOCHS = 4  # 2 steps per epoch


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated preemption")


def make_gan(init_seed, seed):
    g, d = h.small_networks(seed=init_seed)
    gan = td.GAN(g, d, latent_dim=4, augment=h.Gated(noise=0.1, seed=seed), ema_decay=0.9, seed=seed)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-2),
        d_optimizer=keras.optimizers.Adam(1e-2),
        r1_gamma=1.0,
        lecam_weight=0.1,
        ada_target=0.6,
        ada_interval=1,
        ada_kimg=0.1,
    )
    return gan


def fit(gan, callbacks):
    dataset = tf.data.Dataset.from_tensor_slices(IMAGES).batch(4)
    return gan.fit(dataset, epochs=EPOCHS, verbose=0, callbacks=callbacks)


def test_backup_and_restore_resumes_exactly(tmp_path):
    reference = make_gan(init_seed=0, seed=1)
    fit(reference, [])
    expected = h.all_state(reference)
    assert int(reference.step_counter) == 2 * EPOCHS
    assert 0.0 < float(reference.augment.p) <= 1.0  # ADA moved p
    assert float(reference.lecam.anchor_real) != 0.0

    interrupted = make_gan(init_seed=0, seed=1)
    with pytest.raises(RuntimeError, match="simulated preemption"):
        fit(interrupted, [keras.callbacks.BackupAndRestore(str(tmp_path)), Interrupt(epoch=1)])
    assert int(interrupted.step_counter) == 4

    # A fresh model with other initial weights and other seeds: everything must come from the backup.
    resumed = make_gan(init_seed=7, seed=99)
    before = h.all_state(resumed)
    assert any(not np.array_equal(before[k], expected[k]) for k in expected if k.endswith("kernel"))
    epochs_run = []
    fit(
        resumed,
        [
            keras.callbacks.BackupAndRestore(str(tmp_path)),
            keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_run.append(epoch)),
        ],
    )
    assert epochs_run == [2, 3]
    got = h.all_state(resumed)
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    kinds = [key.split("/")[-1] for key in expected]
    for name in ("step", "lecam_anchor_real", "lecam_anchor_fake", "ada_sign_sum", "p", "iteration", "slot"):
        assert name in kinds, name
    assert kinds.count("seed_generator_state") == 3  # latents, samples, the augmentation
    assert kinds.count("kernel") == 2 * 2 + 2  # G, its EMA copy, D


def test_weights_file_keeps_the_state_by_name_and_older_positional_files_load(tmp_path):
    import h5py

    trained = make_gan(init_seed=0, seed=1)
    fit(trained, [])
    path = str(tmp_path / "gan.weights.h5")
    trained.save_weights(path)
    expected = h.all_state(trained)
    with h5py.File(path, "r") as f:
        own = sorted(key for key in f["vars"] if not key.startswith("random_state_"))
    assert own == ["ada_count", "ada_sign_sum", "lecam_anchor_fake", "lecam_anchor_real", "step"]

    # The layout written before the parts owned their state: the five variables by position.
    legacy = str(tmp_path / "legacy.weights.h5")
    with h5py.File(path, "r") as source, h5py.File(legacy, "w") as target:
        for key in source:
            source.copy(source[key], target, name=key)
        for key in source.attrs:
            target.attrs[key] = source.attrs[key]
        for index, name in enumerate(("step", "lecam_anchor_real", "lecam_anchor_fake", "ada_sign_sum", "ada_count")):
            target["vars"].move(name, str(index))
    for file in (path, legacy):
        loaded = make_gan(init_seed=7, seed=99)
        loaded.load_weights(file)
        got = h.all_state(loaded)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{file}: {key}")

    # A GAN compiled without LeCam and ADA has only the step of them; the older file still fits it.
    g, d = h.small_networks(seed=0)
    plain = td.GAN(g, d, latent_dim=4, augment=h.Gated(noise=0.1, seed=1), ema_decay=0.9, seed=1)
    plain.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2), r1_gamma=1.0)
    fit(plain, [])  # builds the optimizer slots like the saved run's
    plain.load_weights(legacy)
    assert int(plain.step_counter) == int(trained.step_counter) == 2 * EPOCHS
    with pytest.raises(
        ValueError, match=r"has the state variables \['step'\].*the file has \['ada_count'.*Compile the GAN"
    ):
        plain.load_own_variables({name: np.zeros(()) for name in own})
