"""Entry point of `python -m train` (from a checkout); the same as the `tf-diffaug-train` script."""

import train.main

# absl prints the __main__ module's docstring as usage text on a bad flag: show the CLI's.
__doc__ = train.main.__doc__

if __name__ == "__main__":
    train.main.run()
