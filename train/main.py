"""Train a data-efficient GAN from the command line: absl flags -> `td.experiment.run`.

    python -m train                                   # fewshot-cpu preset: emoji faces, ~15 min on CPU
    python -m train --preset=biggan-cifar10-10pct --strategy=mirrored
    python -m train --dataset=/path/to/images --resolution=64 --steps=5000
    python -m train --steps=400 --batch_size=8        # any schedule: the last step is always evaluated
    python -m train --config=runs/00000-fewshot-cpu/config.json --seed=1   # rerun a saved configuration
    python -m train --resume                          # continue the latest run in --workdir
    python -m train --preset=sngan-cifar10 --dry_run  # print the resolved configuration and exit

Flags left unset take the preset's value; set flags override it. Everything is validated before
any work starts, and a bad value fails with one message naming it. The flags are generated from
`tf_diffaug.experiment.schema`; all logic lives in `tf_diffaug.experiment`, this module only reads
flags and the environment.
"""

import json
import os
import sys

from absl import app, flags

from tf_diffaug.experiment import config as config_lib
from tf_diffaug.experiment import schema, usage

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

#: The flags that are not configuration keys, as `--help` lists them.
# fmt: off
COMMAND_FLAGS = (
    ("--config=PATH", "Start from a configuration file (a run's config.json, or any subset of the keys) instead of the preset's values; the file's 'preset' fills keys it lacks; flags still override it."),
    ("--workdir=PATH", "Folder of the numbered run folders NNNNN-<preset>/. [default: ./runs]"),
    ("--[no]resume", "Continue the latest run in --workdir from its last checkpoint; only the flags marked [resumable] may change."),
    ("--[no]dry_run", "Print the resolved configuration (JSON, schema order) and exit without training."),
    ("--[no]list_presets", "Print the presets with a one-line description each and exit."),
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
    config = config_from_flags(FLAGS)
    if FLAGS.dry_run:
        json.dump(schema.ordered(config), sys.stdout, indent=2)
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
    app.run(lambda argv: (main(argv), None)[1], flags_parser=parse_flags)


if __name__ == "__main__":
    run()
