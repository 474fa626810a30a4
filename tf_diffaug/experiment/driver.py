"""`td.experiment.run`: one training run, from a configuration dict to a folder of artefacts.

The driver builds everything from the configuration (see `config.resolve_config`): the data
pipeline (`td.data.load`), G and D (`td.networks.get`), the augmentation (`td.DiffAugment`, wrapped
in `td.augment.AdaptiveAugment` when `adaptive`), the `td.GAN` model and its optimisers, all under
the chosen `tf.distribute` strategy and Keras dtype policy. It then trains with
`gan.fit(dataset, epochs=schedule.epochs, steps_per_epoch=schedule.epoch_steps)` (see
`schedule.Schedule`: epochs of `gcd(steps, log_every, eval_every, checkpoint_every)` steps, so every
event falls on an epoch end and the last step is always logged, evaluated and checkpointed), and
writes into `workdir/NNNNN-<preset>/`:

- `config.json`: the resolved configuration (keys in schema order);
- `metrics.jsonl`: one object per log point (`step`, losses averaged since the previous log point,
  `aug_p`, `time`; `fid`/`kid` when evaluated there) and one per evaluation at another step
  (`step`, `fid`, `kid`, `time`);
- `samples/step-XXXXXX.png`: EMA-generator grids from a fixed latent seed;
- `tensorboard/`: `keras.callbacks.TensorBoard` logs;
- `checkpoints/`: weights + optimizer + EMA + `p` + step (see `checkpoint.Checkpointer`);
- `curves.png`: losses, `aug_p` and FID/KID over steps;
- `ticket/`: with `prune_rounds > 0`, the pruning masks found before training and their
  per-round record (see `ticket.prepare_ticket`).

With `resume=True` the latest run folder of `workdir` continues from its last checkpoint: the
weights, optimizer slots, EMA, `p` and seed-generator states come back from the weights file, the
step from `state.json` (a resumed run's epochs also divide that step), the data order is reseeded by the step (tf.data cannot restore a
shuffle buffer, so a resumed run sees a fresh permutation rather than the exact same next batch),
and `metrics.jsonl` drops lines logged after the checkpoint, so logged steps never go back.

Example:
    >>> from tf_diffaug import experiment
    >>> config = experiment.resolve_config("fewshot-cpu", steps=100, log_every=50,
    ...                                    eval_every=100, checkpoint_every=50)
    >>> result = experiment.run(config, "runs")                    # doctest: +SKIP
    >>> result["run_dir"], result["fid"], result["grid"]           # doctest: +SKIP
"""

import copy
import os
import sys
import tempfile
import time

import keras

from tf_diffaug.experiment import callbacks as callbacks_lib
from tf_diffaug.experiment import checkpoint as checkpoint_lib
from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import execution, schema
from tf_diffaug.experiment import run_dir as run_dir_lib
from tf_diffaug.experiment import schedule as schedule_lib
from tf_diffaug.experiment import ticket as ticket_lib


class RunSetupError(ValueError):
    """The data or the networks of a configuration cannot be set up (raised before training)."""


resume_config = config_lib.resume_config  # re-exported: `td.experiment.resume_config`


def _check_data(config):
    """Fails early when the dataset looks like a path (has a separator) but is not a folder."""
    dataset = config["dataset"]
    if not os.path.isdir(dataset) and (os.sep in dataset or dataset.startswith(".")):
        raise RunSetupError(f"Dataset folder {dataset!r} does not exist.")


def build_gan(config):
    """Builds and compiles the `td.GAN` of `config` (call inside the strategy scope).

    Every setting of `td.GAN`, `td.GAN.compile` and `keras.optimizers.Adam` comes from its
    configuration key (`latent_dim`, `ema_*`, `advaug_gamma`, `loss`, `d_steps`, `r1_*`,
    `cr_weight`, `lecam_*`, `ada_*` (used when `adaptive`), `g_lr`/`d_lr`, `beta_1`, `beta_2`,
    `adam_epsilon`, `jit_compile`).

    Args:
        config: a resolved configuration dict.

    Returns:
        The compiled `td.GAN`.

    Example:
        >>> gan = build_gan(resolve_config("fewshot-cpu", adam_epsilon=1e-8))   # doctest: +SKIP
        >>> gan.g_optimizer.epsilon                                             # doctest: +SKIP
        1e-08
    """
    import tf_diffaug as td

    generator, discriminator = td.networks.get(
        config["network"],
        resolution=config["resolution"],
        channels=config["channels"],
        num_classes=config["num_classes"],
        latent_dim=config["latent_dim"],
        **config["network_kwargs"],
    )
    augment = None
    if config["augment_mode"] != "none":
        augment = td.DiffAugment(config["policy"], seed=config["seed"])
        if config["adaptive"]:
            augment = td.augment.AdaptiveAugment(augment, initial_p=0.0, seed=config["seed"] + 1)
    gan = td.GAN(
        generator,
        discriminator,
        latent_dim=config["latent_dim"],
        augment=augment,
        augment_mode=config["augment_mode"],
        num_classes=config["num_classes"],
        ema_decay=config["ema_decay"],
        ema_start_step=config["ema_start_step"],
        advaug_gamma=config["advaug_gamma"],
        seed=config["seed"],
    )

    def adam(learning_rate):
        return keras.optimizers.Adam(
            learning_rate, beta_1=config["beta_1"], beta_2=config["beta_2"], epsilon=config["adam_epsilon"]
        )

    options = {
        "loss": config["loss"],
        "d_steps": config["d_steps"],
        "r1_gamma": config["r1_gamma"],
        "r1_through_augment": config["r1_through_augment"],
        "cr_weight": config["cr_weight"],
        "lecam_weight": config["lecam_weight"],
        "lecam_decay": config["lecam_decay"],
        "lecam_start_step": config["lecam_start_step"],
        "ada_target": config["ada_target"] if config["adaptive"] else None,
        "ada_interval": config["ada_interval"],
        "ada_kimg": config["ada_kimg"],
        "jit_compile": config["jit_compile"],
    }
    gan.compile(g_optimizer=adam(config["g_lr"]), d_optimizer=adam(config["d_lr"]), **options)
    return gan


def load_dataset(config, global_batch_size, seed):
    """The repeated, shuffled training `tf.data.Dataset` of `config` (seeded by `seed`)."""
    import tf_diffaug as td

    return td.data.load(
        config["dataset"],
        split=config["split"],
        resolution=config["resolution"],
        batch_size=global_batch_size,
        with_labels=config["num_classes"] is not None,
        channels=config["channels"],
        shuffle=True,
        mirror=config["mirror"],
        seed=seed,
        drop_remainder=True,
        repeat=True,
    )


def reference_images(config):
    """The training images as uint8 [N, H, W, C] (the FID/KID reference set)."""
    import tf_diffaug as td

    images = td.data.load_array(
        config["dataset"], split=config["split"], resolution=config["resolution"], channels=config["channels"]
    )
    return images[0] if isinstance(images, tuple) else images


def fid_method(num_real, num_fake, feature_dim=2048):
    """`frechet_distance` method: "gram" (exact, fast) for sets smaller than the feature size, else "eigh".

    Both equal scipy's `sqrtm` reference up to float rounding (see `td.metrics.frechet_distance`);
    `sqrtm` of a 2048x2048 product costs tens of seconds per evaluation on a small CPU.
    """
    return "gram" if max(num_real, num_fake) < feature_dim else "eigh"


def run(config, workdir="runs", resume=False, verbose=1, stream="stdout", inception=None):
    """Trains a GAN as `config` says and writes the run folder; returns a summary dict.

    Args:
        config: a configuration dict (from `resolve_config`, or `resume_config` when resuming).
        workdir: root folder of the numbered run folders.
        resume: continue the latest run of `workdir` from its last checkpoint.
        verbose: Keras `fit` verbosity (1: progress bar, 0: silent).
        stream: where the progress lines and the closing summary go: "stdout" (the current
            `sys.stdout`), a file-like object, or None (nowhere).
        inception: FID feature network for `td.metrics.FIDCallback` (None: the installed weights;
            a `td.metrics.InceptionFeatureExtractor` to share one across runs).

    Returns:
        dict with `run_dir`, `step`, `fid`, `kid` (None when never evaluated), `grid` (path of the
        last sample grid), `curves`, `metrics` (path of metrics.jsonl), `wall_time` (seconds),
        `generator_sparsity` (of a lottery-ticket run; 0.0 for dense networks) and `model`.

    Raises:
        ValueError: for an invalid configuration (before any training work); `RunSetupError` when
            the dataset cannot be loaded or the networks cannot be built (before the run folder
            is created).
        FileNotFoundError: for `resume=True` with no run folder in `workdir`.
    """
    start = time.time()
    stream = sys.stdout if stream == "stdout" else stream
    config = config_lib.validate_config(copy.deepcopy(config))
    _check_data(config)
    state, path = None, None
    if resume:
        path = run_dir_lib.latest_run_dir(workdir)
        config_lib.check_resume(config_lib.saved_config(path), config, path)
        state = checkpoint_lib.read_state(os.path.join(path, "checkpoints"))
        if state and state["step"] > config["steps"]:
            raise ValueError(
                f"steps={config['steps']} is below the step {state['step']} of the checkpoint "
                f"to resume in {path!r}. Expected steps >= {state['step']}."
            )
    start_step = state["step"] if state else 0
    schedule = schedule_lib.Schedule.from_config(config, start_step=start_step)

    # Everything that can fail on the user's input happens before the run folder is created.
    strategy = execution.make_strategy(config["strategy"])
    chief = execution.is_chief(strategy)
    replicas = strategy.num_replicas_in_sync
    if config["batch_size"] % replicas:
        raise ValueError(
            f"batch_size {config['batch_size']} must be divisible by the "
            f"{replicas} replicas of strategy {config['strategy']!r}."
        )
    keras.utils.set_random_seed(config["seed"] + start_step)
    try:
        dataset = load_dataset(config, config["batch_size"], seed=config["seed"] + start_step)
        reals = reference_images(config) if config["fid_samples"] else None
    except (ValueError, FileNotFoundError) as error:  # unknown / unprepared dataset, bad split...
        raise RunSetupError(str(error)) from error
    with execution.dtype_policy(execution.precision_policy(config["mixed_precision"], config["strategy"])):
        with strategy.scope():
            try:
                gan = build_gan(config)
            except (ValueError, TypeError) as error:  # e.g. an unknown network_kwargs option
                raise RunSetupError(str(error)) from error
        if chief:
            path = path or run_dir_lib.create_run_dir(workdir, config["preset"] or config["network"])
            out = path
        else:  # other workers of a multi-worker run write nothing into the shared run folder
            out = tempfile.mkdtemp(prefix="tf_diffaug-worker-")
            path = path or out
        run_dir_lib.write_json(os.path.join(out, run_dir_lib.CONFIG_FILE), schema.ordered(config), sort_keys=False)
        ticket = None
        if config["prune_rounds"]:
            ticket = ticket_lib.prepare_ticket(
                gan,
                dataset,
                config,
                os.path.join(path, ticket_lib.TICKET_DIR),
                os.path.join(out, "checkpoints"),
                out=os.path.join(out, ticket_lib.TICKET_DIR),
                verbose=verbose,
                stream=stream if chief else None,
            )
        if state:
            state = checkpoint_lib.restore_checkpoint(
                gan,
                os.path.join(path, "checkpoints"),
                warmup=lambda: gan.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0),
            )
        log = run_dir_lib.MetricsLog(
            os.path.join(out, run_dir_lib.METRICS_FILE), resume_step=start_step if resume else None
        )
        if resume and stream is not None:
            stream.write(f"Resuming {path} from step {start_step}.\n")
        grids = callbacks_lib.StepSampleGrid(
            os.path.join(out, "samples"),
            config["checkpoint_every"],
            num_samples=config["grid_size"],
            seed=config["seed"] + 2_000_003,
            log_dir=os.path.join(out, "tensorboard"),
        )
        writer = callbacks_lib.MetricsWriter(
            log,
            schedule,
            curves_path=os.path.join(out, "curves.png"),
            defaults={"aug_p": 0.0 if config["augment_mode"] == "none" else 1.0},
            stream=stream if chief else None,
        )
        callbacks = [grids, writer] if chief else [writer]
        if config["fid_samples"]:
            import tf_diffaug as td

            fid = td.metrics.FIDCallback(
                reals,
                every_n_epochs=1,  # AtSteps calls it at the evaluation steps only
                num_samples=config["fid_samples"],
                batch_size=config["fid_batch_size"],
                log_dir=os.path.join(out, "tensorboard", "fid"),
                seed=config["seed"] + 1_000_003,
                stats_path=os.path.join(out, "fid_reference.npz"),
                weights=inception,
                fid_method=fid_method(len(reals), config["fid_samples"]),
            )
            callbacks.insert(0, callbacks_lib.AtSteps(fid, schedule, schedule.eval_steps()))
        callbacks.append(checkpoint_lib.Checkpointer(os.path.join(out, "checkpoints"), schedule))
        if chief:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "tensorboard"), write_graph=False))
        if schedule.initial_epoch < schedule.epochs:
            gan.fit(
                dataset,
                epochs=schedule.epochs,
                initial_epoch=schedule.initial_epoch,
                steps_per_epoch=schedule.epoch_steps,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,
            )  # tf.data shuffles
    if chief:
        writer.draw()
    records = log.read()
    evaluated = [r for r in records if r.get("fid") is not None]
    sample_dir = os.path.join(path, "samples")
    grid_files = sorted(os.listdir(sample_dir)) if os.path.isdir(sample_dir) else []
    result = {
        "run_dir": path,
        "step": records[-1]["step"] if records else start_step,
        "fid": evaluated[-1]["fid"] if evaluated else None,
        "kid": evaluated[-1].get("kid") if evaluated else None,
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
            f"({config['fid_samples']} samples)\nLast sample grid: {result['grid']}\n"
            f"Curves: {result['curves']}\nWall time: {result['wall_time']:.0f} s\n"
        )
        if ticket is not None:
            stream.write(
                f"Lottery ticket: G sparsity {ticket.generator_sparsity:.2%} "
                f"({os.path.join(path, ticket_lib.TICKET_DIR)})\n"
            )
        stream.flush()
    return result


__all__ = ["RunSetupError", "run", "resume_config", "build_gan", "load_dataset", "reference_images"]
