"""Checkpoints of a GAN run: Keras weights files plus a small JSON state, written atomically.

`Checkpointer` is a Keras callback that, at the checkpoint steps of the run's `schedule.Schedule`
(every `checkpoint_every` steps and the last step, each the end of a `fit` epoch), saves
`model.save_weights(...)` to `checkpoints/ckpt-XXXXXX.weights.h5`; the driver also calls
`Checkpointer.save(step)` at the step a signal stopped the run (any step, see `faults`).
Keras' weights file walks every tracked object of the model: G, D, the EMA generator, both
optimizers (their slots and `iterations`), the adaptive augmentation probability `p` and the
`SeedGenerator` states, so a restored model continues exactly where it stopped. The weights are
written under a temporary name, read back and checked to be finite (`non_finite_entries`: a
diverged model is never saved, `faults.TrainingDiverged` is raised instead and the previous
checkpoints stay untouched), renamed, and only then `checkpoints/state.json`
(`{"step": ..., "epoch": ..., "weights": ...}`) is replaced: a process killed with SIGKILL at any
moment leaves the previous complete checkpoint in place. The last `keep` weight files are kept.

`resume_point` picks the checkpoint a resumed run starts from: the one `state.json` names, or,
when that one holds non-finite values (written by a version without the check), the newest
older one that is finite.

Example:
    >>> schedule = Schedule(steps=1000, log_every=50, eval_every=500, checkpoint_every=250)
    >>> ckpt = Checkpointer("runs/00000-fewshot-cpu/checkpoints", schedule)
    >>> gan.fit(dataset, epochs=schedule.epochs, steps_per_epoch=schedule.epoch_steps,
    ...         callbacks=[ckpt])                                          # doctest: +SKIP
    >>> read_state("runs/00000-fewshot-cpu/checkpoints")["step"]             # doctest: +SKIP
    1000
"""

import os
import re
import warnings

import keras
import numpy as np

from tf_diffaug.experiment import faults, run_dir

STATE_FILE = "state.json"
_WEIGHTS_FILE = re.compile(r"^ckpt-(\d+)\.weights\.h5$")


def read_state(checkpoint_dir):
    """Returns the state dict of the last complete checkpoint in `checkpoint_dir`, or None."""
    path = os.path.join(checkpoint_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    return run_dir.read_json(path)


def weights_files(checkpoint_dir):
    """`{step: file name}` of the `ckpt-XXXXXX.weights.h5` files in `checkpoint_dir`."""
    if not os.path.isdir(checkpoint_dir):
        return {}
    found = {}
    for name in os.listdir(checkpoint_dir):
        match = _WEIGHTS_FILE.match(name)
        if match:
            found[int(match.group(1))] = name
    return found


def non_finite_entries(path):
    """The names of the float arrays of weights file `path` that hold NaN or infinite values.

    Read with h5py, independently of the model: every variable the file holds (networks, EMA,
    optimizer slots, regularizer anchors, `p`) is checked.

    Example:
        >>> non_finite_entries("runs/00000-x/checkpoints/ckpt-000040.weights.h5")    # doctest: +SKIP
        ['generator/layers/dense/vars/0', 'g_optimizer/vars/2']
    """
    import h5py

    bad = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and item.dtype.kind == "f" and not np.isfinite(item[()]).all():
            bad.append(name)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return bad


def write_weights(model, path, step=None):
    """`model.save_weights(path)` through a temporary file, renamed only when every value is finite.

    Args:
        model: the model to save.
        path: the final `.weights.h5` path.
        step: the step being saved (for the error).

    Raises:
        faults.TrainingDiverged: when the weights hold NaN or infinite values (nothing is left
            at `path`; a file already there is untouched).
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f"tmp-{name}")
    model.save_weights(tmp)
    bad = non_finite_entries(tmp)
    if bad:
        os.remove(tmp)
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise faults.TrainingDiverged(step, "weights", f"{bad[0]}{more}")
    os.replace(tmp, path)
    return path


def save_checkpoint(model, checkpoint_dir, step, epoch, keep=2, extra=None):
    """Saves `model`'s weights (with optimizer state) and then the state file pointing at them.

    Args:
        model: a built keras Model (e.g. `td.GAN` after at least one train step).
        checkpoint_dir: folder of the checkpoints (created when missing).
        step: number of train steps done; names the file `ckpt-{step:06d}.weights.h5`.
        epoch: number of whole `fit` epochs done.
        keep: how many weight files to keep (older ones are deleted after the state is written).
        extra: optional JSON-serialisable dict stored in the state (e.g. wall time).

    Returns:
        The state dict written.

    Raises:
        faults.TrainingDiverged: for non-finite weights; then nothing is written or deleted.
    """
    os.makedirs(checkpoint_dir, exist_ok=True)
    name = f"ckpt-{int(step):06d}.weights.h5"
    write_weights(model, os.path.join(checkpoint_dir, name), step=step)
    state = {"step": int(step), "epoch": int(epoch), "weights": name}
    state.update(extra or {})
    run_dir.write_json(os.path.join(checkpoint_dir, STATE_FILE), state)
    files = [weights_files(checkpoint_dir)[s] for s in sorted(weights_files(checkpoint_dir))]
    for old in files[:-keep] if keep else []:
        if old != name:
            os.remove(os.path.join(checkpoint_dir, old))
    return state


def resume_point(checkpoint_dir):
    """The checkpoint a resumed run starts from, and the newer ones skipped as non-finite.

    Returns:
        `(state, skipped)`: the state dict of the newest finite checkpoint at or before the one
        `state.json` names (None when there is none), and `[(file name, first bad entry), ...]`
        of the checkpoints passed over because they hold NaN or infinite values.
    """
    state = read_state(checkpoint_dir)
    if state is None:
        return None, []
    files = weights_files(checkpoint_dir)
    candidates = [state["weights"]] + [files[s] for s in sorted(files, reverse=True) if s < state["step"]]
    skipped = []
    for name in candidates:
        path = os.path.join(checkpoint_dir, name)
        if not os.path.exists(path):
            continue
        bad = non_finite_entries(path)
        if not bad:
            if name == state["weights"]:
                return state, skipped
            step = int(_WEIGHTS_FILE.match(name).group(1))
            return {"step": step, "epoch": None, "weights": name}, skipped
        skipped.append((name, bad[0]))
    return None, skipped


def restore_checkpoint(model, checkpoint_dir, warmup=None, state=None):
    """Loads a checkpoint of `checkpoint_dir` into `model` (by default the one `state.json` names).

    Keras needs every variable (optimizer slots included) to exist before loading. If loading into
    the freshly compiled model fails for that reason, `warmup()` is called once (for example one
    `fit` step, which creates all variables) and the checkpoint is loaded again over it, so no
    trace of the warm-up step remains.

    Args:
        model: the compiled keras Model, built the same way as the one that was saved.
        checkpoint_dir: folder holding `state.json` and the weight files.
        warmup: optional zero-argument callable that builds the model's variables.
        state: the state to restore (e.g. from `resume_point`); default `read_state`.

    Returns:
        The state dict of the restored checkpoint, or None when there is none.
    """
    state = state or read_state(checkpoint_dir)
    if state is None:
        return None
    load_weights(model, os.path.join(checkpoint_dir, state["weights"]), warmup)
    return state


def load_weights(model, path, warmup=None):
    """`model.load_weights(path)`, building the model's variables with `warmup()` first if needed.

    Keras only warns when an optimizer of the file does not match the model's ("Skipping variable
    loading for optimizer ..."), leaving its moments and step count at zero: a resume would then
    silently restart Adam. That is an error here.

    Raises:
        ValueError: naming the file and what Keras could not load.
    """
    try:
        _load_every_variable(model, path)
    except CheckpointMismatch:
        raise
    except Exception:  # unbuilt model or optimizer: build them, then load over the warm-up
        if warmup is None:
            raise
        warmup()
        _load_every_variable(model, path)


class CheckpointMismatch(ValueError):
    """A weights file whose variables do not all fit the model."""


def _load_every_variable(model, path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(path)
    skipped = [str(w.message).strip() for w in caught if str(w.message).startswith("Skipping variable loading")]
    for w in caught:
        if not str(w.message).startswith("Skipping variable loading"):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if skipped:
        raise CheckpointMismatch(
            f"Checkpoint {path} does not fit the model built from the configuration: {skipped[0]} Resuming would "
            "restart that optimizer from zero moments; resume with the configuration the run was started with."
        )


class Checkpointer(keras.callbacks.Callback):
    """Saves a checkpoint at the checkpoint steps of a schedule (`save(step)` at any other step).

    The state records the global step (`schedule.step_after(epoch)`) and the whole epochs done; a
    resumed run restarts from the step (its epochs may have another length).

    Args:
        checkpoint_dir: folder of the checkpoints.
        schedule: the run's `schedule.Schedule`.
        keep: number of weight files kept.
        enabled: False on non-chief workers of a multi-worker run (they save nothing).

    Attributes:
        last_step: the step of the last checkpoint written by this callback, or None.
    """

    def __init__(self, checkpoint_dir, schedule, keep=2, enabled=True):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.schedule = schedule
        self.keep = keep
        self.enabled = enabled
        self.last_step = None

    def path(self, step):
        """The weights file of the checkpoint at `step`."""
        return os.path.join(self.checkpoint_dir, f"ckpt-{int(step):06d}.weights.h5")

    def save(self, step):
        """Writes the checkpoint at global step `step` (once per step); returns its weights path.

        Raises:
            faults.TrainingDiverged: for non-finite weights (nothing written).
        """
        if self.enabled and step != self.last_step:
            save_checkpoint(self.model, self.checkpoint_dir, step, step // self.schedule.epoch_steps, keep=self.keep)
            self.last_step = step
        return self.path(step)

    def on_epoch_end(self, epoch, logs=None):
        step = self.schedule.step_after(epoch)
        if self.schedule.is_checkpoint(step):
            self.save(step)
