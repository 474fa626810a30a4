"""Train a data-efficient GAN from the command line: absl flags -> `td.experiment.run`.

    python -m train                                   # fewshot-cpu preset: emoji faces, ~15 min on CPU
    python -m train --preset=biggan-cifar10-10pct --strategy=mirrored
    python -m train --dataset=/path/to/images --resolution=64 --steps=5000
    python -m train --steps=400 --batch_size=8        # any schedule: the last step is always evaluated
    python -m train --config=runs/00000-fewshot-cpu/config.json --seed=1   # rerun a saved configuration
    python -m train --resume                          # continue the latest run in --workdir
    python -m train --preset=sngan-cifar10 --dry_run  # print the resolved configuration and exit
    python -m train --init_from=runs/00000-fewshot-cpu --dataset=/path/to/few --freeze_d=2  # fine-tune
    python -m train --generate=1000 --resume          # 1000 PNGs of the latest run's EMA generator

Flags left unset take the preset's value; set flags override it. Everything is validated before
any work starts, and a bad value fails with one message naming it. The flags are generated from
`tf_diffaug.experiment.schema`; all logic lives in `tf_diffaug.experiment`, this module only reads
flags and the environment.

Exit status: 0 when the run is complete (or the dry run found nothing wrong), 1 for a bad flag,
data that cannot be opened or a run that diverged (a non-finite loss: the message names the step
and the value; nothing of it is saved), 130 after SIGINT (Ctrl-C) and 143 after SIGTERM: the run
finished its current step, wrote a checkpoint at it and printed the `--resume` command.
"""

import json
import os
import shlex
import sys

from absl import app, flags

from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import run_dir, schema, usage

from . import schema_flags  # relative: the folder is installed as `tf_diffaug_train`

FLAGS = flags.FLAGS

schema_flags.define_config_flags(FLAGS)
flags.DEFINE_string(
    "config", None, "A configuration JSON file (a run's config.json, or any subset of the keys) to start from."
)
flags.DEFINE_string("workdir", "./runs", "Folder of the numbered run folders.")
flags.DEFINE_bool("resume", False, "Continue the latest run in --workdir from its last checkpoint.")
flags.DEFINE_bool("dry_run", False, "Print the resolved configuration and exit.")
flags.DEFINE_bool("list_presets", False, "Print the presets with a one-line description each and exit.")
flags.DEFINE_integer(
    "generate", None, "Write this many PNG images of a run's EMA generator (--resume or --init_from=RUN) and exit."
)
flags.DEFINE_integer("generate_seed", 0, "Latent seed of --generate (chunk c of 250 images uses seed + c).")

#: The flags that are not configuration keys, as `--help` lists them.
# fmt: off
COMMAND_FLAGS = (
    ("--config=PATH", "Start from a configuration file (a run's config.json, or any subset of the keys) instead of the preset's values; the file's 'preset' fills keys it lacks; flags still override it."),
    ("--workdir=PATH", "Folder of the numbered run folders NNNNN-<preset>/. [default: ./runs]"),
    ("--[no]resume", "Continue the latest run in --workdir from its last checkpoint; only the flags marked [resumable] may change."),
    ("--[no]dry_run", "Print the resolved configuration (JSON, schema order), check that the data can be opened (its image count) and exit without training."),
    ("--[no]list_presets", "Print the presets with a one-line description each and exit."),
    ("--generate=N", "Write N PNG images of the EMA generator of the latest run in --workdir (with --resume) or of --init_from=RUN (a run folder or checkpoint) to <run>/generated-<step>/000000.png ... and exit without training; class-conditional runs cycle the labels."),
    ("--generate_seed=INT", "Latent seed of --generate: images c*250 to c*250+249 come from gan.generate(..., seed=generate_seed + c). [default: 0]"),
    ("--help, -h, --helpshort", "Print this text. --helpfull lists absl's own flags too."),
)
# fmt: on

HELP_ARGS = frozenset(("--help", "-h", "-?", "--helpshort", "--help=true", "--helpshort=true"))


def program_name(argv0):
    """The command as the user typed it: `python -m train` or the console script's name."""
    name = os.path.basename(argv0 or "")
    return "python -m train" if name in ("__main__.py", "-c", "-m", "") else name


def overrides_from_flags(flag_values=FLAGS):
    """Returns {config key: value} for the configuration flags set on the command line.

    Raises:
        app.UsageError: for a flag text that is not of its key's type.
    """
    try:
        return schema_flags.overrides_from_flags(flag_values)
    except ValueError as error:
        raise app.UsageError(str(error)) from None


def config_from_flags(flag_values=FLAGS, environ=os.environ):
    """Resolves and validates the configuration the flags describe (no TensorFlow work).

    Returns:
        The configuration dict: `--config`'s file (or the preset) with the flags applied; for
        `--resume`, the saved one of the latest run with the allowed overrides applied.

    Raises:
        app.UsageError: naming the bad flag value.
    """
    overrides = overrides_from_flags(flag_values)
    backend = environ.get("KERAS_BACKEND")
    if backend and backend != "tensorflow":
        raise app.UsageError(
            f"KERAS_BACKEND is {backend!r}, but training needs Keras' TensorFlow backend (tf.distribute, "
            "tf.data); from Python, td.GAN also trains on JAX. Run with KERAS_BACKEND=tensorflow, or unset it."
        )
    try:
        run_dir.check_workdir(flag_values.workdir)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    preset = overrides.pop("preset", None)
    try:
        if flag_values.resume:
            if flag_values.config:
                raise ValueError(
                    f"--config={flag_values.config!r} cannot be combined with --resume: a resumed run continues "
                    "with the config.json of its run folder. Pass one of them."
                )
            if preset is not None:
                overrides["preset"] = preset
            config = config_lib.resume_config(flag_values.workdir, **overrides)
        else:
            base = config_lib.load_config_file(flag_values.config) if flag_values.config else None
            config = config_lib.resolve_config(preset, base=base, **overrides)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    if config["strategy"] == "multiworker" and "TF_CONFIG" not in environ:
        raise app.UsageError(
            "--strategy=multiworker needs the TF_CONFIG environment variable "
            "(cluster and task of this worker); it is not set."
        )
    return config


def help_text(program="python -m train"):
    """The `--help` text: this module's usage, the command flags, every schema flag, the presets."""
    return usage.help_text(program, usage=__doc__.split("\n\n", 2)[1], command_flags=COMMAND_FLAGS)


def parse_flags(argv):
    """absl `flags_parser`: prints the schema's help for --help/-h/--helpshort, else parses the flags."""
    args = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
    if any(arg in HELP_ARGS for arg in args):
        sys.stdout.write(help_text(program_name(argv[0])))
        sys.stdout.flush()
        sys.exit(0)
    return app.parse_flags_with_usage(argv)


def main(argv):
    """absl main: resolve, then either print (`--dry_run`, `--list_presets`) or train; returns the run summary."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments {argv[1:]}; all options are --flags.")
    if FLAGS.list_presets:
        sys.stdout.write(usage.presets_text())
        return None
    if FLAGS.generate is not None:
        return generate_images(FLAGS)
    config = config_from_flags(FLAGS)
    if FLAGS.dry_run:
        return dry_run(config)
    from tf_diffaug.experiment import driver, faults

    try:
        return driver.run(config, FLAGS.workdir, resume=FLAGS.resume)
    except driver.RunSetupError as error:  # bad dataset / network options: a usage error, no traceback
        raise app.UsageError(str(error)) from None
    except faults.TrainingInterrupted as stop:
        resume = f"{program_name(sys.argv[0])} --resume --workdir={shlex.quote(FLAGS.workdir)}"
        sys.stderr.write(f"{stop}\nResume with: {resume}\n")
        sys.stderr.flush()
        sys.exit(stop.exit_code)
    except faults.TrainingDiverged as error:
        sys.stderr.write(f"{error}\n")
        sys.stderr.flush()
        sys.exit(1)


def generate_images(flag_values=FLAGS, out=None):
    """`--generate=N`: writes N images of the EMA generator of a run and returns their folder.

    The run is the latest one of `--workdir` with `--resume`, or `--init_from` (a run folder or one
    of its checkpoint files); its own config.json builds the networks, so no other configuration
    flag may be given.

    Raises:
        app.UsageError: naming what is missing or refused.
    """
    overrides = overrides_from_flags(flag_values)
    source = overrides.pop("init_from", None)
    if overrides:
        raise app.UsageError(
            f"--generate uses the configuration of the run it samples; drop {sorted('--' + k for k in overrides)}."
        )
    if flag_values.resume == (source is not None):
        raise app.UsageError(
            f"--generate={flag_values.generate} needs exactly one of --resume (the latest run in --workdir) or "
            "--init_from=RUN (a run folder or one of its checkpoints/ckpt-XXXXXX.weights.h5)."
        )
    from tf_diffaug.experiment import generation

    try:
        if flag_values.resume:
            source = run_dir.latest_run_dir(flag_values.workdir)
        return generation.generate(
            source, flag_values.generate, seed=flag_values.generate_seed, stream=out or sys.stdout
        )
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None


def dry_run(config, out=None):
    """Prints the resolved configuration and where a run would write, then checks the data.

    Raises:
        app.UsageError: when the data cannot be opened (after the configuration is printed).
    """
    from tf_diffaug.experiment import data_report

    out = out or sys.stdout
    try:
        report, failure = data_report.check_data(config), None
        config = data_report.with_classes(config, report)  # conditional: the num_classes a run uses
    except data_report.DataError as error:
        report, failure = None, error
    json.dump(schema.ordered(config), out, indent=2)
    action = "resume the latest run in" if FLAGS.resume else "write a new folder in"
    out.write(f"\nDry run: nothing trained; a run would {action} {os.path.abspath(FLAGS.workdir)}\n")
    out.flush()
    if failure is not None:
        raise app.UsageError(f"Dry run: the data cannot be opened. {failure}") from None
    out.write(report.line() + "\n")
    return config


def run():
    """Console-script entry point (`tf-diffaug-train` and `python -m train`)."""
    app.run(lambda argv: (main(argv), None)[1], flags_parser=parse_flags)


if __name__ == "__main__":
    run()
