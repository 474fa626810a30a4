"""Shared fixtures of the augment tests: the NumPy reference module."""

import pytest

from tests.helpers import numpy_reference


@pytest.fixture(scope="session")
def ref():
    return numpy_reference
