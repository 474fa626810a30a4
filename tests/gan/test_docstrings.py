"""The `Example:` sections of tf_diffaug.gan's docstrings run and print what they claim."""

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_diffaug import _lazy
from tf_diffaug.gan import adaptive, advaug, callbacks, ema, losses, model, perturbation, regularizers, saved_state

MODULES = [_lazy, adaptive, advaug, callbacks, ema, losses, model, perturbation, regularizers, saved_state]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    globs = {"keras": keras, "np": np, "tf": tf, **vars(module)}
    result = doctest.testmod(module, globs=globs, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
