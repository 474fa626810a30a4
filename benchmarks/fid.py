"""Throughput of `td.metrics.inception_features` vs a bare forward pass of the same Keras model.

`inception_features` adds uint8 -> float, the TF1 bilinear resize to 299x299, the (x - 128) / 128
scaling and host <-> device copies to the network; the baseline runs only the network (the same
Keras model, in a `tf.function`) on input resized and scaled beforehand. Goal: ratio >= 0.9.

Usage: python benchmarks/fid.py [--num-images 64] [--batch-size 32] [--size 64] [--repeats 3]
(~2 minutes with the defaults on a 2-core CPU.)
"""

import argparse
import time

import numpy as np
import tensorflow as tf

import tf_diffaug as td


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=64, help="side of the uint8 source images")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.num_images, args.size, args.size, 3), dtype=np.uint8)
    extractor = td.metrics.InceptionFeatureExtractor()
    model = extractor.model

    # Baseline input: the same images, resized and scaled once, outside the timed region.
    pre = np.concatenate(
        [
            td.metrics.inception.preprocess(images[i : i + args.batch_size]).numpy()
            for i in range(0, len(images), args.batch_size)
        ]
    )
    forward = tf.function(lambda x: model(x, training=False))
    pre_batches = [tf.constant(pre[i : i + args.batch_size]) for i in range(0, len(pre), args.batch_size)]

    uint8_batches = [images[i : i + args.batch_size] for i in range(0, len(images), args.batch_size)]

    def bare(k):
        forward(pre_batches[k]).numpy()

    def features(k):
        td.metrics.inception_features(uint8_batches[k], batch_size=args.batch_size, weights=extractor)

    bare(0), features(0)  # trace both
    # The machine is noisy: alternate the two batch by batch and keep each batch's best time.
    bare_times = np.full(len(pre_batches), np.inf)
    feature_times = np.full(len(pre_batches), np.inf)
    for _ in range(args.repeats):
        for k in range(len(pre_batches)):
            bare_times[k] = min(bare_times[k], timed(lambda k=k: bare(k)))
            feature_times[k] = min(feature_times[k], timed(lambda k=k: features(k)))
    bare_rate, feature_rate = len(images) / bare_times.sum(), len(images) / feature_times.sum()
    print(
        f"images: {args.num_images} x {args.size}x{args.size}x3 uint8, batch {args.batch_size}, "
        f"best of {args.repeats} per batch, interleaved"
    )
    print(f"bare forward pass (pre-resized 299x299 input): {bare_rate:8.2f} images/s")
    print(f"inception_features (resize + scale + forward): {feature_rate:8.2f} images/s")
    print(f"ratio inception_features / bare: {feature_rate / bare_rate:.3f} (goal >= 0.9)")


if __name__ == "__main__":
    main()
