"""The Example: sections of tf_diffaug.augment's docstrings run and print what they claim."""

import doctest

import pytest

from tf_diffaug.augment import adaptive, fused, layers, ops, policy


@pytest.mark.parametrize("module", [ops, fused, policy, layers, adaptive], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    registry = dict(policy._REGISTRY)  # the policy examples register names: restore afterwards
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        policy._REGISTRY.clear()
        policy._REGISTRY.update(registry)
    assert result.attempted > 0 and result.failed == 0
