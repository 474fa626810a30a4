"""Training callbacks for `td.GAN`: `SampleGrid` writes sample grids as PNG files and TensorBoard images."""

import os

import keras
import numpy as np
import tensorflow as tf


def to_uint8(images):
    """Maps float images in [-1, 1] to uint8 with `round((x + 1) * 127.5)`, clipped to [0, 255]."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images, columns=None, padding=2):
    """Tiles a batch of images into one image.

    Args:
        images: uint8 array `[N, H, W, C]`.
        columns: images per row; defaults to `ceil(sqrt(N))`.
        padding: pixels of black border between images.

    Returns:
        uint8 array `[rows * (H + padding) + padding, columns * (W + padding) + padding, C]`.

    Example:
    >>> image_grid(np.full((3, 2, 2, 1), 255, np.uint8), columns=2, padding=1).shape
    (7, 7, 1)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape [N, H, W, C]. Received shape {images.shape}.")
    n, height, width, channels = images.shape
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, int(np.ceil(n / columns)))
    grid = np.zeros(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels), images.dtype
    )
    for index in range(n):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = images[index]
    return grid


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of generated samples from a fixed latent batch during training.

    The latent vectors come from `model.generate(num_samples, seed=seed, use_ema=use_ema)` with a
    fixed `seed` (and `training=True` when `training` is set), so successive grids show the same `z` and are comparable over time. Each grid is
    written as `directory/samples_{epoch|step}_{NNNNNN}.png` and, when `log_dir` is given, as a
    TensorBoard image `samples` at the epoch (or training step).

    Args:
        directory: folder for the PNG files (created if missing); `None` writes no PNG.
        every_n_epochs: write at the end of every n-th epoch (ignored when `every_n_steps` is set).
        every_n_steps: write after every n-th training batch instead.
        num_samples: images per grid.
        seed: int seed of the fixed latent batch.
        use_ema: sample from the EMA generator.
        log_dir: TensorBoard log folder, or `None`.
        columns: images per grid row (default `ceil(sqrt(num_samples))`).
        training: sample in training mode (batch-norm batch statistics, as the BigGAN-CIFAR code
            samples its EMA generator; see `td.GAN.generate`); False (default): inference mode.

    Example:
    >>> callback = SampleGrid("/tmp/samples", every_n_epochs=5, num_samples=16, seed=0)
    """

    def __init__(
        self,
        directory,
        every_n_epochs=1,
        every_n_steps=None,
        num_samples=64,
        seed=0,
        use_ema=True,
        log_dir=None,
        columns=None,
        training=False,
    ):
        super().__init__()
        if not isinstance(training, bool):
            raise ValueError(f"training must be True or False. Received training={training!r}.")
        if directory is None and log_dir is None:
            raise ValueError("SampleGrid needs a directory for PNG files, a log_dir for TensorBoard, or both.")
        for name, value in (("every_n_epochs", every_n_epochs), ("num_samples", num_samples)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int. Received {name}={value!r}.")
        if every_n_steps is not None and (not isinstance(every_n_steps, int) or every_n_steps < 1):
            raise ValueError(f"every_n_steps must be a positive int or None. Received every_n_steps={every_n_steps!r}.")
        if not isinstance(seed, int):
            raise ValueError(f"seed must be an int (the grid's latent batch is fixed). Received seed={seed!r}.")
        self.directory = None if directory is None else os.fspath(directory)
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.num_samples = num_samples
        self.seed = seed
        self.use_ema = use_ema
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.columns = columns
        self.training = training
        self.written = []
        self._writer = None
        self._steps = 0

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "generate"):
            raise ValueError(f"SampleGrid needs a model with generate() (td.GAN). Received {self.model!r}.")
        if self.directory is not None:
            os.makedirs(self.directory, exist_ok=True)
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "samples"))
        self._steps = (
            int(keras.ops.convert_to_numpy(self.model.step_counter)) if hasattr(self.model, "step_counter") else 0
        )

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self.every_n_steps is not None and self._steps % self.every_n_steps == 0:
            self.write("step", self._steps)

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_steps is None and (epoch + 1) % self.every_n_epochs == 0:
            self.write("epoch", epoch + 1)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def grid(self):
        """Returns the current uint8 grid `[H', W', C]` of the fixed latent batch."""
        extra = {"training": True} if self.training else {}
        images = self.model.generate(self.num_samples, use_ema=self.use_ema, seed=self.seed, **extra)
        return image_grid(to_uint8(images), columns=self.columns)

    def write(self, unit, index):
        """Writes the grid for `unit` ("epoch" or "step") number `index`; returns the PNG path or None."""
        grid = self.grid()
        path = None
        if self.directory is not None:
            from PIL import Image

            path = os.path.join(self.directory, f"samples_{unit}_{index:06d}.png")
            Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
            self.written.append(path)
        if self._writer is not None:
            with self._writer.as_default():
                tf.summary.image("samples", grid[None], step=index)
        return path
