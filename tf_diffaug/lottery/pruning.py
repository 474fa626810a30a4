"""Global unstructured magnitude pruning, the mask update of iterative magnitude pruning (IMP).

One round of IMP (Frankle & Carbin, "The Lottery Ticket Hypothesis", ICLR 2019, arXiv:1803.03635;
for GANs: Chen et al., "Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery Ticket
Perspective", NeurIPS 2021, arXiv:2103.00397) removes a fraction of the weights that are still
alive, ranked by absolute value over *all* prunable kernels of a network together ("global"
pruning), rather than the same fraction in every layer. The functions here are pure NumPy so
they can be checked against ``np.sort``; ``PruningMasks.prune`` applies them to a Keras model.
"""

import numpy as np


def check_fraction(fraction):
    """Validates a pruning fraction and returns it as a Python float.

    Args:
        fraction: the share of the *remaining* weights to remove, in [0, 1).

    Returns:
        ``float(fraction)``.

    Raises:
        ValueError: when the fraction is not a number in [0, 1).
    """
    try:
        value = float(fraction)
    except (TypeError, ValueError):
        raise ValueError(f"Pruning fraction must be a number in [0, 1). Received: fraction={fraction!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Pruning fraction must be in [0, 1). Received: fraction={fraction!r}")
    return value


def num_to_prune(num_alive, fraction):
    """Number of weights one round removes: ``round(fraction * num_alive)``.

    Rounding (half to even, as ``round`` does) keeps the global zero fraction within one weight of
    the requested fraction.

    Args:
        num_alive: weights still unpruned before the round.
        fraction: share of them to remove, in [0, 1).

    Returns:
        An ``int`` in ``[0, num_alive]``.
    """
    fraction = check_fraction(fraction)
    return int(min(num_alive, round(fraction * num_alive)))


def global_magnitude_masks(weights, masks, fraction):
    """New masks after one round of global unstructured magnitude pruning.

    Among the weights whose mask is 1, the ``round(fraction * alive)`` weights with the smallest
    absolute value over all arrays together get mask 0; every other mask entry is unchanged (pruned
    weights stay pruned). Ties are broken by position (a stable sort over the concatenation of
    the flattened arrays in order), so exactly that many weights are removed.

    Args:
        weights: list of float arrays (the kernels), any shapes.
        masks: list of arrays of the same shapes with entries 0 or 1 (the current masks).
        fraction: share of the alive weights to remove, in [0, 1).

    Returns:
        A list of float32 arrays of 0/1, one per kernel, shaped like ``weights``.

    Example:
        >>> w = [np.array([[0.1, -3.0], [2.0, 0.5]]), np.array([0.2, -0.05])]
        >>> m = [np.ones((2, 2)), np.ones(2)]
        >>> [x.tolist() for x in global_magnitude_masks(w, m, 0.5)]
        [[[0.0, 1.0], [1.0, 1.0]], [0.0, 0.0]]
    """
    if len(weights) != len(masks):
        raise ValueError(f"Got {len(weights)} weight arrays but {len(masks)} masks; expected one mask per kernel.")
    weights = [np.asarray(w) for w in weights]
    masks = [np.asarray(m) for m in masks]
    for i, (w, m) in enumerate(zip(weights, masks)):
        if w.shape != m.shape:
            raise ValueError(f"Mask {i} has shape {m.shape} but its kernel has shape {w.shape}; they must match.")
    new_masks = [(m != 0).astype(np.float32) for m in masks]
    if not weights:
        return new_masks
    flat_alive = np.concatenate([m.reshape(-1) for m in new_masks]) > 0
    flat_magnitude = np.concatenate([np.abs(w.astype(np.float64)).reshape(-1) for w in weights])
    alive_index = np.flatnonzero(flat_alive)
    count = num_to_prune(alive_index.size, fraction)
    if count == 0:
        return new_masks
    order = np.argsort(flat_magnitude[alive_index], kind="stable")
    flat_new = flat_alive.astype(np.float32)
    flat_new[alive_index[order[:count]]] = 0.0
    result, start = [], 0
    for m in new_masks:
        result.append(flat_new[start : start + m.size].reshape(m.shape))
        start += m.size
    return result


def expected_sparsity(fraction, rounds):
    """Zero fraction after ``rounds`` rounds of pruning ``fraction`` of the remaining weights.

    Closed form ``1 - (1 - fraction) ** rounds`` (up to rounding by at most one weight per round):
    e.g. 0.2 for 5 rounds gives 67.2 %, for 10 rounds 89.3 %.

    Args:
        fraction: share of the remaining weights removed per round, in [0, 1).
        rounds: number of rounds (>= 0).

    Returns:
        The zero fraction as a float.
    """
    fraction = check_fraction(fraction)
    return 1.0 - (1.0 - fraction) ** int(rounds)


def rounds_for_sparsity(target, fraction=0.2):
    """Smallest number of rounds at ``fraction`` per round that reaches at least ``target`` sparsity.

    Args:
        target: wanted zero fraction in [0, 1).
        fraction: share of the remaining weights removed per round, in (0, 1).

    Returns:
        An ``int``; e.g. ``rounds_for_sparsity(0.8)`` is 8 (83.2 % sparsity).
    """
    fraction = check_fraction(fraction)
    if not 0.0 <= float(target) < 1.0:
        raise ValueError(f"Target sparsity must be in [0, 1). Received: target={target!r}")
    if fraction == 0.0:
        raise ValueError("Pruning fraction must be > 0 to reach a target sparsity. Received: fraction=0.0")
    return int(np.ceil(np.log1p(-float(target)) / np.log1p(-fraction) - 1e-12))
