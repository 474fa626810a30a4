"""When a run logs, evaluates and checkpoints, and how that maps onto Keras epochs (no TensorFlow).

A run of `steps` generator steps logs every `log_every` steps, evaluates FID/KID every `eval_every`
steps (when `fid_samples > 0`) and checkpoints (with a sample grid) every `checkpoint_every` steps;
the intervals need not divide each other or `steps`. Every event also happens at the last step.
The driver trains with `fit(epochs=epochs, steps_per_epoch=epoch_steps, initial_epoch=...)` where
`epoch_steps = gcd(steps, log_every, eval_every, checkpoint_every)`: every event step is then the
end of an epoch (the global step after epoch index `e` is `(e + 1) * epoch_steps`), and callbacks
act at epoch ends whose step is an event step. For the `fewshot-cpu` preset (3000 steps, log 50,
eval 1500, checkpoint 500) that is 60 epochs of 50 steps.

A run resumed from a step that is no epoch end (a checkpoint written when a signal stopped the
run) first trains the rest of that epoch in one short `fit` (`head_steps` steps, epoch index
`initial_epoch`), then the full epochs: `fits()` lists both, so the epochs keep their length (and
their per-epoch cost) after any resume.

Example:
    >>> s = Schedule(steps=130, log_every=20, eval_every=50, checkpoint_every=40)
    >>> s.epoch_steps, s.epochs, s.log_steps()
    (10, 13, [20, 40, 60, 80, 100, 120, 130])
    >>> s.eval_steps(), s.checkpoint_steps()
    ([50, 100, 130], [40, 80, 120, 130])
    >>> Schedule(130, 20, 50, 40, start_step=37).fits()
    [Fit(initial_epoch=3, epochs=4, steps_per_epoch=3, skip=0), Fit(initial_epoch=4, epochs=13, steps_per_epoch=10, skip=3)]
"""

import math
from typing import NamedTuple


class Fit(NamedTuple):
    """The arguments of one `fit` call (`skip`: batches of the dataset the previous fits used)."""

    initial_epoch: int
    epochs: int
    steps_per_epoch: int
    skip: int


class Schedule:
    """The event steps of a run and the Keras epochs that reach each of them.

    Args:
        steps: total generator steps.
        log_every: steps between log points.
        eval_every: steps between evaluations.
        checkpoint_every: steps between checkpoints (and sample grids).
        evaluate: whether the run evaluates at all (`fid_samples > 0`); when not, `eval_every`
            does not shorten the epochs.
        start_step: the step a resumed run starts from (any step; see `fits`), 0 for a new run.

    Raises:
        ValueError: for a non-positive interval or a start step outside [0, steps].

    Example:
        >>> s = Schedule(110, 25, 500, 40, evaluate=False, start_step=60)
        >>> s.epoch_steps, s.initial_epoch, s.log_steps(), s.checkpoint_steps()
        (5, 12, [75, 100, 110], [80, 110])
        >>> s = Schedule(110, 25, 500, 40, evaluate=False, start_step=63)
        >>> s.initial_epoch, s.head_steps, s.epoch_length(12), s.step_after(12), s.log_steps()
        (12, 2, 2, 65, [75, 100, 110])
    """

    def __init__(self, steps, log_every, eval_every, checkpoint_every, evaluate=True, start_step=0):
        for name, value in (
            ("steps", steps),
            ("log_every", log_every),
            ("eval_every", eval_every),
            ("checkpoint_every", checkpoint_every),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        if isinstance(start_step, bool) or not isinstance(start_step, int) or not 0 <= start_step <= steps:
            raise ValueError(f"start_step must be an integer in [0, steps={steps}], got {start_step!r}.")
        self.steps = steps
        self.log_every = log_every
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.evaluate = bool(evaluate)
        self.start_step = start_step
        intervals = [steps, log_every, checkpoint_every] + ([eval_every] if evaluate else [])
        self.epoch_steps = math.gcd(*intervals)

    @classmethod
    def from_config(cls, config, start_step=0):
        """The schedule of a configuration dict (`steps`, the three intervals, `fid_samples`)."""
        return cls(
            config["steps"],
            config["log_every"],
            config["eval_every"],
            config["checkpoint_every"],
            evaluate=config["fid_samples"] > 0,
            start_step=start_step,
        )

    @property
    def epochs(self):
        """The `epochs` argument of `fit`: epochs of `epoch_steps` steps up to the last step."""
        return self.steps // self.epoch_steps

    @property
    def initial_epoch(self):
        """The epoch index `start_step` falls in (whole epochs already done at `start_step`)."""
        return self.start_step // self.epoch_steps

    @property
    def head_steps(self):
        """Steps from `start_step` to the next epoch end (0 when `start_step` is one)."""
        return -self.start_step % self.epoch_steps

    def step_after(self, epoch):
        """The global step at the end of epoch index `epoch` (0-based, as Keras passes it)."""
        return (epoch + 1) * self.epoch_steps

    def epoch_start(self, epoch):
        """The global step before the first step of epoch index `epoch` (`start_step` in the head)."""
        return max(epoch * self.epoch_steps, self.start_step)

    def epoch_length(self, epoch):
        """Steps trained in epoch index `epoch` (`head_steps` for the head of a resumed run)."""
        return self.step_after(epoch) - self.epoch_start(epoch)

    def fits(self):
        """The `fit` calls that train from `start_step` to `steps`, as `Fit` tuples.

        One call of full epochs when `start_step` is an epoch end; else first one epoch of
        `head_steps` steps (index `initial_epoch`), then the full epochs on the dataset with those
        `head_steps` batches skipped (`dataset.skip(fit.skip)`: each `fit` iterates the dataset
        from its start, so the second one continues the first one's order of images; random
        flips are drawn anew by each pass over a pipeline). Empty when `start_step == steps`.
        """
        fits = []
        first = self.initial_epoch
        if self.head_steps:
            fits.append(Fit(first, first + 1, self.head_steps, 0))
            first += 1
        if first < self.epochs:
            fits.append(Fit(first, self.epochs, self.epoch_steps, self.head_steps))
        return fits

    def is_log(self, step):
        """Whether `step` is a log point (a multiple of `log_every`, or the last step)."""
        return step % self.log_every == 0 or step == self.steps

    def is_eval(self, step):
        """Whether FID/KID are evaluated after `step` (never when `evaluate` is False)."""
        return self.evaluate and (step % self.eval_every == 0 or step == self.steps)

    def is_checkpoint(self, step):
        """Whether a checkpoint and a sample grid are written after `step`."""
        return step % self.checkpoint_every == 0 or step == self.steps

    def _steps_where(self, predicate):
        first = self.step_after(self.initial_epoch)
        return [step for step in range(first, self.steps + 1, self.epoch_steps) if predicate(step)]

    def log_steps(self):
        """The log points after `start_step`, in order."""
        return self._steps_where(self.is_log)

    def eval_steps(self):
        """The evaluation steps after `start_step`, in order."""
        return self._steps_where(self.is_eval)

    def checkpoint_steps(self):
        """The checkpoint steps after `start_step`, in order."""
        return self._steps_where(self.is_checkpoint)

    def __repr__(self):
        return (
            f"Schedule(steps={self.steps}, log_every={self.log_every}, eval_every={self.eval_every}, "
            f"checkpoint_every={self.checkpoint_every}, evaluate={self.evaluate}, start_step={self.start_step})"
        )
