"""Keras callbacks that turn `fit` epochs into the artefacts of a run.

The driver calls `gan.fit(dataset, epochs=steps // log_every, steps_per_epoch=log_every)`, so an
epoch is one log interval and `(epoch + 1) * log_every` is the global train step. These callbacks
run in list order at the end of each epoch and share the epoch `logs` dict:

- `td.metrics.FIDCallback` (placed first by the driver) adds `fid` and `kid` every `eval_every`
  steps;
- `SampleGrids` writes `samples/step-XXXXXX.png` from a fixed latent seed;
- `MetricsWriter` appends the logs to `metrics.jsonl`, redraws `curves.png` and prints a progress
  line with the elapsed time and the ETA of the whole run.

Example:
    >>> callbacks = [SampleGrids("runs/00000-x/samples", steps_per_epoch=50, every_epochs=5),
    ...              MetricsWriter(log, steps_per_epoch=50, total_steps=1500)]   # doctest: +SKIP
"""

import math
import os
import sys
import time

import keras
import numpy as np
from PIL import Image

from tf_diffaug.experiment import curves
from tf_diffaug.metrics import to_uint8


def generate_uint8(model, num, batch_size, seed, num_classes=None):
    """Draws `num` EMA-generator samples in batches as uint8 NHWC (labels cycle 0..K-1 if conditional)."""
    out = []
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        labels = None
        if num_classes:
            labels = np.arange(start, start + n, dtype=np.int32) % num_classes
        images = model.generate(n, labels=labels, use_ema=True, seed=seed + start)
        out.append(to_uint8(keras.ops.convert_to_numpy(images)))
    return np.concatenate(out, axis=0)


def image_grid(images):
    """Tiles uint8 images [N, H, W, C] into one roughly square uint8 image (empty cells black)."""
    n, h, w, c = images.shape
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros((rows * h, cols * w, c), np.uint8)
    for i, image in enumerate(images):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = image
    return grid[..., 0] if c == 1 else grid


def save_grid(images, path):
    """Saves uint8 images [N, H, W, C] as one PNG grid at `path`; returns `path`."""
    Image.fromarray(image_grid(images)).save(path)
    return path


class SampleGrids(keras.callbacks.Callback):
    """Writes `samples/step-XXXXXX.png` grids of EMA samples from a fixed latent seed.

    Args:
        sample_dir: output folder (created when missing).
        steps_per_epoch: train steps per epoch (names the files by global step).
        every_epochs: interval in epochs; the last epoch of training is always written.
        num: images per grid.
        seed: latent seed, fixed for the whole run so grids are comparable over time.
        num_classes: class count of a conditional generator, else None.
        enabled: False on non-chief workers.
    """

    def __init__(self, sample_dir, steps_per_epoch, every_epochs, num=36, seed=0, num_classes=None,
                 enabled=True):
        super().__init__()
        self.sample_dir = sample_dir
        self.steps_per_epoch = int(steps_per_epoch)
        self.every_epochs = max(1, int(every_epochs))
        self.num = int(num)
        self.seed = int(seed)
        self.num_classes = num_classes
        self.enabled = enabled
        self.last_path = None
        self._epoch = None

    def write(self, step):
        """Writes the grid of `step` and returns its path."""
        os.makedirs(self.sample_dir, exist_ok=True)
        images = generate_uint8(self.model, self.num, self.num, self.seed, self.num_classes)
        self.last_path = save_grid(images, os.path.join(self.sample_dir, f"step-{int(step):06d}.png"))
        return self.last_path

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.enabled and (epoch + 1) % self.every_epochs == 0:
            self.write((epoch + 1) * self.steps_per_epoch)

    def on_train_end(self, logs=None):
        if self.enabled and self._epoch and self._epoch % self.every_epochs:
            self.write(self._epoch * self.steps_per_epoch)


class MetricsWriter(keras.callbacks.Callback):
    """Appends each epoch's logs to `metrics.jsonl`, redraws `curves.png`, prints step and ETA.

    Args:
        log: a `run_dir.MetricsLog`.
        steps_per_epoch: train steps per epoch.
        total_steps: steps of the whole run (for the ETA).
        curves_path: where to draw the curves (None: never).
        curves_every_epochs: redraw interval in epochs (also drawn at the end of training).
        defaults: values logged when the model does not log them (e.g. a constant `aug_p`).
        stream: where the progress line goes (None: nowhere).
        enabled: False on non-chief workers.
    """

    def __init__(self, log, steps_per_epoch, total_steps, curves_path=None, curves_every_epochs=1,
                 defaults=None, stream=sys.stdout, enabled=True):
        super().__init__()
        self.log = log
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = int(total_steps)
        self.curves_path = curves_path
        self.curves_every_epochs = max(1, int(curves_every_epochs))
        self.defaults = dict(defaults or {})
        self.stream = stream
        self.enabled = enabled
        self.last = {}

    def on_train_begin(self, logs=None):
        self._start_time = time.time()
        self._start_step = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._start_step is None:
            self._start_step = epoch * self.steps_per_epoch

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_epoch
        values = dict(self.defaults)
        values.update(logs or {})
        elapsed = time.time() - self._start_time
        values["time"] = round(elapsed, 3)
        self.last = dict(values, step=step)
        if not self.enabled:
            return
        self.log.write(step, values)
        if self.curves_path and (epoch + 1) % self.curves_every_epochs == 0:
            self.draw()
        if self.stream is not None:
            done = step - self._start_step
            eta = elapsed / done * (self.total_steps - step) if done else float("nan")
            extra = "".join(f", {k} {values[k]:.4g}" for k in ("fid", "kid") if k in values)
            self.stream.write(f"[step {step}/{self.total_steps}] elapsed {_hms(elapsed)}, "
                              f"ETA {_hms(eta)}{extra}\n")
            self.stream.flush()

    def draw(self):
        """Redraws the curves from the whole `metrics.jsonl` (earlier runs of a resume included)."""
        if self.curves_path:
            curves.plot_curves(self.log.read(), self.curves_path,
                               title=os.path.basename(os.path.dirname(self.curves_path)))

    def on_train_end(self, logs=None):
        if self.enabled:
            self.draw()


def _hms(seconds):
    """Formats seconds as 1h02m03s / 2m03s / 3s."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
