"""Subprocesses of the tests: a Python with the repository root on PYTHONPATH, so `tests.helpers` imports."""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def environment(**overrides):
    """`os.environ` plus `overrides`, with the repository root first on PYTHONPATH."""
    env = dict(os.environ, **overrides)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def python_command(*args, timeout=None):
    """`[sys.executable, *args]`, under `timeout -k 10 SECONDS` when `timeout` is given (a hung
    collective can then never outlive the test)."""
    command = [sys.executable, *map(str, args)]
    return ["timeout", "-k", "10", str(timeout), *command] if timeout else command
