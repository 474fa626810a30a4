"""Subprocess worker for tests/gan/test_distributed.py and test_advaug.py (not a test module).

Started with the repository root on PYTHONPATH (`tests.helpers.processes`), so the helpers import
as `tests.helpers`.

Usage:
    python distributed_worker.py mirrored OUT.npz
        one training step (d_steps=2: each D update on its strided slice of the 8 reals, 4 global,
        2 per replica) on 2 MirroredStrategy replicas (2 logical CPUs) and on one device with the
        same global element; saves both states.
    python distributed_worker.py advaug OUT.npz
        the same with AdvAug (advaug_gamma=0.05), DiffAugment and a class-conditional G and D.
    python distributed_worker.py multiworker OUT.npz      (TF_CONFIG set by the caller)
        a short fit under MultiWorkerMirroredStrategy; saves the final state and the logs.
"""

import json
import sys

import numpy as np
import tensorflow as tf

MODE, OUT = sys.argv[1], sys.argv[2]
if MODE in ("mirrored", "advaug"):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import tf_diffaug as td  # noqa: E402
from tests.helpers import gan_helpers as h  # noqa: E402

IMAGES = np.random.default_rng(0).uniform(-1, 1, (24, 4, 4, 1)).astype(np.float32)


def build(augment, ada_target=0.6):
    g, d = h.small_networks(seed=0)
    gan = td.GAN(g, d, latent_dim=4, augment=augment, ema_decay=0.9, seed=3)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(1e-2),
        d_optimizer=keras.optimizers.Adam(1e-2),
        loss="hinge",
        d_steps=2,
        r1_gamma=1.0,
        lecam_weight=0.5,
        ada_target=ada_target,
        ada_interval=1,
        ada_kimg=0.1,
    )
    return gan


def dataset(batch, count):
    data = tf.data.Dataset.from_tensor_slices(IMAGES[:count]).batch(batch, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def fit(gan, data, epochs):
    logs = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs=None, out=logs: out.append(
            {k: np.asarray(v).tolist() for k, v in logs.items()}
        )
    )
    gan.fit(data, epochs=epochs, verbose=0, callbacks=[record])
    return logs


def state(gan, prefix):
    return {f"{prefix}:{key}": value for key, value in h.all_state(gan).items()}


if MODE == "mirrored":
    # Random per-sample gate and noise: each replica applies its slice of the global-batch draw. No
    # shift: D's logits of reals 3 and 7 (the second D update's slice) stay negative, so r_t < 1.
    def augment():
        layer = h.Gated(noise=0.2, seed=1)
        layer.p.assign(0.7)
        return layer

    # ada_target=1 > r_t: p goes down by (global images consumed = 2 D updates x 4) / 100 after the step.
    single = build(augment(), ada_target=1.0)
    single_logs = fit(single, dataset(8, 8), epochs=1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = build(augment(), ada_target=1.0)
    mirrored_logs = fit(mirrored, dataset(8, 8), epochs=1)
    np.savez(OUT, replicas=strategy.num_replicas_in_sync, **state(single, "single"), **state(mirrored, "mirrored"))
    with open(OUT + ".json", "w") as f:
        json.dump({"single": single_logs, "mirrored": mirrored_logs}, f)
elif MODE == "advaug":
    labels = np.random.default_rng(1).integers(0, 3, len(IMAGES)).astype(np.int32)

    def build_advaug():
        keras.utils.set_random_seed(0)
        g, d = h.advaug_networks(seed=0, latent_dim=4, num_classes=3)
        gan = td.GAN(
            g,
            d,
            latent_dim=4,
            num_classes=3,
            augment=td.DiffAugment("color,translation,cutout", seed=2),
            ema_decay=0.9,
            seed=3,
            advaug_gamma=0.05,
        )
        # SGD: Adam's g / sqrt(v) would amplify float-summation noise of near-zero gradients.
        gan.compile(
            g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1), loss="hinge", r1_gamma=1.0
        )
        return gan

    data = tf.data.Dataset.from_tensor_slices((IMAGES[:16], labels[:16])).batch(8, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)
    single = build_advaug()
    single_logs = fit(single, data, epochs=1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = build_advaug()
    mirrored_logs = fit(mirrored, data, epochs=1)
    np.savez(OUT, replicas=strategy.num_replicas_in_sync, **state(single, "single"), **state(mirrored, "mirrored"))
    with open(OUT + ".json", "w") as f:
        json.dump({"single": single_logs, "mirrored": mirrored_logs}, f)
elif MODE == "multiworker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        gan = build(h.Gated(noise=0.1, seed=1))
        gan.augment.p.assign(0.5)
    logs = fit(gan, dataset(8, 24), epochs=2)
    np.savez(OUT, replicas=strategy.num_replicas_in_sync, **state(gan, "worker"))
    with open(OUT + ".json", "w") as f:
        json.dump(logs, f)
else:
    raise SystemExit(f"unknown mode {MODE!r}")
print("done", MODE, flush=True)
