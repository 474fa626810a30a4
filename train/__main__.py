"""Entry point of `python -m train` (from a checkout); the same as the `tf-diffaug-train` script."""

from . import main as _cli  # relative: the folder may be installed under another package name

# absl prints the __main__ module's docstring as usage text on a bad flag: show the CLI's.
__doc__ = _cli.__doc__

if __name__ == "__main__":
    _cli.run()
