"""The Example: sections of tf_diffaug.metrics' docstrings run and print what they claim."""

import doctest
import importlib

import pytest

MODULES = ["resize", "reference", "distances", "folders", "__main__", "inception", "callback"]
RUNNABLE = {"resize", "reference", "distances"}  # the others' examples need the network or folders


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"tf_diffaug.metrics.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in RUNNABLE:
        assert result.attempted > 0
