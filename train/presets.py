"""The presets the CLI offers: those of `tf_diffaug.experiment.presets` (data, with sources).

Kept as a re-export so `train/` has one obvious place that lists what `--preset` accepts.
"""

from tf_diffaug.experiment.presets import DEFAULT_PRESET, DEFAULTS, PRESETS, get_preset

__all__ = ["DEFAULT_PRESET", "DEFAULTS", "PRESETS", "get_preset"]
