"""Transitional: `tests/helpers/numpy_reference.py` under its old path, for `backend_check.py`.

`tests/augment/backend_check.py` (owned with test_backends.py) still loads this file by path; once
it imports `tests.helpers.numpy_reference` this alias goes. It holds no code of its own.
"""

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "tests.helpers.numpy_reference", pathlib.Path(__file__).resolve().parents[1] / "helpers" / "numpy_reference.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})
