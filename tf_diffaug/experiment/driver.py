"""`td.experiment.run`: one training run, from a configuration dict to a folder of artefacts.

The driver checks first what can fail on the user's input (the configuration, the Keras backend,
the workdir, that the data can be opened: `data_report.check_data`), then builds everything from
the configuration (`build`): the data pipeline (`td.data.load`, one element of `d_steps x
batch_size` images per step, from the seeded subset when `subset_size` is set), G and D
(`td.networks.get`), the augmentation, the `td.GAN` model and its optimisers, all under the chosen
`tf.distribute` strategy and Keras dtype policy. It then trains with `gan.fit(dataset, epochs=schedule.epochs,
steps_per_epoch=schedule.epoch_steps)` (see `schedule.Schedule`: epochs of `gcd(steps, log_every,
eval_every, checkpoint_every)` steps, so every event falls on an epoch end and the last step is
always logged, evaluated and checkpointed), and writes into `workdir/NNNNN-<name>/`
(`run_dir.run_name`: the preset, plus the dataset when it is not the preset's):

- `config.json`: the resolved configuration (keys in schema order);
- `metrics.jsonl`: one object per log point (`step`, losses averaged since the previous log point,
  `aug_p`, `time`; `fid`/`kid` when evaluated there) and one per evaluation at another step
  (`step`, `fid`, `kid`, `time`); a line with `fid` also has `fid_best`/`fid_best_step`, the best
  evaluation so far (the official BigGAN-CIFAR and SNGAN codes report the best, DA-S the last: the
  last line, at the last step, has both);
- `samples/step-XXXXXX.png`: EMA-generator grids from a fixed latent seed (one row per class for a
  class-conditional run); `samples/reals.png`, a grid of training images (once); and
  `samples/augment-XXXXXX.png`, T(real) beside T(fake) at every grid step (`pictures`);
- `classes.json`: with `conditional`, the sorted class names (label i is the i-th);
- `fid_reference.npz`: the FID reference statistics, a copy of the cached
  `<fid_statistics_dir or workdir/fid_statistics>/<key>.npz` (`td.metrics.reference_statistics`,
  keyed by `build.reference_statistics_key`: dataset, split, resolution, data options, `fid_resize`),
  which later runs on the same images reuse;
- `tensorboard/`: `keras.callbacks.TensorBoard` logs;
- `checkpoints/`: weights + optimizer + EMA + `p` + step (see `checkpoint.Checkpointer`);
- `curves.png`: losses, `aug_p` and (adaptive) r_t (`ada_r_t`), FID/KID over steps;
- `ticket/`: with `prune_rounds > 0`, the pruning masks found before training and their
  per-round record (see `ticket.prepare_ticket`);
- `diverged.json`: only after a divergence, its step and value.

Faults (see `faults`): a non-finite loss or weight raises `faults.TrainingDiverged` naming the
step and the value, with nothing of the diverged model saved (the last checkpoint is finite) and
the step marked on `curves.png`. SIGINT/SIGTERM finish the current step, write a checkpoint at it
and raise `faults.TrainingInterrupted` (exit code 128 + signal in the CLI); during a ticket search
the completed rounds are saved instead.

With `init_from` a new run starts from the G, D and EMA-G weights of another run
(`finetune.load_networks`; step 0, fresh optimizers), its `config.json` naming the weights file;
`freeze_d` keeps D's first blocks fixed (`finetune.freeze_discriminator`, FreezeD).

With `resume=True` the latest run folder of `workdir` continues from its last finite checkpoint
(`checkpoint.resume_point`): the weights, optimizer slots, EMA, `p` and seed-generator states come
back from the weights file, the step from `state.json` (any step: a resume inside an epoch first
trains the rest of it, `Schedule.fits`), the data order is reseeded by the step (tf.data cannot
restore a shuffle buffer, so a resumed run sees a fresh permutation rather than the exact same next
batch; a run resumed at step `s` equals, in every variable, any other run of the same
configuration resumed at `s`: the order is a function of the seed and the resume step), and
`metrics.jsonl` drops lines logged after the checkpoint, so logged steps never go back.

Example:
    >>> from tf_diffaug import experiment
    >>> config = experiment.resolve_config("fewshot-cpu", steps=100, log_every=50,
    ...                                    eval_every=100, checkpoint_every=50)
    >>> result = experiment.run(config, "runs")                    # doctest: +SKIP
    >>> result["run_dir"], result["fid"], result["grid"]           # doctest: +SKIP
"""

import contextlib
import copy
import os
import shutil
import sys
import tempfile
import time

import keras

from tf_diffaug.experiment import callbacks as callbacks_lib
from tf_diffaug.experiment import checkpoint as checkpoint_lib
from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import data_report, execution, faults, finetune, pictures, schema
from tf_diffaug.experiment import run_dir as run_dir_lib
from tf_diffaug.experiment import schedule as schedule_lib
from tf_diffaug.experiment import ticket as ticket_lib
from tf_diffaug.experiment.build import (
    RunSetupError,
    build_gan,
    check_backend,
    check_discriminator_output,
    fid_method,
    load_dataset,
    reference_images,
    reference_statistics_key,
    step_images,
)

resume_config = config_lib.resume_config  # re-exported: `td.experiment.resume_config`
DIVERGED_FILE = "diverged.json"
CHECKPOINT_DIR = "checkpoints"
CLASSES_FILE = "classes.json"
#: Default folder (in the workdir) of the cached FID reference statistics (`fid_statistics_dir`).
STATISTICS_DIR = "fid_statistics"


def _check_setup(config, workdir):
    """The checks of the user's input that need no model: backend, workdir, data. Returns the `DataReport`."""
    check_backend()
    if config["prune_rounds"] and config["init_from"] is not None:
        raise RunSetupError(
            f"init_from={config['init_from']!r} cannot be combined with prune_rounds={config['prune_rounds']}: "
            "a lottery ticket is searched from the networks' initial weights. Expected prune_rounds=0 or no init_from."
        )
    try:
        run_dir_lib.check_workdir(workdir)
        return data_report.check_data(config)
    except ValueError as error:
        raise RunSetupError(str(error)) from error


def _resume_point(path, config, stream):
    """The checkpoint state to resume `path` from (None: step 0), saying what was passed over and why."""
    config_lib.check_resume(config_lib.saved_config(path), config, path)
    state, skipped = checkpoint_lib.resume_point(os.path.join(path, CHECKPOINT_DIR))
    if state and state["step"] > config["steps"]:
        raise ValueError(
            f"steps={config['steps']} is below the step {state['step']} of the checkpoint "
            f"to resume in {path!r}. Expected steps >= {state['step']}."
        )
    notes = [f"Checkpoint {name} holds non-finite values ({entry}): passed over." for name, entry in skipped]
    diverged_path = os.path.join(path, DIVERGED_FILE)
    if os.path.exists(diverged_path):
        diverged = run_dir_lib.read_json(diverged_path)
        where = f" during {diverged['where']}" if diverged.get("where") else ""
        notes.append(f"The run diverged{where} at step {diverged['step']} ({diverged['key']} = {diverged['value']}).")
        os.remove(diverged_path)  # this attempt starts before it
    if notes and stream is not None:
        start = f"its last finite checkpoint, step {state['step']}" if state else "step 0 (no finite checkpoint)"
        stream.write(" ".join(notes) + f" Resuming from {start}.\n")
    return state


def _fit(gan, dataset, schedule, callbacks, verbose):
    """Trains from `schedule.start_step` to `schedule.steps` (one `fit`, or two after a resume inside an epoch)."""
    for fit in schedule.fits():
        gan.fit(
            dataset.skip(fit.skip) if fit.skip else dataset,
            epochs=fit.epochs,
            initial_epoch=fit.initial_epoch,
            steps_per_epoch=fit.steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # tf.data shuffles
        )


def run(config, workdir="runs", resume=False, verbose=1, stream="stdout", inception=None, handle_signals=True):
    """Trains a GAN as `config` says and writes the run folder; returns a summary dict.

    Args:
        config: a configuration dict (from `resolve_config`, or `resume_config` when resuming).
        workdir: root folder of the numbered run folders.
        resume: continue the latest run of `workdir` from its last finite checkpoint.
        verbose: Keras `fit` verbosity (1: progress bar, 0: silent).
        stream: where the progress lines and the closing summary go: "stdout" (the current
            `sys.stdout`), a file-like object, or None (nowhere).
        inception: FID feature network for `td.metrics.FIDCallback` (None: the installed weights;
            a `td.metrics.InceptionFeatureExtractor` to share one across runs).
        handle_signals: stop on SIGINT/SIGTERM with a checkpoint at the step reached (main
            thread only; never with `strategy="multiworker"`, whose workers must stop together).

    Returns:
        dict with `run_dir`, `step`, `fid`, `kid` (of the last evaluation; None when never
        evaluated), `fid_best` and `fid_best_step` (the lowest FID of the run and its step), `grid`
        (path of the last sample grid), `curves`, `metrics` (path of metrics.jsonl), `wall_time` (seconds),
        `generator_sparsity` (of a lottery-ticket run; 0.0 for dense networks) and `model`.

    Raises:
        ValueError: for an invalid configuration (before any training work); `RunSetupError` when
            the backend is not TensorFlow, the workdir is not a folder, the dataset cannot be
            opened or the networks cannot be built (before the run folder is created).
        FileNotFoundError: for `resume=True` with no run folder in `workdir`.
        faults.TrainingDiverged: a loss or weight became non-finite (message: step, value, last
            checkpoint).
        faults.TrainingInterrupted: SIGINT/SIGTERM stopped the run after saving (`exit_code`).
    """
    start = time.time()
    stream = sys.stdout if stream == "stdout" else stream
    config = config_lib.validate_config(copy.deepcopy(config))
    data = _check_setup(config, workdir)
    config = data_report.with_classes(config, data)  # conditional: num_classes follows the classes
    state, path = None, None
    if resume:
        path = run_dir_lib.latest_run_dir(workdir)
        state = _resume_point(path, config, stream)
    start_step = state["step"] if state else 0
    init_weights = None
    if config["init_from"] is not None and not state:  # a resumed run restores its own checkpoint
        try:
            init_weights = finetune.weights_file(config["init_from"])
        except ValueError as error:
            raise RunSetupError(str(error)) from error
        config["init_from"] = init_weights  # config.json records the exact file it started from
    schedule = schedule_lib.Schedule.from_config(config, start_step=start_step)

    # Everything that can fail on the user's input happens before the run folder is created.
    strategy = execution.make_strategy(config["strategy"])
    chief = execution.is_chief(strategy)
    replicas = strategy.num_replicas_in_sync
    for name in ("batch_size", "g_batch_size"):
        if config[name] is not None and config[name] % replicas:
            raise ValueError(
                f"{name} {config[name]} must be divisible by the "
                f"{replicas} replicas of strategy {config['strategy']!r}."
            )
    keras.utils.set_random_seed(config["seed"] + start_step)
    try:
        # One element per step: d_steps x batch_size reals, one batch per D update (stage I too).
        dataset = load_dataset(config, step_images(config), seed=config["seed"] + start_step)
        reals = reference_images(config) if config["fid_samples"] else None
        grid_images, _ = pictures.grid_reals(config, config["grid_size"])
    except (ValueError, FileNotFoundError) as error:  # unknown / unprepared dataset, bad split...
        raise RunSetupError(str(error)) from error
    with execution.dtype_policy(execution.precision_policy(config["mixed_precision"], config["strategy"])):
        with strategy.scope():
            try:
                gan = build_gan(config)
                if init_weights is not None:  # fine-tuning: G, D and EMA-G only, before any step
                    finetune.load_networks(gan, init_weights)
                ada_signal = callbacks_lib.ADASignal(gan) if gan.ada is not None else None  # before any trace
            except (ValueError, TypeError) as error:  # an unknown network_kwargs option, freeze_d, init_from
                raise RunSetupError(str(error)) from error
        if chief:
            path = path or run_dir_lib.create_run_dir(workdir, run_dir_lib.run_name(config))
            out = path
        else:  # other workers of a multi-worker run write nothing into the shared run folder
            out = tempfile.mkdtemp(prefix="tf_diffaug-worker-")
            path = path or out
        run_dir_lib.write_json(os.path.join(out, run_dir_lib.CONFIG_FILE), schema.ordered(config), sort_keys=False)
        if config["conditional"] and data.class_names is not None:
            run_dir_lib.write_json(os.path.join(out, CLASSES_FILE), data.class_names)
        say = stream if chief else None
        if say is not None:
            say.write(data.line() + "\n")
        catch = handle_signals and config["strategy"] != "multiworker"
        with faults.SignalCatcher(say, enabled=catch) as catcher:
            training = _Training(gan, dataset, config, schedule, path, out, catcher, chief, say, verbose, strategy)
            training.statistics_dir = config["fid_statistics_dir"] or os.path.join(workdir, STATISTICS_DIR)
            training.grid_images = grid_images
            training.ada_signal = ada_signal
            try:
                ticket = training.setup(state, resume, inception, reals)
                training.train()
            except faults.SignalStop as stopped:
                raise training.interrupted(stopped) from None
            except faults.TrainingDiverged as error:
                raise training.diverged(error) from None
    writer, log = training.writer, training.log
    if chief:
        writer.draw()
    records = log.read()
    evaluated = [r for r in records if r.get("fid") is not None]
    best = min(evaluated, key=lambda r: r["fid"]) if evaluated else None
    sample_dir = os.path.join(path, "samples")
    grid_files = sorted(f for f in os.listdir(sample_dir) if f.startswith("step-")) if os.path.isdir(sample_dir) else []
    result = {
        "run_dir": path,
        "step": records[-1]["step"] if records else start_step,
        "fid": evaluated[-1]["fid"] if evaluated else None,
        "kid": evaluated[-1].get("kid") if evaluated else None,
        "fid_best": best["fid"] if best else None,
        "fid_best_step": best["step"] if best else None,
        "grid": os.path.join(sample_dir, grid_files[-1]) if grid_files else None,
        "curves": os.path.join(path, "curves.png"),
        "metrics": log.path,
        "wall_time": time.time() - start,
        "generator_sparsity": ticket.generator_sparsity if ticket is not None else 0.0,
        "model": gan,
    }
    if stream is not None:
        fid = "n/a" if result["fid"] is None else f"{result['fid']:.2f}"
        kid = "n/a" if result["kid"] is None else f"{result['kid']:.4f}"
        stream.write(
            f"\nRun folder: {path}\nFinal step {result['step']}: FID {fid}, KID {kid} "
            f"({config['fid_samples']} samples)\n"
            + (f"Best FID {result['fid_best']:.2f} at step {result['fid_best_step']}\n" if best else "")
            + f"Last sample grid: {result['grid']}\n"
            f"Curves: {result['curves']}\nWall time: {result['wall_time']:.0f} s\n"
        )
        if ticket is not None:
            stream.write(
                f"Lottery ticket: G sparsity {ticket.generator_sparsity:.2%} "
                f"({os.path.join(path, ticket_lib.TICKET_DIR)})\n"
            )
        stream.flush()
    return result


class _Training:
    """The training part of `run`: callbacks, stage I, restore, `fit`, and the two early stops."""

    def __init__(self, gan, dataset, config, schedule, path, out, catcher, chief, stream, verbose, strategy=None):
        self.gan, self.dataset, self.config, self.schedule = gan, dataset, config, schedule
        self.strategy = strategy
        self.path, self.out, self.catcher, self.chief, self.stream = path, out, catcher, chief, stream
        self.verbose = verbose
        self.stop = faults.StopOnSignal(catcher)
        self.guard = faults.DivergenceGuard()
        self.checkpointer = checkpoint_lib.Checkpointer(os.path.join(out, CHECKPOINT_DIR), schedule)
        self.writer = self.log = self.grids = self.tensorboard = None
        self.statistics_dir = os.path.join(out, STATISTICS_DIR)
        self.grid_images = None
        self.ada_signal = None
        self.fitting = False

    def _warmup(self):
        self.gan.fit(self.dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)

    def _stage_one_gan(self):
        """The GAN of the IMP rounds (`ticket.stage_one_gan`), built under the run's strategy."""
        scope = self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()
        with scope:
            return ticket_lib.stage_one_gan(self.gan, self.config)

    def setup(self, state, resume, inception, reals):
        """Stage I (or its reload), the restore of a resumed run, the callbacks; returns the ticket."""
        config, schedule, out = self.config, self.schedule, self.out
        ticket = None
        if config["prune_rounds"]:
            ticket = ticket_lib.prepare_ticket(
                self.gan,
                self.dataset,
                config,
                os.path.join(self.path, ticket_lib.TICKET_DIR),
                os.path.join(out, CHECKPOINT_DIR),
                out=os.path.join(out, ticket_lib.TICKET_DIR),
                verbose=self.verbose,
                stream=self.stream,
                callbacks=[self.stop, self.guard],
                warmup=self._warmup,
                round_dataset=lambda index: load_dataset(
                    config, step_images(config), seed=config["seed"] + index * ticket_lib.ROUND_SEED_STRIDE
                ),
                build_stage_one=self._stage_one_gan,
            )
            self.checkpointer.last_step = 0  # prepare_ticket wrote the step-0 checkpoint
        if state:
            try:
                checkpoint_lib.restore_checkpoint(
                    self.gan, os.path.join(self.path, CHECKPOINT_DIR), warmup=self._warmup, state=state
                )
            except checkpoint_lib.CheckpointMismatch as error:
                raise RunSetupError(str(error)) from error
            self.checkpointer.last_step = state["step"]
        self.stop.schedule, self.stop.where = schedule, None
        self.guard.schedule, self.guard.where = schedule, None
        self.log = run_dir_lib.MetricsLog(
            os.path.join(out, run_dir_lib.METRICS_FILE), resume_step=schedule.start_step if resume else None
        )
        if resume and self.stream is not None:
            self.stream.write(f"Resuming {self.path} from step {schedule.start_step}.\n")
        self.grids = callbacks_lib.StepSampleGrid(
            os.path.join(out, "samples"),
            config["checkpoint_every"],
            num_samples=config["grid_size"],
            seed=config["seed"] + 2_000_003,
            log_dir=os.path.join(out, "tensorboard"),
            final_step=config["steps"],
            training=config["sample_bn_mode"] == "train",
            real_images=self.grid_images,
            num_classes=config["num_classes"],
        )
        self.writer = callbacks_lib.MetricsWriter(
            self.log,
            schedule,
            curves_path=os.path.join(out, "curves.png"),
            defaults={"aug_p": 0.0 if config["augment_mode"] == "none" else 1.0},
            stream=self.stream,
        )
        # The guard first: it raises before any other callback sees a diverged model.
        self.callbacks = [self.stop, self.guard]
        if config["fid_samples"]:
            import tf_diffaug as td

            # One Inception network for the reference statistics and the evaluations.
            if not isinstance(inception, td.metrics.InceptionFeatureExtractor):
                inception = td.metrics.InceptionFeatureExtractor(inception)
            key = reference_statistics_key(config)
            stats = td.metrics.reference_statistics(
                reals,
                key,
                resize=config["fid_resize"],
                cache_dir=self.statistics_dir,
                weights=inception,
                batch_size=config["fid_batch_size"],
            )
            shutil.copyfile(
                td.metrics.statistics_path(key, self.statistics_dir), os.path.join(out, "fid_reference.npz")
            )
            fid = td.metrics.FIDCallback(
                stats,
                every_n_epochs=1,  # AtSteps calls it at the evaluation steps only
                num_samples=config["fid_samples"],
                batch_size=config["fid_batch_size"],
                log_dir=os.path.join(out, "tensorboard", "fid"),
                seed=config["seed"] + 1_000_003,
                weights=inception,
                resize=config["fid_resize"],
                fid_method=fid_method(len(reals), config["fid_samples"]),
                generator_training=config["sample_bn_mode"] == "train",
            )
            self.callbacks.append(callbacks_lib.AtSteps(fid, schedule, schedule.eval_steps()))
        if self.ada_signal is not None:  # before the writer, which logs it
            self.callbacks.append(self.ada_signal)
        self.callbacks += [self.grids, self.writer] if self.chief else [self.writer]
        self.callbacks.append(self.checkpointer)
        if self.chief:
            self.tensorboard = keras.callbacks.TensorBoard(os.path.join(out, "tensorboard"), write_graph=False)
            self.callbacks.append(self.tensorboard)
        return ticket

    def train(self):
        self.catcher.check(self.schedule.start_step)  # a signal during the setup: stop before training
        self.fitting = True
        _fit(self.gan, self.dataset, self.schedule, self.callbacks, self.verbose)

    def _close(self):
        """What `on_train_end` would have done: the pending progress line, TensorBoard files."""
        if self.stream is not None and self.verbose:
            self.stream.write("\n")  # after Keras' unfinished progress bar
        if self.writer is not None:
            self.writer.flush()
        if self.grids is not None:
            self.grids.close()
        if self.tensorboard is not None and self.fitting:
            self.tensorboard.on_train_end()

    def interrupted(self, stopped):
        """Saves what resuming needs after `SignalStop`; returns the `faults.TrainingInterrupted`."""
        name = faults.signal_name(stopped.signum)
        self._close()
        if stopped.where is not None:  # stage I: the completed rounds are saved
            progress = ticket_lib.read_progress(os.path.join(self.out, ticket_lib.TICKET_DIR))
            done = progress["rounds_done"] if progress else 0
            message = (
                f"Stopped by {name} during {stopped.where}: the {done} completed round(s) are saved in "
                f"{os.path.join(self.path, ticket_lib.TICKET_DIR)}; resuming continues with round {done + 1}."
            )
            return faults.TrainingInterrupted(message, stopped.signum, None, None, self.path)
        step = stopped.step
        checkpoint = None
        if step != self.checkpointer.last_step and step > 0:
            with self.catcher.saving():
                try:
                    checkpoint = self.checkpointer.save(step)
                except faults.TrainingDiverged as error:
                    return self.diverged(error)
            saved = f"checkpoint {checkpoint} written"
        elif step > 0 or self.checkpointer.last_step == 0:
            checkpoint = self.checkpointer.path(step)
            saved = f"its checkpoint {checkpoint} was already written"
        else:
            saved = "nothing was trained yet, no checkpoint is needed"
        if self.writer is not None and self.chief:
            self.writer.draw()
        message = (
            f"Stopped by {name} at step {step} of {self.config['steps']}: {saved}; resuming continues from step {step}."
        )
        return faults.TrainingInterrupted(message, stopped.signum, step, checkpoint, self.path)

    def diverged(self, error):
        """Records and draws a divergence; returns the `faults.TrainingDiverged` to raise."""
        self._close()
        record = error.record()
        if self.chief:
            run_dir_lib.write_json(os.path.join(self.out, DIVERGED_FILE), record)
            if self.writer is not None:
                self.writer.diverged = record
                self.writer.draw()
        last = checkpoint_lib.read_state(os.path.join(self.out, CHECKPOINT_DIR))
        if error.where is not None:
            kept = "the completed stage I rounds are saved and a resume restarts this round"
        elif last is not None:
            weights = os.path.join(self.path, CHECKPOINT_DIR, last["weights"])
            kept = f"the last checkpoint, step {last['step']} ({weights}), is finite and a resume restarts from it"
        else:
            kept = "no checkpoint had been written yet, so a resume restarts from step 0"
        message = (
            f"{error.describe()}. Nothing of it was saved: {kept}. The divergence is marked on "
            f"{os.path.join(self.path, 'curves.png')}. To retry with a lower learning rate, start a new run "
            f"from its configuration (--config={os.path.join(self.path, 'config.json')} --lr=...)."
        )
        return faults.TrainingDiverged(error.step, error.key, error.value, error.first_step, error.where, message)


__all__ = [
    "RunSetupError",
    "run",
    "resume_config",
    "build_gan",
    "check_backend",
    "check_discriminator_output",
    "load_dataset",
    "reference_images",
]
