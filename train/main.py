"""Train a data-efficient GAN from the command line: absl flags -> `td.experiment.run`.

    python -m train                                   # fewshot-cpu preset: emoji faces, ~15 min on CPU
    python -m train --preset=biggan-cifar10-10pct --strategy=mirrored
    python -m train --dataset=/path/to/images --resolution=64 --steps=5000
    python -m train --resume                          # continue the latest run in --workdir
    python -m train --preset=sngan-cifar10 --dry_run  # print the resolved configuration and exit

Flags left unset take the preset's value; set flags override it. Everything is validated before
any work starts, and a bad value fails with one message naming it. All logic lives in
`tf_diffaug.experiment`; this module only reads flags and the environment.
"""

import json
import os
import sys

from absl import app, flags

from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import presets as presets_lib

FLAGS = flags.FLAGS

flags.DEFINE_string("preset", presets_lib.DEFAULT_PRESET, f"Named configuration, one of {sorted(presets_lib.PRESETS)}.")
flags.DEFINE_string("dataset", None, "td.data name (emoji-faces, fashion-mnist, a tfds name) or an image folder.")
flags.DEFINE_string("split", None, "Dataset split, tfds slicing allowed (e.g. 'train[:10%]').")
flags.DEFINE_integer("resolution", None, "Image size (square).")
flags.DEFINE_integer("channels", None, "Image channels, 1 or 3.")
flags.DEFINE_string("network", None, f"Architecture, one of {list(config_lib.NETWORKS)}.")
flags.DEFINE_string("network_kwargs", None, "JSON dict of td.networks.get overrides, e.g. '{\"base_filters\": 16}'.")
flags.DEFINE_string("policy", None, "DiffAugment policy, comma-separated ops ('' for none).")
flags.DEFINE_enum("augment_mode", None, list(config_lib.AUGMENT_MODES), "Where DiffAugment is applied.")
flags.DEFINE_bool("adaptive", None, "Adapt the augmentation probability p (ADA controller).")
flags.DEFINE_string("loss", None, f"Adversarial loss, one of {list(config_lib.LOSSES)}.")
flags.DEFINE_integer("steps", None, "Total generator steps.")
flags.DEFINE_integer("batch_size", None, "Global batch size.")
flags.DEFINE_float("lr", None, "Learning rate of both G and D.")
flags.DEFINE_integer("log_every", None, "Steps per log point (one Keras epoch / progress bar).")
flags.DEFINE_integer("eval_every", None, "Steps between FID/KID evaluations (multiple of --log_every).")
flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints and sample grids (multiple of --log_every).")
flags.DEFINE_integer("fid_samples", None, "Generated images per FID/KID evaluation (0 disables).")
flags.DEFINE_float("advaug_gamma", None, "AdvAug step size on D's and G's features (Chen et al. 2021: 0.01; 0 off).")
flags.DEFINE_integer("prune_rounds", None, "Lottery ticket: IMP rounds before training (0: dense networks).")
flags.DEFINE_float("prune_fraction", None, "Share of the remaining G (and D) kernel weights pruned per round.")
flags.DEFINE_integer("prune_steps", None, "Training steps per IMP round (default: --steps).")
flags.DEFINE_string("rewind", None, "Rewind survivors to 'init' or to an integer step k of round 1 (late rewinding).")
flags.DEFINE_bool("prune_discriminator", None, "Also prune D's kernels each round.")
flags.DEFINE_bool("reset_discriminator", None, "Rewind D after each round (--noreset_discriminator: keep training it).")
flags.DEFINE_string("workdir", "./runs", "Folder of the numbered run folders.")
flags.DEFINE_bool("resume", False, "Continue the latest run in --workdir from its last checkpoint.")
flags.DEFINE_enum("strategy", None, list(config_lib.STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_bool("mixed_precision", None, "Train with the mixed_float16 (mixed_bfloat16 on TPU) policy.")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_bool("dry_run", False, "Print the resolved configuration and exit.")

# Flags that map one-to-one onto configuration keys (None = take the preset's value).
CONFIG_FLAGS = (
    "dataset",
    "split",
    "resolution",
    "channels",
    "network",
    "policy",
    "augment_mode",
    "adaptive",
    "loss",
    "steps",
    "batch_size",
    "lr",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "fid_samples",
    "strategy",
    "mixed_precision",
    "seed",
    "advaug_gamma",
    "prune_rounds",
    "prune_fraction",
    "prune_steps",
    "prune_discriminator",
    "reset_discriminator",
)


def overrides_from_flags(flag_values=FLAGS):
    """Returns {config key: value} for the flags that were set on the command line."""
    overrides = {name: flag_values[name].value for name in CONFIG_FLAGS}
    rewind = flag_values.rewind
    if rewind is not None:
        if rewind != "init" and not rewind.isdigit():
            raise app.UsageError(f"--rewind must be 'init' or a non-negative integer step, got {rewind!r}.")
        overrides["rewind"] = rewind if rewind == "init" else int(rewind)
    if flag_values.network_kwargs:
        try:
            kwargs = json.loads(flag_values.network_kwargs)
        except json.JSONDecodeError as error:
            raise app.UsageError(
                f"--network_kwargs={flag_values.network_kwargs!r} is not valid JSON: {error}"
            ) from None
        if not isinstance(kwargs, dict):
            raise app.UsageError(f"--network_kwargs must be a JSON object, got {flag_values.network_kwargs!r}.")
        overrides["network_kwargs"] = kwargs
    return overrides


def config_from_flags(flag_values=FLAGS, environ=os.environ):
    """Resolves and validates the configuration the flags describe (no TensorFlow work).

    Returns:
        The configuration dict (for `--resume`, the saved one of the latest run with the allowed
        overrides applied).

    Raises:
        app.UsageError: naming the bad flag value.
    """
    overrides = overrides_from_flags(flag_values)
    try:
        if flag_values.resume:
            from tf_diffaug.experiment import driver

            if flag_values["preset"].present:
                overrides["preset"] = flag_values.preset
            config = driver.resume_config(flag_values.workdir, **overrides)
        else:
            config = config_lib.resolve_config(flag_values.preset, **overrides)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    if config["strategy"] == "multiworker" and "TF_CONFIG" not in environ:
        raise app.UsageError(
            "--strategy=multiworker needs the TF_CONFIG environment variable "
            "(cluster and task of this worker); it is not set."
        )
    return config


def main(argv):
    """absl main: resolve, then either print (`--dry_run`) or train; returns the run summary."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments {argv[1:]}; all options are --flags.")
    config = config_from_flags(FLAGS)
    if FLAGS.dry_run:
        json.dump(config, sys.stdout, indent=2, sort_keys=True)
        action = "resume the latest run in" if FLAGS.resume else "write a new folder in"
        sys.stdout.write(f"\nDry run: nothing trained; a run would {action} {os.path.abspath(FLAGS.workdir)}\n")
        return config
    from tf_diffaug.experiment import driver

    try:
        return driver.run(config, FLAGS.workdir, resume=FLAGS.resume)
    except driver.RunSetupError as error:  # bad dataset / network options: a usage error, no traceback
        raise app.UsageError(str(error)) from None


def run():
    """Console-script entry point (`tf-diffaug-train` and `python -m train`)."""
    app.run(lambda argv: (main(argv), None)[1])


if __name__ == "__main__":
    run()
