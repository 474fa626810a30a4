"""Shared fixtures of the augment tests: the NumPy reference module, loaded by path."""

import importlib.util
import pathlib

import pytest

REFERENCE_PATH = pathlib.Path(__file__).with_name("numpy_reference.py")


@pytest.fixture(scope="session")
def ref():
    spec = importlib.util.spec_from_file_location("augment_numpy_reference", REFERENCE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
