"""Exponential moving average (EMA) of the generator's weights.

The EMA generator is the model used for sampling and evaluation (Karras et al., "Progressive
Growing of GANs", ICLR 2018; Yazici et al., "The Unusual Effectiveness of Averaging in GAN
Training", ICLR 2019, arXiv:1806.04498). After every generator update at training step `s`
(counted from 1):

    ema <- w                                    if s <= start_step
    ema <- decay * ema + (1 - decay) * w        otherwise

for every trainable weight `w` of the generator; non-trainable state (batch-norm moving statistics,
spectral-norm power-iteration vectors `vector_u`) is copied, `ema_state <- state`.

Copy, not average: this is StyleGAN2-ADA's rule (NVlabs/stylegan2-ada-pytorch
`training/training_loop.py`, "Update G_ema": `p_ema.copy_(p.lerp(p_ema, ema_beta))` for the
parameters, `b_ema.copy_(b)` for the buffers). BigGAN-PyTorch's `utils.ema` averages every
`state_dict` entry, buffers included; we do not, because (a) batch statistics are those of G's
current weights, and an average of old statistics matches neither G nor the averaged weights;
(b) the BigGAN-CIFAR code samples its EMA generator with batch norm in training mode (see
`td.GAN.generate(training=True)`), where moving statistics are not read and a power iteration runs
anyway; (c) copying keeps every existing run bit for bit. A kernel wrapped in Keras'
`SpectralNormalization` is a trainable weight and is averaged; its `vector_u` is copied.
"""

import keras
from keras import ops


def clone_generator(generator, name=None):
    """Builds a weight-identical, non-trainable copy of a generator for the EMA.

    Uses `keras.models.clone_model` (functional and Sequential models, or any model whose
    `get_config`/`from_config` round-trips) and copies the weights.

    Args:
        generator: a built `keras.Model`.
        name: optional name of the copy (defaults to `"ema_" + generator.name`).

    Returns:
        A new `keras.Model` with `trainable = False` and the same weights.

    Raises:
        ValueError: if the generator cannot be cloned.

    Example:
    >>> g = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> ema = clone_generator(g)
    >>> bool((ema.get_weights()[0] == g.get_weights()[0]).all())
    True
    """
    try:
        clone = keras.models.clone_model(generator)
    except Exception as error:  # clone_model raises many types for custom models
        raise ValueError(
            f"Cannot clone the generator {generator.name!r} for the EMA copy ({error}). Use a "
            "functional/Sequential model or one whose get_config()/from_config() round-trips."
        ) from error
    if not clone.built:
        raise ValueError(f"The EMA clone of generator {generator.name!r} is not built; build the generator first.")
    clone.set_weights(generator.get_weights())
    clone.trainable = False
    if name is not None or not clone.name.startswith("ema_"):
        clone.name = name or f"ema_{generator.name}"
    return clone


def ema_pairs(ema_model, model):
    """Pairs the EMA model's weights with the model's, checking that they match.

    Returns:
        list of `(ema_variable, variable, averaged)` where `averaged` is True for trainable weights.
    """
    ema_weights, weights = ema_model.weights, model.weights
    if len(ema_weights) != len(weights) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(ema_weights, weights)):
        raise ValueError(
            f"EMA model {ema_model.name!r} and model {model.name!r} have different weights: "
            f"{[tuple(v.shape) for v in ema_weights]} vs {[tuple(v.shape) for v in weights]}."
        )
    trainable = {id(v) for v in model.trainable_weights}
    return [(e, w, id(w) in trainable) for e, w in zip(ema_weights, weights)]


def update_ema(pairs, decay):
    """One EMA step over `ema_pairs(...)`: average trainable weights, copy the others.

    Args:
        pairs: the list returned by `ema_pairs`.
        decay: scalar in [0, 1]; 0 copies the weights (used before the start step).
    """
    decay = ops.cast(decay, "float32")
    for ema_variable, variable, averaged in pairs:
        value = variable.value if hasattr(variable, "value") else variable
        if averaged and ema_variable.dtype == variable.dtype:
            d = ops.cast(decay, value.dtype)
            ema_variable.assign(d * ema_variable.value + (1 - d) * value)
        else:
            ema_variable.assign(value)
