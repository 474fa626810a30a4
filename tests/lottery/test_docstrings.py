"""The Example: sections of the lottery modules run and print what they claim.

AdvAug's examples live with its code in `tf_diffaug.gan.advaug` (tests/gan/test_docstrings.py);
`tf_diffaug.lottery.advaug` only re-exports it (checked in tests/lottery/test_advaug.py).
"""

import doctest
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

MODULES = ["pruning", "masks", "rewind", "ticket"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"tf_diffaug.lottery.{name}")
    result = doctest.testmod(module, extraglobs={"np": np, "keras": keras, "tf": tf}, verbose=False)
    assert result.failed == 0
    if name != "ticket":  # ticket's examples need a dataset and are marked +SKIP
        assert result.attempted > 0
