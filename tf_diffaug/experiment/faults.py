"""What ends a run early, and how the driver stops cleanly: divergence and termination signals.

Divergence: `DivergenceGuard`, the first callback of a run, looks at the epoch-end logs (the loss
trackers' means over the epoch, which Keras has already brought to the host: no extra sync per
step) and raises `TrainingDiverged` at the first non-finite value, before any other callback of
that epoch end runs, so no sample grid, evaluation, log line or checkpoint is made of diverged
weights. Every epoch end of a run is at most a log interval away (see `schedule.Schedule`). Losses
can still be finite at the step whose update made the weights NaN, so at the epoch ends where a
checkpoint, a grid or an evaluation follows, the guard also checks every variable of the model
and its optimizers (`non_finite_variables`, one read of the weights, as a save does); the
checkpoint writer checks the file it wrote once more (`checkpoint.write_weights`).

Signals: `SignalCatcher` replaces the SIGINT and SIGTERM handlers while a run trains. The first
signal only sets a flag; `StopOnSignal` checks it after every train step (a Python attribute read,
no device sync) and raises `SignalStop` naming the step just finished, which the driver catches to
write a checkpoint at exactly that step and exit with `128 + signal` (130 for SIGINT, 143 for
SIGTERM). A second signal, more than `REPEAT_SECONDS` after the first and before the checkpoint is
being written, exits at once without one (the last periodic checkpoint stays); one that comes
while it is written is ignored, so the write is never cut short. Copies of one signal that arrive
together are one request: `timeout` forwards a signal to its child and to the child's process
group, and Ctrl-C reaches every process of the terminal's foreground group. Preemptible machines and batch schedulers send SIGTERM and a grace period before
SIGKILL; the stop then costs the rest of the current step (or the evaluation running at an epoch
end) plus one checkpoint write.

Example:
    >>> with SignalCatcher(stream=None) as catcher:                             # doctest: +SKIP
    ...     gan.fit(dataset, callbacks=[StopOnSignal(catcher, schedule), DivergenceGuard(schedule)])
"""

import contextlib
import math
import os
import signal
import threading
import time

import keras
import numpy as np

#: The signals a run stops on, writing a checkpoint first.
SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: A second signal within this many seconds of the first is a copy of it, not a request to quit at once.
REPEAT_SECONDS = 0.5


def signal_name(signum):
    """`"SIGTERM"` for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class TrainingDiverged(RuntimeError):
    """A loss or a weight became NaN or infinite; training stopped before saving anything of it.

    Attributes:
        step: the step at whose end it was seen (an epoch end, or the checkpoint step; None for
            the state saved after a pruning round).
        key: the log that was not finite (`d_loss`, ...), or `"weights"`.
        value: the value (a float), or for `"weights"` the first non-finite variable's path.
        first_step: the first step of the steps the value is the mean of.
        where: `None` for training, e.g. `"stage I round 2/8"` during a lottery-ticket search.
    """

    def __init__(self, step, key, value, first_step=None, where=None, message=None):
        self.step, self.key, self.value, self.first_step, self.where = step, key, value, first_step, where
        super().__init__(message or self.describe())

    def describe(self):
        """`"at step 20: g_loss = nan (the mean over steps 11-20)"` (the facts, without advice)."""
        where = f" during {self.where}" if self.where else ""
        at = f" at step {self.step}" if self.step is not None else ""
        if self.key == "weights":
            return f"Training diverged{where}{at}: the weights hold non-finite values ({self.value})"
        span = ""
        if self.first_step is not None and self.step is not None and self.first_step < self.step:
            span = f" (the mean over steps {self.first_step}-{self.step})"
        return f"Training diverged{where}{at}: {self.key} = {self.value}{span}"

    def record(self):
        """A JSON-serialisable dict of the facts (for `diverged.json`)."""
        value = self.value if isinstance(self.value, str) else repr(float(self.value))
        return {
            "step": self.step,
            "key": self.key,
            "value": value,
            "first_step": self.first_step,
            "where": self.where,
        }


class SignalStop(Exception):
    """Raised by `StopOnSignal` after the step during which SIGINT or SIGTERM arrived.

    Attributes:
        signum: the signal number.
        step: the global step just finished (a checkpoint at it loses nothing).
        where: `None` for training, e.g. `"stage I round 2/8"` during a lottery-ticket search.
    """

    def __init__(self, signum, step, where=None):
        self.signum, self.step, self.where = signum, step, where
        super().__init__(f"{signal_name(signum)} received; stopped after step {step}")


class TrainingInterrupted(RuntimeError):
    """A run stopped on SIGINT/SIGTERM after writing what it needs to resume.

    Attributes:
        signum: the signal number; `exit_code` is `128 + signum` (130 SIGINT, 143 SIGTERM).
        step: the step the run stopped at.
        checkpoint: path of the checkpoint at `step` (None when none was needed or possible).
        run_dir: the run folder (`--resume` continues it).
    """

    def __init__(self, message, signum, step, checkpoint, run_dir):
        self.signum, self.step, self.checkpoint, self.run_dir = signum, step, checkpoint, run_dir
        super().__init__(message)

    @property
    def exit_code(self):
        return 128 + self.signum


class SignalCatcher:
    """Context manager: SIGINT and SIGTERM set `received` instead of killing the process.

    Handlers are installed only in the main thread (Python's rule) and when `enabled`; the
    previous handlers come back on exit.

    Args:
        stream: where the one-line notices go (None: nowhere).
        enabled: False leaves the handlers alone (then `received` stays None).

    Attributes:
        received: the first signal's number, or None.
    """

    def __init__(self, stream=None, enabled=True):
        self.stream = stream
        self.enabled = enabled
        self.received = None
        self._received_at = None
        self._saving = False
        self._previous = {}

    def __enter__(self):
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return False

    def _say(self, text):
        if self.stream is not None:
            self.stream.write(f"\n{text}\n")
            self.stream.flush()

    def _handle(self, signum, frame):
        name = signal_name(signum)
        if self.received is None:
            self.received, self._received_at = signum, time.monotonic()
            self._say(
                f"{name} received: finishing the current step, then writing a checkpoint "
                f"(send it again to exit at once without one)."
            )
        elif time.monotonic() - self._received_at < REPEAT_SECONDS:
            return  # a copy of the first (e.g. forwarded by `timeout` to the child and to its group)
        elif self._saving:
            self._say(f"{name} received again while the checkpoint is written: ignored until it is complete.")
        else:
            self._say(f"{name} received again: exiting without a checkpoint (the last periodic one stays).")
            os._exit(128 + signum)

    @contextlib.contextmanager
    def saving(self):
        """Inside the block, further signals are ignored (the checkpoint write is never cut short)."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False

    def check(self, step, where=None):
        """Raises `SignalStop` at `step` when a signal came (e.g. during setup, before any `fit`)."""
        if self.received is not None:
            raise SignalStop(self.received, step, where)


class StopOnSignal(keras.callbacks.Callback):
    """Raises `SignalStop` after the train step during which a signal arrived.

    The check is one attribute read per step. The step is counted from the schedule (the global
    step), or from 0 in each `fit` when there is none (a pruning round).

    Args:
        catcher: the run's `SignalCatcher`.
        schedule: the run's `schedule.Schedule`, or None.
        where: passed on to `SignalStop` (e.g. `"stage I round 2/8"`); may be reassigned.
    """

    def __init__(self, catcher, schedule=None, where=None):
        super().__init__()
        self.catcher = catcher
        self.schedule = schedule
        self.where = where
        self._base = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.schedule is not None:
            self._base = self.schedule.epoch_start(epoch)
        else:
            self._base = epoch * (self.params or {}).get("steps", 0)

    def on_train_batch_end(self, batch, logs=None):
        if self.catcher.received is not None:
            raise SignalStop(self.catcher.received, self._base + batch + 1, self.where)


def non_finite_variables(model):
    """Paths of the float variables of `model` and of its optimizers that hold NaN or infinite values.

    The optimizers are `model.g_optimizer`, `model.d_optimizer` (td.GAN) and `model.optimizer`.
    """
    variables = list(model.variables)
    for name in ("g_optimizer", "d_optimizer", "optimizer"):
        optimizer = getattr(model, name, None)
        variables += list(getattr(optimizer, "variables", None) or [])
    seen, bad = set(), []
    for variable in variables:
        if id(variable) in seen or not keras.backend.is_float_dtype(variable.dtype):
            continue
        seen.add(id(variable))
        if not np.isfinite(keras.ops.convert_to_numpy(variable)).all():
            bad.append(variable.path)
    return bad


class DivergenceGuard(keras.callbacks.Callback):
    """Raises `TrainingDiverged` at the first epoch end whose logs hold a NaN or infinite number.

    Place it first among the callbacks: the others of that epoch end then never see the diverged
    model. Non-numeric logs are ignored. At the epoch ends where a checkpoint, a sample grid or an
    evaluation follows (every `fit` end without a schedule) the model's and optimizers' variables
    are checked too (`non_finite_variables`).

    Args:
        schedule: the run's `schedule.Schedule` (epoch index -> global step), or None to count the
            steps of each `fit` from 0 (a pruning round).
        where: passed on to `TrainingDiverged`; may be reassigned.

    Example:
        >>> from tf_diffaug.experiment.schedule import Schedule
        >>> guard = DivergenceGuard(Schedule(100, 10, 50, 20))
        >>> guard.on_epoch_end(1, {"d_loss": 0.7, "g_loss": float("nan")})
        Traceback (most recent call last):
        ...
        tf_diffaug.experiment.faults.TrainingDiverged: Training diverged at step 20: g_loss = nan (the mean over steps 11-20)
    """

    def __init__(self, schedule=None, where=None):
        super().__init__()
        self.schedule = schedule
        self.where = where

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(number):
                step, first = self._steps(epoch)
                raise TrainingDiverged(step, key, number, first_step=first, where=self.where)
        step, first = self._steps(epoch)
        schedule = self.schedule
        if schedule is None or schedule.is_checkpoint(step) or schedule.is_eval(step):
            bad = non_finite_variables(self.model)
            if bad:
                more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
                raise TrainingDiverged(step, "weights", f"{bad[0]}{more}", first_step=first, where=self.where)

    def _steps(self, epoch):
        """`(global step at the end of epoch, its first step)`."""
        if self.schedule is not None:
            return self.schedule.step_after(epoch), self.schedule.epoch_start(epoch) + 1
        steps = (self.params or {}).get("steps") or 1
        return (epoch + 1) * steps, epoch * steps + 1


__all__ = [
    "REPEAT_SECONDS",
    "SIGNALS",
    "DivergenceGuard",
    "SignalCatcher",
    "SignalStop",
    "StopOnSignal",
    "TrainingDiverged",
    "TrainingInterrupted",
    "non_finite_variables",
    "signal_name",
]
