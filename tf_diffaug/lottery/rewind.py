"""Rewinding: snapshots of network weights and optimizer state, restored after each pruning round.

Lottery-ticket rewinding (Frankle & Carbin, ICLR 2019, arXiv:1803.03635) resets the surviving
weights to their values at initialization; "late rewinding" (Frankle, Dziugaite, Roy & Carbin,
"Linear Mode Connectivity and the Lottery Ticket Hypothesis", ICML 2020, arXiv:1912.05671) resets
them to their values after a few training steps, which finds tickets in deeper networks. A
``TrainingSnapshot`` records every weight of the given networks (kernels, biases, normalization
statistics, spectral-norm vectors) and the variables of the given optimizers at one moment, and
puts them back on request; ``PruningMasks.apply`` then zeroes the pruned weights again.

Optimizer state is rewound to the same moment as the weights: with rewinding to initialization
that is the optimizer's fresh state (iteration 0, zero Adam moments), with late rewinding the state
after ``k`` steps. An optimizer that was not built yet when the snapshot was taken is reset to
zero slots and iteration 0 (the initial state of Keras' SGD, Adam, AdamW, RMSprop, Lion; not of
Adagrad, whose accumulators start at ``initial_accumulator_value``). The learning rate and the
loss scale of a ``LossScaleOptimizer`` are never zeroed.
"""

import keras
import numpy as np

# Optimizer variables that are settings, not training state: never zeroed by a reset.
_SETTINGS = ("learning_rate", "dynamic_scale")  # dynamic_scale: LossScaleOptimizer's loss scale


def _is_setting(variable):
    return variable.name in _SETTINGS


def optimizer_state(optimizer):
    """The optimizer's variables as NumPy arrays, or ``None`` when it is not built yet."""
    if optimizer is None or not getattr(optimizer, "built", False):
        return None
    return [np.array(keras.ops.convert_to_numpy(v)) for v in optimizer.variables]


def reset_optimizer(optimizer, state=None):
    """Puts an optimizer back into ``state`` (from ``optimizer_state``) or its fresh zero state.

    Args:
        optimizer: a Keras optimizer (built or not; an unbuilt one is left alone).
        state: list of arrays from ``optimizer_state(optimizer)``, or ``None`` to zero the
            iteration counter and every slot variable (momenta, velocities), keeping the
            learning rate and a loss scale.

    Example:
        >>> opt = keras.optimizers.Adam(1e-3)
        >>> v = keras.Variable(np.ones(2))
        >>> opt.apply([keras.ops.ones(2)], [v])
        >>> reset_optimizer(opt)
        >>> int(opt.iterations)
        0
    """
    if optimizer is None or not getattr(optimizer, "built", False):
        return
    variables = optimizer.variables
    if state is not None:
        if len(state) != len(variables):
            raise ValueError(
                f"Optimizer {optimizer.name!r} has {len(variables)} variables but the saved state has "
                f"{len(state)}; it was built with different variables after the snapshot."
            )
        for variable, value in zip(variables, state):
            variable.assign(value)
        return
    for variable in variables:
        if not _is_setting(variable):
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))


class TrainingSnapshot:
    """Weights of some networks and state of some optimizers at one moment of training.

    Args:
        models: ``{name: keras.Model}``; ``None`` values are skipped.
        optimizers: ``{name: optimizer}``; ``None`` values are skipped.
        step: the training step the snapshot was taken at (informational, e.g. 0 for "init").
        variables: other variables to record (e.g. a GAN's step counter and adaptive p), put
            back by ``restore_variables``.

    Example:
        >>> net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> snap = TrainingSnapshot({"g": net})
        >>> _ = net.layers[0].kernel.assign(np.zeros((3, 2)))
        >>> snap.restore_model("g", net)
        >>> bool(np.any(net.layers[0].kernel.numpy() != 0))
        True
    """

    def __init__(self, models, optimizers=None, step=0, variables=()):
        self.step = int(step)
        self.variables = [(v, np.array(keras.ops.convert_to_numpy(v))) for v in variables]
        self.weights = {
            name: [np.array(w) for w in model.get_weights()] for name, model in models.items() if model is not None
        }
        self.optimizer_states = {
            name: optimizer_state(opt) for name, opt in (optimizers or {}).items() if opt is not None
        }

    def restore_model(self, name, model):
        """Sets ``model``'s weights to the ones recorded under ``name``."""
        if name not in self.weights:
            raise KeyError(f"No weights recorded for {name!r}. Recorded: {sorted(self.weights)}.")
        model.set_weights(self.weights[name])

    def restore_optimizer(self, name, optimizer):
        """Rewinds ``optimizer`` to the state recorded under ``name`` (zero state if it was unbuilt)."""
        if name not in self.optimizer_states:
            raise KeyError(f"No optimizer state recorded for {name!r}. Recorded: {sorted(self.optimizer_states)}.")
        reset_optimizer(optimizer, self.optimizer_states[name])

    def restore_variables(self):
        """Puts the recorded ``variables`` back to their values at the snapshot."""
        for variable, value in self.variables:
            variable.assign(value)

    def survivors_match(self, name, masks):
        """True when every unpruned kernel weight equals its recorded value exactly (a check)."""
        recorded = dict(zip([v.path for v in masks.model.weights], self.weights[name]))
        for variable, mask in zip(masks.kernels, masks.masks):
            current = keras.ops.convert_to_numpy(variable)
            if not np.array_equal(current[mask > 0], recorded[variable.path][mask > 0]):
                return False
        return True
