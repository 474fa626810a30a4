"""Keras callbacks that turn `fit` epochs into the artefacts of a run.

The driver calls `gan.fit(dataset, epochs=steps // log_every, steps_per_epoch=log_every)`, so an
epoch is one log interval and `(epoch + 1) * log_every` is the global train step. These callbacks
run in list order at the end of each epoch and share the epoch `logs` dict:

- `td.metrics.FIDCallback` (placed first by the driver) adds `fid` and `kid` every `eval_every`
  steps;
- `StepSampleGrid` writes `samples/step-XXXXXX.png` from a fixed latent seed;
- `MetricsWriter` appends the logs to `metrics.jsonl`, redraws `curves.png` and prints a progress
  line with the elapsed time and the ETA of the whole run.

Example:
    >>> callbacks = [StepSampleGrid("runs/00000-x/samples", every_n_steps=250),
    ...              MetricsWriter(log, steps_per_epoch=50, total_steps=1500)]   # doctest: +SKIP
"""

import os
import time

import keras

from tf_diffaug.experiment import curves
from tf_diffaug.gan.callbacks import SampleGrid


class StepSampleGrid(SampleGrid):
    """`td.gan.SampleGrid` that names its files `step-XXXXXX.png` and always writes the last step.

    The global step comes from the model's step counter (so a resumed run continues the
    numbering); a grid is written every `every_n_steps` steps and at the end of training.

    Args:
        directory: the run's `samples/` folder.
        every_n_steps: interval in train steps.
        num_samples: images per grid.
        seed: seed of the fixed latent batch.
        log_dir: TensorBoard folder for the `samples` image summary, or None.
    """

    def __init__(self, directory, every_n_steps, num_samples=36, seed=0, log_dir=None):
        super().__init__(directory, every_n_steps=every_n_steps, num_samples=num_samples, seed=seed, log_dir=log_dir)
        self._last_index = None

    def write(self, unit, index):
        path = super().write(unit, index)
        self._last_index = index
        if path is None:
            return None
        renamed = os.path.join(self.directory, f"step-{int(index):06d}.png")
        os.replace(path, renamed)
        self.written[-1] = renamed
        return renamed

    def on_train_end(self, logs=None):
        if self._steps and self._last_index != self._steps:
            self.write("step", self._steps)
        super().on_train_end(logs)


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

    def __init__(
        self,
        log,
        steps_per_epoch,
        total_steps,
        curves_path=None,
        curves_every_epochs=1,
        defaults=None,
        stream=None,
        enabled=True,
    ):
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
        done = step - self._start_step
        eta = elapsed / done * (self.total_steps - step) if done else float("nan")
        extra = "".join(f", {k} {values[k]:.4g}" for k in ("fid", "kid") if k in values)
        # Printed when the next epoch begins (or training ends): Keras' progress bar finishes its
        # line only after every on_epoch_end, so printing now would split it.
        self._pending = f"[step {step}/{self.total_steps}] elapsed {_hms(elapsed)}, ETA {_hms(eta)}{extra}\n"

    def _flush_pending(self):
        if self.stream is not None and getattr(self, "_pending", None):
            self.stream.write(self._pending)
            self.stream.flush()
        self._pending = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._start_step is None:
            self._start_step = epoch * self.steps_per_epoch
        self._flush_pending()

    def draw(self):
        """Redraws the curves from the whole `metrics.jsonl` (earlier runs of a resume included)."""
        if self.curves_path:
            curves.plot_curves(
                self.log.read(), self.curves_path, title=os.path.basename(os.path.dirname(self.curves_path))
            )

    def on_train_end(self, logs=None):
        self._flush_pending()
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
