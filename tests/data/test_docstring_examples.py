"""The Example: sections of tf_diffaug.data's docstrings run and print what they claim."""

import doctest

import pytest

import tf_diffaug.data
from tf_diffaug.data import builtin, folder, pipeline, source, tfds_source, transforms


@pytest.mark.parametrize(
    "module",
    [tf_diffaug.data, builtin, folder, pipeline, source, tfds_source, transforms],
    ids=lambda module: module.__name__,
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if module in (builtin, pipeline, source, transforms):
        assert result.attempted > 0  # these modules do carry runnable examples
