"""Overhead of DiffAugment on one full GAN training step (D update + G update + EMA).

Builds the CPU preset networks (`td.networks.get_preset("dcgan-cpu")`: DCGAN, width 32, 64x64,
batch 32; any `td.networks` preset with `--preset`, class-conditional ones with labels) twice with
identical weights: once with `td.DiffAugment("")` (the identity policy) and
once with the full policy `"color,translation,cutout"`, both under `augment_mode="both"`, so the
augmented step runs T three times per step (reals and fakes in the D step, fakes in the G step)
plus its backward pass. A step receives `d_steps x batch` real images, one batch per D update, as
`td.GAN` requires (BigGAN-CIFAR: 4 x 50). Each step is `gan.train_step` in one `tf.function`; the two models are
timed alternately in the same process (`--repeats` rounds of `--steps` steps each), in wall-clock
time and in process CPU time (all threads; much less disturbed by other processes on a shared
machine). Overheads are given from the fastest round of each and from the medians.
Goal: overhead <= 15 %.

Usage: python benchmarks/train_step.py [--preset dcgan-cpu] [--resolution 64] [--batch-size 32]
                                       [--steps 10] [--repeats 5]
(about 1-2 minutes on a 2-core CPU with the defaults.)

Backends: `--compare_backends` instead times the full-policy step on TensorFlow (`tf.function`
of `gan.train_step`) and on JAX (`jax.jit` of the stateless `gan.train_step(state, data)`, as
Keras' JAX trainer runs it), one subprocess per backend running this script with
`--backend_rate` and the same preset and weights seed, and prints steps/s and the ratio
JAX / TensorFlow.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import tf_diffaug as td

FULL_POLICY = "color,translation,cutout"


def build(preset, resolution, policy, weights=None):
    generator, discriminator = td.networks.get(
        preset["network"],
        resolution=resolution,
        channels=preset["channels"],
        num_classes=preset["num_classes"],
        **preset["network_kwargs"],
    )
    if weights is not None:
        generator.set_weights(weights[0])
        discriminator.set_weights(weights[1])
    gan = td.GAN(
        generator,
        discriminator,
        latent_dim=generator.inputs[0].shape[-1],
        augment=td.DiffAugment(policy, seed=1),
        num_classes=preset["num_classes"],
        ema_decay=preset["ema_decay"],
        seed=0,
    )
    gan.compile(
        g_optimizer=keras.optimizers.Adam(preset["g_lr"], beta_1=preset["beta_1"], beta_2=preset["beta_2"]),
        d_optimizer=keras.optimizers.Adam(preset["d_lr"], beta_1=preset["beta_1"], beta_2=preset["beta_2"]),
        loss=preset["loss"],
        d_steps=preset["d_steps"],
    )
    return gan


def backend_rate(preset, resolution, batch_size, steps, repeats):
    """Steps/s (fastest round) of the full-policy step on the current Keras backend."""
    keras.utils.set_random_seed(0)
    reals = preset["d_steps"] * batch_size
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (reals, resolution, resolution, preset["channels"])).astype(np.float32)
    data = images
    if preset["num_classes"]:
        data = (images, rng.integers(0, preset["num_classes"], reals).astype(np.int32))
    gan = build(preset, resolution, FULL_POLICY)
    if keras.backend.backend() == "jax":
        import jax

        step_fn = jax.jit(gan.train_step, donate_argnums=0)
        state = [gan._get_jax_state(True, True, True, True)]

        def step():
            logs, state[0] = step_fn(state[0], data)
            return logs
    else:
        step_fn = tf.function(gan.train_step)

        def step():
            return step_fn(data)

    for _ in range(3):  # trace and warm up
        float(step()["d_loss"])
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            logs = step()
        float(logs["d_loss"])  # wait for the last step
        rounds.append((time.perf_counter() - start) / steps)
    return 1.0 / min(rounds)


def compare_backends(args):
    rates = {}
    for backend in ("tensorflow", "jax"):
        command = [sys.executable, __file__, "--backend_rate", "--preset", args.preset]
        command += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
        command += [
            f"--{name}={value}"
            for name, value in (("resolution", args.resolution), ("batch-size", args.batch_size))
            if value
        ]
        done = subprocess.run(command, env=dict(os.environ, KERAS_BACKEND=backend), capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"the {backend} run failed:\n{done.stderr[-3000:]}")
        rates[backend] = float(done.stdout.strip().splitlines()[-1])
        print(f"{backend:10s}: {rates[backend]:7.2f} steps/s (fastest of {args.repeats} rounds x {args.steps} steps)")
    print(f"JAX / TensorFlow: {rates['jax'] / rates['tensorflow']:.2f}x steps/s (preset {args.preset}, full policy)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dcgan-cpu")
    parser.add_argument("--resolution", type=int, default=None, help="defaults to the preset's")
    parser.add_argument("--batch-size", type=int, default=None, help="defaults to the preset's")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per model")
    parser.add_argument("--compare_backends", action="store_true", help="JAX vs TensorFlow steps/s (subprocesses)")
    parser.add_argument("--backend_rate", action="store_true", help="print this backend's steps/s (internal)")
    args = parser.parse_args()
    if args.compare_backends:
        return compare_backends(args)

    preset = td.networks.get_preset(args.preset)
    resolution = args.resolution or preset["resolution"]
    batch_size = args.batch_size or preset["batch_size"]
    if args.backend_rate:
        return print(backend_rate(preset, resolution, batch_size, args.steps, args.repeats))
    reals = preset["d_steps"] * batch_size  # one batch of reals per D update
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1, 1, (reals, resolution, resolution, preset["channels"])), tf.float32)
    data = images
    if preset["num_classes"]:
        data = (images, tf.constant(rng.integers(0, preset["num_classes"], reals), tf.int64))

    baseline = build(preset, resolution, "")
    weights = (baseline.generator.get_weights(), baseline.discriminator.get_weights())
    augmented = build(preset, resolution, FULL_POLICY, weights)
    steps = {name: tf.function(gan.train_step) for name, gan in (("baseline", baseline), ("augmented", augmented))}

    changed = float(tf.reduce_mean(tf.abs(augmented.augment(images, training=True) - images)))
    unchanged = float(tf.reduce_mean(tf.abs(baseline.augment(images, training=True) - images)))
    if not (changed > 0.0 and unchanged == 0.0):
        raise RuntimeError(f"augmentation check failed: mean |T(x) - x| = {changed} (full), {unchanged} ('')")

    for step in steps.values():  # trace and warm up
        for _ in range(3):
            step(data)

    wall = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                logs = step(data)
            float(logs["d_loss"])  # wait for the last step
            wall[name].append((time.perf_counter() - start_wall) / args.steps)
            cpu[name].append((time.process_time() - start_cpu) / args.steps)

    print(
        f"preset {args.preset}: {preset['network']} {resolution}x{resolution}x{preset['channels']}, "
        f"batch {batch_size} ({reals} reals per step), d_steps {preset['d_steps']}, loss {preset['loss']}, "
        f"{args.repeats} rounds x {args.steps} steps, tf {tf.__version__}, keras {keras.__version__}"
    )
    print(f"mean |T(x) - x| on the batch: {changed:.3f} (full policy), {unchanged:.3f} ('')")
    for label, times in (("wall", wall), ("cpu", cpu)):
        for name, policy in (("baseline", ""), ("augmented", FULL_POLICY)):
            rounds = ", ".join(f"{1000 * t:.0f}" for t in times[name])
            print(
                f"{label:4s} policy {policy!r:27s}: fastest {1000 * min(times[name]):7.1f} ms/step, "
                f"median {1000 * statistics.median(times[name]):7.1f} (rounds: {rounds})"
            )
    for label, times in (("wall", wall), ("cpu", cpu)):
        fastest = 100.0 * (min(times["augmented"]) / min(times["baseline"]) - 1.0)
        median = 100.0 * (statistics.median(times["augmented"]) / statistics.median(times["baseline"]) - 1.0)
        print(
            f"DiffAugment overhead ({label} time): {fastest:+.1f} % fastest rounds, {median:+.1f} % medians "
            "(goal <= 15 %)"
        )


if __name__ == "__main__":
    main()
