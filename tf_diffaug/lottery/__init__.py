"""Lottery tickets and AdvAug for data-efficient GANs (Chen et al., NeurIPS 2021, arXiv:2103.00397).

- ``PruningMasks`` / ``MaskConstraint``: masks as first-class objects that keep pruned weights
  exactly zero through any Keras optimizer (weight decay and ``tf.distribute`` included) and
  round-trip through ``.keras`` files and ``.npz`` masks files.
- ``global_magnitude_masks``: one round of global unstructured magnitude pruning; which kernels
  are pruned: ``prune_scope="conv"`` (convolutions, as Chen et al.'s code) or ``"all"`` (also
  dense kernels).
- ``TrainingSnapshot`` / ``reset_optimizer``: rewinding to initialization or an early step.
- ``find_ticket`` / ``train_ticket``: iterative magnitude pruning of a compiled ``td.GAN``.
- ``FeatureAdvAug`` (for a GAN train step), ``split_model`` / ``bind_tail`` /
  ``adversarial_features`` / ``advaug_loss``: AdvAug feature perturbation. It is part of the GAN
  step and lives in ``tf_diffaug.gan.advaug``; ``tf_diffaug.lottery.advaug`` re-exports it.

Names load their module on first use.
"""

from tf_diffaug import _lazy

_ADVAUG = "tf_diffaug.lottery.advaug"

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    {
        "FeatureAdvAug": _ADVAUG,
        "advaug_loss": _ADVAUG,
        "adversarial_features": _ADVAUG,
        "bind_tail": _ADVAUG,
        "mean_logit": _ADVAUG,
        "split_model": _ADVAUG,
        "MaskConstraint": "masks",
        "PruningMasks": "masks",
        "PRUNE_SCOPES": "masks",
        "is_conv_kernel": "masks",
        "is_prunable_kernel": "masks",
        "kernel_selection": "masks",
        "prunable_kernels": "masks",
        "expected_sparsity": "pruning",
        "global_magnitude_masks": "pruning",
        "rounds_for_sparsity": "pruning",
        "TrainingSnapshot": "rewind",
        "reset_optimizer": "rewind",
        "Ticket": "ticket",
        "find_ticket": "ticket",
        "train_ticket": "ticket",
    },
)
