"""Test helpers shared by the test folders and their subprocess workers.

- `gan_helpers`: tiny deterministic networks, marker augmentations and `all_state` for td.GAN tests;
- `lottery_toy_gan`: a minimal GAN with td.GAN's attribute names for the lottery driver;
- `numpy_reference`: loop-based NumPy references of the DiffAugment ops;
- `processes`: the environment and command line of test subprocesses (repository root on PYTHONPATH).

Import them as `from tests.helpers import gan_helpers` (pyproject's `pythonpath = ["."]` puts the
repository root on `sys.path` under pytest; subprocesses get it through `processes.environment()`).
"""
