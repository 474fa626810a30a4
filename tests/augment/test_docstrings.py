"""The Example: sections of tf_diffaug.augment's docstrings run and print what they claim."""

import doctest

import pytest

from tf_diffaug.augment import adaptive, fused, layers, ops, policy


@pytest.mark.parametrize("module", [ops, fused, policy, layers, adaptive], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    before = set(policy.registered_names())  # the policy examples register names: remove them afterwards
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        for name in set(policy.registered_names()) - before:
            policy.unregister_policy(name)
    assert result.attempted > 0 and result.failed == 0
