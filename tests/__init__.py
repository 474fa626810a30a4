"""The tf_diffaug test suite (a package, so that `tests.helpers` imports like any module)."""
