"""Runs `python -m train`'s main in this process, as the experiment tests need it.

Import as `from tests.experiment import command_line`.

Example:
    >>> config = command_line.call_main(["--steps=400", "--dry_run"])     # doctest: +SKIP
"""

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


def parse(argv):
    """Parses `argv` (flags only) into absl's FLAGS of `train.main`, resetting earlier values; returns the module."""
    from train import main as cli

    cli.FLAGS.unparse_flags()
    cli.FLAGS(["train"] + list(argv))
    return cli


def call_main(argv, environ=None):
    """Parses `argv` and calls `train.main.main` (or only `config_from_flags` when `environ` is given)."""
    cli = parse(argv)
    if environ is not None:
        return cli.config_from_flags(cli.FLAGS, environ=environ)
    return cli.main(["train"])
