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

from tf_diffaug.lottery.advaug import FeatureAdvAug
from tf_diffaug.lottery.advaug import adversarial_features
from tf_diffaug.lottery.advaug import bind_tail
from tf_diffaug.lottery.advaug import advaug_loss
from tf_diffaug.lottery.advaug import mean_logit
from tf_diffaug.lottery.advaug import split_model
from tf_diffaug.lottery.masks import MaskConstraint
from tf_diffaug.lottery.masks import PruningMasks
from tf_diffaug.lottery.masks import is_prunable_kernel
from tf_diffaug.lottery.masks import prunable_kernels
from tf_diffaug.lottery.pruning import expected_sparsity
from tf_diffaug.lottery.pruning import global_magnitude_masks
from tf_diffaug.lottery.pruning import rounds_for_sparsity
from tf_diffaug.lottery.rewind import TrainingSnapshot
from tf_diffaug.lottery.rewind import reset_optimizer
from tf_diffaug.lottery.ticket import Ticket
from tf_diffaug.lottery.ticket import find_ticket
from tf_diffaug.lottery.ticket import train_ticket

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
