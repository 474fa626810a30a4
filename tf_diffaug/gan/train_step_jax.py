"""`td.GAN`'s training step on Keras' JAX backend: the stateless binding of `train_step_base`.

Keras' JAX trainer calls `train_step(state, data)` under `jax.jit` with `state =
(trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)`, lists of
arrays in the order of `model.trainable_variables`, `model.non_trainable_variables`,
`model.optimizer.variables` and `model.metrics_variables`, and expects `(logs, new_state)`. The
step's math is the backend-neutral one of `tf_diffaug.gan.train_step_base`, the same code the
TensorFlow step runs; this module only threads the state:

- every part of the step runs inside a `keras.StatelessScope` holding the current value of every
  variable of the model (networks, EMA copy, BN moving statistics, spectral-norm vectors, the
  seed generators' states, step counter, LeCam anchors, ADA accumulators and `p`, both
  optimizers' variables, the trackers); what the part assigns is read back from the scope, so
  random draws advance their `SeedGenerator` and each update sees the previous one's state;
- each update's gradient is `jax.value_and_grad` of the objective over its network's trainable
  weights, applied with `optimizer.stateless_apply` (D with `d_optimizer`, G with `g_optimizer`);
- R1's gradient w.r.t. the images is a nested `jax.grad` (`input_gradient`), differentiable again
  for the outer gradient (DiffAugment's JAX kernel has closed-form derivatives of every order);
- a trainable weight that the forward pass assigns (Keras' `SpectralNormalization` writes the
  normalized kernel in training mode) gets the new value with an identity gradient, as a
  TensorFlow tape sees a variable read after an assignment: the two backends train alike.

`model.optimizer` (which Keras' JAX trainer reads) is an `OptimizerPair` of `g_optimizer` and
`d_optimizer`. Under `keras.distribution.DataParallel` the step sees global arrays: one "replica",
latents and augmentation parameters drawn for the global batch, sums divided by it.

Not supported on JAX (an error at `compile`): AdvAug (`advaug_gamma > 0`) and `mixed_float16`
loss scaling (`LossScaleOptimizer`). `tf.distribute` strategies are TensorFlow's.
"""

import jax
import keras
from keras import ops
from keras.src.backend.common.stateless_scope import get_stateless_scope  # no public accessor

from tf_diffaug.gan.train_step_base import GANTrainStepBase

__all__ = ["GANJaxTrainStep", "OptimizerPair", "input_gradient"]


class _ThreadedScope(keras.StatelessScope):
    """A `StatelessScope` on `mapping` (variable id -> value) that records what it started with.

    `leaves` maps the ids of the variables being differentiated to their input values; an
    assignment to one of them stores `leaf + stop_gradient(value - leaf)`: the new value, with the
    gradient of the variable itself (a TensorFlow tape's view of a read after an assignment).
    """

    def __init__(self, mapping, leaves=None):
        super().__init__()
        self.state_mapping = dict(mapping)
        self.initial = dict(mapping)
        self.leaves = dict(leaves or {})

    def add_update(self, update):
        variable, value = update
        leaf = self.leaves.get(id(variable))
        if leaf is not None:
            value = leaf + jax.lax.stop_gradient(value - leaf)
        self.state_mapping[id(variable)] = value

    def changes(self):
        """`{variable id: value}` of what was assigned in the scope."""
        return {k: v for k, v in self.state_mapping.items() if self.initial.get(k) is not v}


def input_gradient(fn, images):
    """`(grad_x sum(fn(x)), fn(x))` at `x = images`, the JAX binding of R1's gradient.

    Inside the GAN's stateless step the gradient is taken in a copy of the current scope, and what
    `fn` assigns (D's spectral-norm vectors, the augmentation's seed state, ...) is written back,
    so state advances exactly as on TensorFlow; the result stays differentiable w.r.t. everything
    `fn` closes over (the outer gradient over D's weights). Outside a stateless scope `fn` must
    not assign variables (its assignments would be dropped).
    """
    outer = get_stateless_scope()
    mapping = {} if outer is None else outer.state_mapping
    leaves = getattr(outer, "leaves", {})

    def total(x):
        with _ThreadedScope(mapping, leaves) as scope:
            logits = fn(x)
        return ops.sum(ops.cast(logits, "float32")), (logits, scope.changes())

    gradients, (logits, changes) = jax.grad(total, has_aux=True)(images)
    if outer is not None:
        outer.state_mapping.update(changes)
    return gradients, logits


class OptimizerPair:
    """`model.optimizer` for Keras' JAX trainer: `variables` = `g_optimizer.variables + d_optimizer.variables`.

    The trainer passes these to `train_step` as `optimizer_variables` and writes them back after
    `fit`; the step applies each optimizer to its own network with `stateless_apply`.
    """

    built = True

    def __init__(self, g_optimizer, d_optimizer):
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    @property
    def variables(self):
        return list(self.g_optimizer.variables) + list(self.d_optimizer.variables)

    def scale_loss(self, loss):
        return loss


class _StepValues:
    """The current value of every variable of the model during one step, keyed by variable id."""

    def __init__(self, model, state):
        self.groups = (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
        self.values = {}
        for variables, values in zip(self.groups, state):
            self.values.update((id(v), x) for v, x in zip(variables, values))

    def scope(self, leaves=None):
        mapping = dict(self.values)
        mapping.update(leaves or {})
        return _ThreadedScope(mapping, leaves)

    def absorb(self, changes):
        self.values.update((k, v) for k, v in changes.items() if k in self.values)

    def get(self, variables):
        return [self.values[id(v)] for v in variables]

    def set(self, variables, values):
        self.values.update((id(v), x) for v, x in zip(variables, values))

    def state(self):
        return tuple(self.get(variables) for variables in self.groups)


def unsupported_features(model):
    """The names of `model`'s settings that the JAX step does not implement (empty when it trains)."""
    features = []
    if model.advaug_gamma:
        features.append(f"AdvAug (advaug_gamma={model.advaug_gamma})")
    scaled = [
        name
        for name in ("g_optimizer", "d_optimizer")
        if isinstance(getattr(model, name), keras.optimizers.LossScaleOptimizer)
    ]
    if scaled or model.dtype_policy.name == "mixed_float16":
        features.append("mixed_float16 loss scaling (LossScaleOptimizer)")
    return features


class GANJaxTrainStep(GANTrainStepBase):
    """Mixin with Keras' stateless JAX `train_step(state, data)`; `td.GAN` provides the parts (see `GANTrainStep`)."""

    def _num_replicas(self):
        return 1  # jit sees global arrays, under keras.distribution too

    def _replica_start(self, local_batch):
        return 0

    def _all_reduce_sum(self, values):
        return values

    def _augment(self, images, apply):
        return self.augment(images, training=True) if apply else images

    def _check_dynamic_slices(self, real, real_labels, local_batch):
        raise ValueError(f"JAX steps have static shapes; received reals of shape {real.shape}.")

    def _bind_optimizers(self, g_optimizer, d_optimizer):
        """Refuses what the JAX step does not implement; `model.optimizer` becomes their `OptimizerPair`."""
        features = unsupported_features(self)
        if features:
            raise ValueError(
                f"td.GAN's JAX train step does not support {', '.join(features)}. Train it on Keras' "
                "TensorFlow backend (KERAS_BACKEND=tensorflow), or compile without it."
            )
        self.optimizer = OptimizerPair(g_optimizer, d_optimizer)

    def _stateless_update(self, values, objective, network, optimizer):
        """One gradient step of `optimizer` on `network`'s trainable weights; returns the objective's statistics."""
        variables = network.trainable_variables

        def loss_fn(weights):
            with values.scope({id(v): w for v, w in zip(variables, weights)}) as scope:
                loss, stats = objective()
                loss = optimizer.scale_loss(loss)
            return loss, (stats, scope.changes())

        (_, (stats, changes)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(values.get(variables))
        values.absorb(changes)
        weights, optimizer_values = optimizer.stateless_apply(
            values.get(optimizer.variables), gradients, values.get(variables)
        )
        values.set(variables, weights)
        values.set(optimizer.variables, optimizer_values)
        return stats

    def _run(self, values, fn):
        with values.scope() as scope:
            result = fn()
        values.absorb(scope.changes())
        return result

    def _stateless_discriminator_update(self, values, real, real_labels, local_batch, global_batch):
        def sample():
            z, fake_labels = self._sample_latents(local_batch)
            fake = ops.stop_gradient(self._generate_batch(z, fake_labels))
            return ops.cast(real, fake.dtype), fake, fake_labels

        real, fake, fake_labels = self._run(values, sample)
        stats = self._stateless_update(
            values,
            lambda: self._discriminator_objective(real, real_labels, fake, fake_labels, global_batch),
            self.discriminator,
            self.d_optimizer,
        )
        return self._discriminator_statistics(stats, local_batch)

    def _stateless_generator_update(self, values, local_batch, global_batch):
        z, fake_labels = self._run(values, lambda: self._sample_latents(local_batch))
        return self._stateless_update(
            values, lambda: self._generator_objective(z, fake_labels, global_batch), self.generator, self.g_optimizer
        )

    def train_step(self, state, data):
        """One training step (Keras' JAX contract): `(logs, new_state)`; logs and semantics as `GANTrainStep.train_step`."""
        values = _StepValues(self, state)
        real, real_labels = self._unpack(data)
        slices, local_batch = self._real_slices(real, real_labels)
        global_batch = ops.cast(local_batch, "float32")
        d_stats = [
            self._stateless_discriminator_update(values, real_slice, labels_slice, local_batch, global_batch)
            for real_slice, labels_slice in slices
        ]
        g_stats = self._stateless_generator_update(values, *self._generator_batch(local_batch))
        logs = self._run(values, lambda: self._finish_step(d_stats, g_stats))
        return logs, values.state()
