"""Keras callbacks that turn `fit` epochs into the artefacts of a run.

The driver calls `gan.fit(dataset, epochs=schedule.epochs, steps_per_epoch=schedule.epoch_steps)`
(see `schedule.Schedule`: every log, evaluation and checkpoint step is the end of an epoch, and
`schedule.step_after(epoch)` is the global train step; a run resumed at a step inside an epoch
makes two `fit` calls, `schedule.fits()`, with the same callback objects, which therefore keep
their state from one `fit` to the next). These callbacks run in list order at the end of each
epoch and share the epoch `logs` dict (`faults.DivergenceGuard` comes first: it raises on a
non-finite log before any of them sees it):

- `AtSteps(td.metrics.FIDCallback(..., every_n_epochs=1), ...)` (placed first by the driver) adds
  `fid` and `kid` at the evaluation steps only;
- `StepSampleGrid` writes `samples/step-XXXXXX.png` from a fixed latent seed, `samples/reals.png`
  once and `samples/augment-XXXXXX.png` (T(real) beside T(fake), see `pictures`);
- `MetricsWriter` appends a line to `metrics.jsonl` at each log point (the step-weighted mean of
  the epoch means of the loss trackers since the previous log point, the latest other values)
  and at each evaluation, redraws `curves.png` and prints a progress line with the elapsed time
  and the ETA of the whole run.

Example:
    >>> schedule = Schedule(steps=130, log_every=20, eval_every=50, checkpoint_every=40)
    >>> callbacks = [AtSteps(fid_callback, schedule, schedule.eval_steps()),
    ...              StepSampleGrid("runs/00000-x/samples", every_n_steps=40),
    ...              MetricsWriter(log, schedule)]                                   # doctest: +SKIP
"""

import os
import time

import keras

from tf_diffaug.experiment import curves, pictures
from tf_diffaug.gan.callbacks import SampleGrid, image_grid, to_uint8


class StepSampleGrid(SampleGrid):
    """`td.gan.SampleGrid` that names its files `step-XXXXXX.png` and always writes the last step.

    The global step comes from the model's step counter (so a resumed run continues the
    numbering); a grid is written at the epoch ends every `every_n_steps` steps (each is an epoch
    end of the run's schedule; at the epoch end the divergence guard has checked the weights) and
    when training ends at `final_step` (any `fit` end when it is None). With `real_images` it
    also writes `reals.png` when training starts (once: kept when it exists) and, beside each
    grid of a GAN with an augmentation, `augment-XXXXXX.png`: T(real) beside T(fake)
    (`pictures.augment_grid`). With `num_classes` every grid has one row per class
    (`pictures.class_layout`).

    Args:
        directory: the run's `samples/` folder.
        every_n_steps: interval in train steps.
        num_samples: images per grid.
        seed: seed of the fixed latent batch (the augment grids' `T` is seeded `seed + 1`).
        log_dir: TensorBoard folder for the `samples` image summary, or None.
        final_step: the run's last step (a `fit` that ends before it, the head of a resumed
            run, writes no extra grid).
        training: sample with batch-norm batch statistics (`sample_bn_mode="train"`), as the FID
            evaluation does.
        real_images: uint8 training images of `reals.png` and of the augment grids'
            left half (`pictures.grid_reals`), or None for neither.
        num_classes: classes of a class-conditional GAN (one row each), or None.
    """

    def __init__(
        self,
        directory,
        every_n_steps,
        num_samples=36,
        seed=0,
        log_dir=None,
        final_step=None,
        training=False,
        real_images=None,
        num_classes=None,
    ):
        labels, columns = pictures.class_layout(num_samples, num_classes)
        super().__init__(
            directory,
            every_n_steps=every_n_steps,
            num_samples=num_samples if labels is None else len(labels),
            seed=seed,
            log_dir=log_dir,
            training=training,
            columns=columns,
        )
        self.labels = labels
        self.real_images = real_images
        self.final_step = final_step
        self._last_index = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.real_images is not None and self.directory is not None:
            path = os.path.join(self.directory, pictures.REALS_FILE)
            if not os.path.exists(path):
                pictures.save_png(path, image_grid(self.real_images, columns=self.columns))

    def _samples(self, use_ema):
        extra = {"training": True} if self.training else {}
        return self.model.generate(self.num_samples, labels=self.labels, use_ema=use_ema, seed=self.seed, **extra)

    def grid(self):
        """The current uint8 grid of the EMA generator's fixed latents (one row per class with classes)."""
        return image_grid(to_uint8(self._samples(self.use_ema)), columns=self.columns)

    def augment_grid(self):
        """The uint8 picture `[T(real) | T(G(z))]` (None without real images or augmentation)."""
        augment = getattr(self.model, "augment", None)
        if self.real_images is None or augment is None:
            return None
        fakes = to_uint8(self._samples(use_ema=False))  # D sees the trained generator's images
        return pictures.augment_grid(augment, self.real_images, fakes, self.columns, self.seed + 1)

    def write(self, unit, index):
        path = super().write(unit, index)
        self._last_index = index
        if path is None:
            return None
        renamed = os.path.join(self.directory, f"step-{int(index):06d}.png")
        os.replace(path, renamed)
        self.written[-1] = renamed
        picture = self.augment_grid()
        if picture is not None:
            pictures.save_png(os.path.join(self.directory, f"{pictures.AUGMENT_PREFIX}{int(index):06d}.png"), picture)
        return renamed

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1  # the grid itself is drawn at the epoch end, after the divergence guard

    def on_epoch_end(self, epoch, logs=None):
        if self._steps % self.every_n_steps == 0:
            self.write("step", self._steps)

    def on_train_end(self, logs=None):
        final = self.final_step is None or self._steps == self.final_step
        if self._steps and final and self._last_index != self._steps:
            self.write("step", self._steps)
        super().on_train_end(logs)

    def close(self):
        """Flushes the TensorBoard images when training stops without `on_train_end`."""
        if self._writer is not None:
            self._writer.flush()


class ADASignal(keras.callbacks.Callback):
    """Adds `ada_r_t`, D's real-sign mean r_t = E[sign(D(T(real)))] of the ADA controller, to the epoch logs.

    `td.gan.adaptive.ADAController` accumulates `sum(sign(D(T(real))))` and the image count of the
    steps since its last adjustment of `p` and resets them at every adjustment, so the value an
    adjustment used is gone when a callback could read it. `ADASignal(gan)` records it: it wraps
    the controller's `update` (before the train step is first traced) so that every step also
    stores `(sign_sum + step's sum) / max(count + step's count, 1)`, the r_t of the steps since
    the last adjustment, this one included (what the controller compares with `ada_target`), in a
    variable of its own (not part of the GAN, so not of its checkpoints). At each epoch end the
    latest value goes into the logs as `ada_r_t` (unless the train step logs it itself), beside
    `aug_p`, for `metrics.jsonl` and `curves.png`. Build it inside the strategy scope of the GAN.

    Args:
        gan: a compiled `td.GAN` with an ADA controller (`gan.ada`, `ada_target` set).
    """

    def __init__(self, gan):
        super().__init__()
        ada = gan.ada
        if ada is None:
            raise ValueError("ADASignal needs a td.GAN compiled with ada_target (adaptive augmentation).")
        self.value = keras.Variable(0.0, shape=(), dtype="float32", trainable=False, autocast=False, name="ada_r_t")
        update, value = ada.update, self.value

        def recording_update(step, sign_sum, count):
            sign_mean = (ada.sign_sum + sign_sum) / keras.ops.maximum(ada.count + count, 1.0)
            value.assign(keras.ops.cast(sign_mean, "float32"))
            return update(step, sign_sum, count)

        ada.update = recording_update

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "ada_r_t" not in logs:
            logs["ada_r_t"] = float(keras.ops.convert_to_numpy(self.value))


class AtSteps(keras.callbacks.Callback):
    """Forwards every hook to `callback`, but `on_epoch_end` only for epochs ending at `steps`.

    Drives a callback that acts at every epoch end it sees (e.g. `td.metrics.FIDCallback(...,
    every_n_epochs=1)`) on the steps of a `schedule.Schedule` (e.g. `eval_steps()`), so events can
    fall on steps that are no fixed number of epochs apart (the last step of the run).

    Args:
        callback: the wrapped `keras.callbacks.Callback`.
        schedule: the run's `schedule.Schedule` (converts epoch indices to steps).
        steps: the global steps after which `callback.on_epoch_end` runs.

    Example:
        >>> evaluate = AtSteps(td.metrics.FIDCallback(reals, every_n_epochs=1), schedule,
        ...                    schedule.eval_steps())                                # doctest: +SKIP
    """

    def __init__(self, callback, schedule, steps):
        super().__init__()
        self.callback = callback
        self.schedule = schedule
        self.steps = frozenset(int(step) for step in steps)

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def on_train_begin(self, logs=None):
        self.callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        self.callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.callback.on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self.callback.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.callback.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.schedule.step_after(epoch) in self.steps:
            self.callback.on_epoch_end(epoch, logs)


class MetricsWriter(keras.callbacks.Callback):
    """Appends log points and evaluations to `metrics.jsonl`, redraws `curves.png`, prints step and ETA.

    At a log point of the schedule the line holds, for each loss tracker of the model (the Keras
    metrics reset at every epoch), the step-weighted mean of its epoch means since the previous log
    point (so the mean over those steps), and the latest value of everything else in the epoch logs
    (`aug_p`, and `fid`/`kid` when evaluated at that step). An evaluation at a step that is not a
    log point gets its own line with `step`, `fid`, `kid` and `time`. Every line with a `fid` also
    holds `fid_best` and `fid_best_step`, the lowest FID of the run so far and its step (the
    evaluations logged before a resume included), so the last line of a run gives its last and its
    best FID. The first line after a resume averages the steps since the resume step. `diverged` (a `faults.TrainingDiverged`
    record, set by the driver) is marked on the curves.

    Args:
        log: a `run_dir.MetricsLog`.
        schedule: the run's `schedule.Schedule`.
        curves_path: where to draw the curves (None: never); redrawn at checkpoint steps and at
            the end of training.
        defaults: values logged when the model does not log them (e.g. a constant `aug_p`).
        stream: where the progress line goes (None: nowhere).
        enabled: False on non-chief workers.

    Example:
        >>> writer = MetricsWriter(MetricsLog("runs/00000-x/metrics.jsonl"), schedule,
        ...                        curves_path="runs/00000-x/curves.png")            # doctest: +SKIP
    """

    def __init__(self, log, schedule, curves_path=None, defaults=None, stream=None, enabled=True):
        super().__init__()
        self.log = log
        self.schedule = schedule
        self.curves_path = curves_path
        self.defaults = dict(defaults or {})
        self.stream = stream
        self.enabled = enabled
        self.last = {}
        self.best = None  # (fid, step) of the lowest FID logged
        self.diverged = None
        self._pending = None
        self._start_time = None

    def on_train_begin(self, logs=None):
        if self._start_time is not None:  # the second fit of a resumed run: keep the sums
            return
        self._start_time = time.time()
        self._start_step = self.schedule.start_step
        self._averaged = {metric.name for metric in getattr(self.model, "metrics", [])}
        self._sums, self._weights = {}, {}
        for record in self.log.read() if self.enabled else []:  # a resumed run's earlier evaluations
            self._track_best(record.get("fid"), record["step"])

    def _track_best(self, fid, step):
        if isinstance(fid, (int, float)) and not isinstance(fid, bool) and fid == fid:
            if self.best is None or fid < self.best[0]:
                self.best = (float(fid), int(step))

    def on_epoch_begin(self, epoch, logs=None):
        self._flush_pending()

    def on_epoch_end(self, epoch, logs=None):
        step = self.schedule.step_after(epoch)
        length = self.schedule.epoch_length(epoch)
        logs = dict(logs or {})
        for name in self._averaged & set(logs):
            self._sums[name] = self._sums.get(name, 0.0) + length * float(logs[name])
            self._weights[name] = self._weights.get(name, 0) + length
        evaluated = {k: logs[k] for k in ("fid", "kid") if k in logs}
        if self.schedule.is_log(step):
            values = dict(self.defaults)
            values.update({k: self._sums[k] / self._weights[k] if k in self._sums else v for k, v in logs.items()})
            self._sums, self._weights = {}, {}
        elif evaluated:
            values = evaluated
        else:
            return
        if "fid" in values:
            self._track_best(_scalar(values["fid"]), step)
            if self.best is not None:
                values["fid_best"], values["fid_best_step"] = self.best
        elapsed = time.time() - self._start_time
        values["time"] = round(elapsed, 3)
        self.last = dict(values, step=step)
        if not self.enabled:
            return
        self.log.write(step, values)
        if self.curves_path and self.schedule.is_checkpoint(step):
            self.draw()
        done = step - self._start_step
        eta = elapsed / done * (self.schedule.steps - step) if done else float("nan")
        extra = "".join(f", {k} {values[k]:.4g}" for k in ("fid", "kid") if k in values)
        # Printed when the next epoch begins (or training ends): Keras' progress bar finishes its
        # line only after every on_epoch_end, so printing now would split it.
        self._pending = f"[step {step}/{self.schedule.steps}] elapsed {_hms(elapsed)}, ETA {_hms(eta)}{extra}\n"

    def flush(self):
        """Prints the pending progress line (training stopped without `on_train_end`)."""
        self._flush_pending()

    def _flush_pending(self):
        if self.stream is not None and self._pending:
            self.stream.write(self._pending)
            self.stream.flush()
        self._pending = None

    def draw(self):
        """Redraws the curves from the whole `metrics.jsonl` (earlier runs of a resume included)."""
        if self.curves_path:
            curves.plot_curves(
                self.log.read(),
                self.curves_path,
                title=os.path.basename(os.path.dirname(self.curves_path)),
                diverged=self.diverged,
            )

    def on_train_end(self, logs=None):
        self._flush_pending()
        if self.enabled:
            self.draw()


def _scalar(value):
    """A logged value as a Python float (Keras may log NumPy or tensor scalars); None stays None."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _hms(seconds):
    """Formats seconds as 1h02m03s / 2m03s / 3s."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
