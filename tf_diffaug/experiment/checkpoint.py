"""Checkpoints of a GAN run: Keras weights files plus a small JSON state, written atomically.

`Checkpointer` is a Keras callback that, at the checkpoint steps of the run's `schedule.Schedule`
(every `checkpoint_every` steps and the last step, each the end of a `fit` epoch), saves
`model.save_weights(...)` to `checkpoints/ckpt-XXXXXX.weights.h5`.
Keras' weights file walks every tracked object of the model: G, D, the EMA generator, both
optimizers (their slots and `iterations`), the adaptive augmentation probability `p` and the
`SeedGenerator` states, so a restored model continues exactly where it stopped. The weights are
written under a temporary name and renamed, and only then `checkpoints/state.json`
(`{"step": ..., "epoch": ..., "weights": ...}`) is replaced: a process killed with SIGKILL at any
moment leaves the previous complete checkpoint in place. The last `keep` weight files are kept.

Example:
    >>> schedule = Schedule(steps=1000, log_every=50, eval_every=500, checkpoint_every=250)
    >>> ckpt = Checkpointer("runs/00000-fewshot-cpu/checkpoints", schedule)
    >>> gan.fit(dataset, epochs=schedule.epochs, steps_per_epoch=schedule.epoch_steps,
    ...         callbacks=[ckpt])                                          # doctest: +SKIP
    >>> read_state("runs/00000-fewshot-cpu/checkpoints")["step"]             # doctest: +SKIP
    1000
"""

import os

import keras

from tf_diffaug.experiment import run_dir

STATE_FILE = "state.json"


def read_state(checkpoint_dir):
    """Returns the state dict of the last complete checkpoint in `checkpoint_dir`, or None."""
    path = os.path.join(checkpoint_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    return run_dir.read_json(path)


def save_checkpoint(model, checkpoint_dir, step, epoch, keep=2, extra=None):
    """Saves `model`'s weights (with optimizer state) and then the state file pointing at them.

    Args:
        model: a built keras Model (e.g. `td.GAN` after at least one train step).
        checkpoint_dir: folder of the checkpoints (created when missing).
        step: number of train steps done; names the file `ckpt-{step:06d}.weights.h5`.
        epoch: number of `fit` epochs done (what `initial_epoch` must be when resuming).
        keep: how many weight files to keep (older ones are deleted after the state is written).
        extra: optional JSON-serialisable dict stored in the state (e.g. wall time).

    Returns:
        The state dict written.
    """
    os.makedirs(checkpoint_dir, exist_ok=True)
    name = f"ckpt-{int(step):06d}.weights.h5"
    tmp = os.path.join(checkpoint_dir, f"tmp-{name}")
    model.save_weights(tmp)
    os.replace(tmp, os.path.join(checkpoint_dir, name))
    state = {"step": int(step), "epoch": int(epoch), "weights": name}
    state.update(extra or {})
    run_dir.write_json(os.path.join(checkpoint_dir, STATE_FILE), state)
    files = sorted(f for f in os.listdir(checkpoint_dir) if f.startswith("ckpt-") and f.endswith(".weights.h5"))
    for old in files[:-keep] if keep else []:
        if old != name:
            os.remove(os.path.join(checkpoint_dir, old))
    return state


def restore_checkpoint(model, checkpoint_dir, warmup=None):
    """Loads the last complete checkpoint of `checkpoint_dir` into `model`.

    Keras needs every variable (optimizer slots included) to exist before loading. If loading into
    the freshly compiled model fails for that reason, `warmup()` is called once (for example one
    `fit` step, which creates all variables) and the checkpoint is loaded again over it, so no
    trace of the warm-up step remains.

    Args:
        model: the compiled keras Model, built the same way as the one that was saved.
        checkpoint_dir: folder holding `state.json` and the weight files.
        warmup: optional zero-argument callable that builds the model's variables.

    Returns:
        The state dict of the restored checkpoint, or None when there is none.
    """
    state = read_state(checkpoint_dir)
    if state is None:
        return None
    path = os.path.join(checkpoint_dir, state["weights"])
    try:
        model.load_weights(path)
    except Exception:  # unbuilt model or optimizer: build them, then load over the warm-up
        if warmup is None:
            raise
        warmup()
        model.load_weights(path)
    return state


class Checkpointer(keras.callbacks.Callback):
    """Saves a checkpoint at the checkpoint steps of a schedule and at the end of training.

    The state records the global step (`schedule.step_after(epoch)`) and the epochs done; a
    resumed run restarts from the step (its epochs may have another length).

    Args:
        checkpoint_dir: folder of the checkpoints.
        schedule: the run's `schedule.Schedule`.
        keep: number of weight files kept.
        enabled: False on non-chief workers of a multi-worker run (they save nothing).
    """

    def __init__(self, checkpoint_dir, schedule, keep=2, enabled=True):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.schedule = schedule
        self.keep = keep
        self.enabled = enabled
        self.last_epoch = None
        self._epoch = None

    def _save(self, epoch):
        if self.enabled and epoch != self.last_epoch:
            step = epoch * self.schedule.epoch_steps
            save_checkpoint(self.model, self.checkpoint_dir, step, epoch, keep=self.keep)
            self.last_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.schedule.is_checkpoint(self.schedule.step_after(epoch)):
            self._save(epoch + 1)

    def on_train_end(self, logs=None):
        if self._epoch:
            self._save(self._epoch)
