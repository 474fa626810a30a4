"""The Example: sections of tf_diffaug.networks' docstrings run and print what they claim."""

import doctest

import pytest

from tf_diffaug.networks import (
    biggan,
    blocks,
    dcgan,
    equalized,
    presets,
    registry,
    residual,
    sngan,
    style_blocks,
    stylegan2,
)

MODULES = [biggan, blocks, dcgan, equalized, presets, registry, residual, sngan, style_blocks, stylegan2]


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
