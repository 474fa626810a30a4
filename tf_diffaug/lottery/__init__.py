"""Lottery tickets and AdvAug for data-efficient GANs (Chen et al., NeurIPS 2021, arXiv:2103.00397).

- ``PruningMasks`` / ``MaskConstraint``: masks as first-class objects that keep pruned weights
  exactly zero through any Keras optimizer (weight decay and ``tf.distribute`` included) and
  round-trip through ``.keras`` files and ``.npz`` masks files.
- ``global_magnitude_masks``: one round of global unstructured magnitude pruning.
- ``TrainingSnapshot`` / ``reset_optimizer``: rewinding to initialization or an early step.
- ``find_ticket`` / ``train_ticket``: iterative magnitude pruning of a compiled ``td.GAN``.
- ``FeatureAdvAug`` (for a GAN train step), ``split_model`` / ``bind_tail`` /
  ``adversarial_features`` / ``advaug_loss``: AdvAug feature perturbation.
"""

from tf_diffaug.lottery.advaug import (
    FeatureAdvAug,
    advaug_loss,
    adversarial_features,
    bind_tail,
    mean_logit,
    split_model,
)
from tf_diffaug.lottery.masks import MaskConstraint, PruningMasks, is_prunable_kernel, prunable_kernels
from tf_diffaug.lottery.pruning import expected_sparsity, global_magnitude_masks, rounds_for_sparsity
from tf_diffaug.lottery.rewind import TrainingSnapshot, reset_optimizer
from tf_diffaug.lottery.ticket import Ticket, find_ticket, train_ticket

__all__ = [
    "FeatureAdvAug",
    "MaskConstraint",
    "PruningMasks",
    "Ticket",
    "TrainingSnapshot",
    "adversarial_features",
    "bind_tail",
    "advaug_loss",
    "expected_sparsity",
    "find_ticket",
    "global_magnitude_masks",
    "is_prunable_kernel",
    "mean_logit",
    "prunable_kernels",
    "reset_optimizer",
    "rounds_for_sparsity",
    "split_model",
    "train_ticket",
]
