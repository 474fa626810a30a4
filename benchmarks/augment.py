"""Speed of DiffAugment("color,translation,cutout"): forward + backward, graph mode, vs an elementwise floor.

For each batch shape this times, inside one ``tf.function`` (TensorFlow graph mode, no outer XLA),
the forward pass plus the gradient with respect to the images for a fixed upstream gradient:

* ``floor``: one affine elementwise pass ``x * a + b`` (per-sample a, b) -- the least any
  augmentation can cost;
* ``tf_diffaug``: ``td.DiffAugment`` as shipped (parameter sampling included; the fused kernel,
  XLA-compiled on TensorFlow);
* ``tf_diffaug (jit_compile=False)``: the same layer on its portable ``keras.ops`` path;
* ``floor, whole step under XLA``: the floor compiled by XLA, for context only (ratios use the
  graph-mode floor above, as the issue defines it);
* ``gather reference``: a direct implementation, written here for comparison -- the three color
  ops one after another, translation by padding plus two batched gathers, cutout by a
  scatter-built mask -- the structure of the official ``DiffAugment_tf.py`` (Zhao et al., NeurIPS
  2020, arXiv:2006.10738), re-implemented from its description.

All variants draw their parameters with the same layer method, apply them to the same tensors,
and are checked against each other before timing. Timings are interleaved round-robin and the
best of ``--trials`` rounds is reported (the machine is shared and noisy); ratios are to the floor
measured in the same process.

Usage: python benchmarks/augment.py [--trials 15] [--shapes 64x32,16x256]
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from tf_diffaug.augment import DiffAugment


def gather_reference(x, t):
    """Op-by-op DiffAugment with explicit parameters: gathers and a scattered cutout mask."""
    batch = tf.shape(x)[0]
    height, width = x.shape[1], x.shape[2]
    per_sample = lambda v: tf.reshape(tf.cast(v, x.dtype), [-1, 1, 1, 1])  # noqa: E731
    x = x + per_sample(t["brightness"])
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * per_sample(t["saturation"]) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * per_sample(t["contrast"]) + mean
    # translation: pad one fill row/column on each side, clamp source indices into the pad
    dy, dx = t["translation"][:, :1], t["translation"][:, 1:]
    rows = tf.clip_by_value(tf.range(height)[None, :] - dy + 1, 0, height + 1)
    cols = tf.clip_by_value(tf.range(width)[None, :] - dx + 1, 0, width + 1)
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    x = tf.gather(x, rows, axis=1, batch_dims=1)
    x = tf.gather(x, cols, axis=2, batch_dims=1)
    # cutout: scatter ones over the (clamped) rectangle, mask = 1 - scattered
    ch, cw = int(height * 0.5 + 0.5), int(width * 0.5 + 0.5)
    b, i, j = tf.meshgrid(tf.range(batch), tf.range(ch), tf.range(cw), indexing="ij")
    cy = tf.reshape(t["cutout"][:, 0], [-1, 1, 1]) - ch // 2
    cx = tf.reshape(t["cutout"][:, 1], [-1, 1, 1]) - cw // 2
    grid = tf.stack([b, tf.clip_by_value(i + cy, 0, height - 1), tf.clip_by_value(j + cx, 0, width - 1)], -1)
    hit = tf.scatter_nd(grid, tf.ones([batch, ch, cw], x.dtype), tf.stack([batch, height, width]))
    return x * tf.expand_dims(tf.maximum(1.0 - hit, 0.0), 3)


def make_step(apply, jit_compile=False):
    @tf.function(jit_compile=jit_compile)
    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = apply(x)
        return y, tape.gradient(y, x, output_gradients=upstream)

    return step


def bench(shape, trials):
    batch, size = shape
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(batch, size, size, 3)).astype("float32"))
    a = tf.constant(rng.uniform(0.5, 1.5, (batch, 1, 1, 1)).astype("float32"))
    b = tf.constant(rng.uniform(-0.5, 0.5, (batch, 1, 1, 1)).astype("float32"))
    fast, portable, sampler = (DiffAugment(seed=0, jit_compile=j) for j in ("auto", False, "auto"))
    variants = {
        "floor (x*a+b)": lambda v: v * a + b,
        "tf_diffaug": lambda v: fast(v, training=True),
        "tf_diffaug (jit_compile=False)": lambda v: portable(v, training=True),
        "gather reference": lambda v: gather_reference(v, sampler.get_random_transformation(v)),
    }
    steps = {name: make_step(fn) for name, fn in variants.items()}
    steps["floor, whole step under XLA"] = make_step(variants["floor (x*a+b)"], jit_compile=True)
    # correctness first: every variant on the same explicit parameters
    t = sampler.get_random_transformation(x)
    expected = gather_reference(x, t)
    for layer in (fast, portable):
        np.testing.assert_allclose(layer.transform_images(x, t), expected, atol=5e-5)
    repeats = max(1, int(2e6 // (batch * size * size * 3)) * 4)
    for step in steps.values():
        step(x, upstream)[1].numpy()
    best = {name: float("inf") for name in steps}
    for _ in range(trials):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(repeats):
                out = step(x, upstream)
            out[1].numpy()
            best[name] = min(best[name], (time.perf_counter() - start) / repeats)
    floor = best["floor (x*a+b)"]
    print(f"batch {batch} x {size}x{size}x3  (forward+backward, graph mode, best of {trials} rounds)")
    for name, seconds in best.items():
        print(f"  {name:32s} {seconds * 1e3:8.3f} ms   {seconds / floor:6.2f}x floor")
    return best


def main():
    tf.get_logger().setLevel("ERROR")  # one retrace per shape and variant is expected
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--shapes", default="64x32,16x256", help="comma-separated BATCHxSIZE")
    args = parser.parse_args()
    print(
        f"TensorFlow {tf.__version__}, CPU threads {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}"
    )
    for item in args.shapes.split(","):
        batch, size = (int(v) for v in item.split("x"))
        bench((batch, size), args.trials)


if __name__ == "__main__":
    main()
