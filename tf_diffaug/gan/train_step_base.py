"""The backend-neutral half of `td.GAN`'s training step: the math of one step, in `keras.ops`.

`td.GAN`'s step (see `tf_diffaug/gan/train_step.py` for its contract: the order of the updates,
the strided slices of the reals, the per-replica scaling) has one source of its math, written
here, and one thin binding per backend that owns the gradients, the optimizer updates and where
state lives:

- `tf_diffaug.gan.train_step.GANTrainStep` (TensorFlow): `tf.GradientTape`, `apply_gradients` on
  the variables, the `tf.distribute` replica context (all-reduces, each replica's slice of the
  random draws);
- `tf_diffaug.gan.train_step_jax.GANJaxTrainStep` (JAX): Keras' stateless
  `train_step(state, data)`, `jax.value_and_grad` and `optimizer.stateless_apply`, every variable
  threaded through `keras.StatelessScope`.

What the bindings share: reading the data and the strided real slices, the latent draws, D's
objective (adversarial loss, R1, consistency, LeCam with its anchors' update, the logged
statistics), G's objective, and the end of the step (step counter, EMA, ADA `p`, trackers, logs).
A binding provides `_num_replicas()`, `_replica_start(local_batch)` (the first row of this
replica's slice of a global draw), `_all_reduce_sum(values)` and `_augment(images, apply)`.
"""

import functools
import operator

import keras
from keras import ops

from tf_diffaug.gan import ema as ema_lib
from tf_diffaug.gan import modes

# Which images the augmentation `T` is applied to: (reals in D step, fakes in D step, fakes in G step).
AUGMENT_MODES = modes.AUGMENT_MODES


def _sum(values):
    return ops.sum(ops.cast(values, "float32"))


def _add_n(values):
    """`values[0] + values[1] + ...`, left to right (as `tf.add_n`)."""
    return functools.reduce(operator.add, values)


def real_slices_message(d_steps):
    """The error text of an element whose size is not a multiple of `d_steps`."""
    return (
        f"With d_steps={d_steps} every batch must hold d_steps x batch_size real images (one slice per "
        f"D update, as BigGAN-PyTorch's num_D_steps): batch the dataset at {d_steps} x batch_size."
    )


class GANTrainStepBase:
    """The step's math on the model's parts (`td.GAN`'s networks, settings and what `compile` builds)."""

    def _augment_flags(self):
        if self.augment is None:
            return (False, False, False)
        return AUGMENT_MODES[self.augment_mode]

    def _discriminate(self, images, labels):
        inputs = images if labels is None else [images, labels]
        return ops.reshape(ops.cast(self.discriminator(inputs, training=True), "float32"), [-1])

    def _generate_batch(self, z, labels, training=True):
        inputs = z if labels is None else [z, labels]
        return self.generator(inputs, training=training)

    def _sample_latents(self, local_batch):
        """Draws this replica's `z` (and fake labels): its slice of a global-batch draw."""
        replicas = self._num_replicas()
        start = self._replica_start(local_batch)
        z = keras.random.normal((replicas * local_batch, self.latent_dim), seed=self.seed_generator)
        z = z[start : start + local_batch]
        labels = None
        if self.num_classes is not None:
            labels = keras.random.randint((replicas * local_batch,), 0, self.num_classes, seed=self.seed_generator)
            labels = ops.cast(labels[start : start + local_batch], "int32")
        return z, labels

    def _unpack(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.num_classes is not None and labels is None:
            raise ValueError(f"num_classes={self.num_classes}: the dataset must yield (images, labels) pairs.")
        if labels is not None and self.num_classes is None:
            labels = None  # unconditional GAN: ignore labels that a dataset may carry
        if labels is not None:
            labels = ops.cast(ops.reshape(labels, [-1]), "int32")
        return images, labels

    # --------------------------------------------------------------------------------- D update
    def _lecam_penalty(self, real_logits, fake_logits, global_batch, step):
        """LeCam in the official order: the anchors take this update's global mean logits, then the penalty reads them.

        google/lecam-gan: `losses.loss_hinge_dis` updates `ema.D_real` / `ema.D_fake` with the
        batch means before `train_fns.py` computes `lecam_reg` with them, at every D step. The
        means are constants (`.item()` there, `stop_gradient` and an all-reduce here).
        """
        if not self.lecam.enabled:
            return None
        means = {
            "real": _sum(ops.stop_gradient(real_logits)) / global_batch,
            "fake": _sum(ops.stop_gradient(fake_logits)) / global_batch,
        }
        means = self._all_reduce_sum(means)
        self.lecam.update(means["real"], means["fake"], step)
        return self.lecam.penalty(real_logits, fake_logits, step)

    def _discriminator_objective(self, real, real_labels, fake, fake_labels, global_batch):
        """D's loss of one update and what it logs: `(loss, statistics)`, on already generated `fake`.

        Runs inside the binding's gradient (tape or `jax.value_and_grad`): D's forward passes on
        `T(real)` (with R1's own gradient when enabled) and `T(fake)`, the adversarial loss, the
        weighted R1, consistency and LeCam terms (LeCam's anchors updated first). `loss` is the
        per-replica sum over the global batch; the statistics are per-replica sums, all-reduced by
        `_discriminator_statistics`.
        """
        aug_real, aug_fake, _ = self._augment_flags()
        step = self.step_counter.value  # training steps completed before this one
        perturbed = {}  # the strategy's logits at perturbed features (None for the plain step)

        def discriminate(key, labels):
            # One-output `fn(images)` for R1's gradient; the perturbed logits are collected on the side.
            def fn(images):
                clean, perturbed[key] = self.feature_perturbation.discriminator_logits(images, labels)
                return clean

            return fn

        real_logits, r1 = self.r1.real_logits(
            discriminate("real", real_labels), lambda x: self._augment(x, aug_real), real
        )
        fake_logits = discriminate("fake", fake_labels)(self._augment(fake, aug_fake))
        adversarial, extra = self.feature_perturbation.discriminator_loss(
            self.adversarial_loss, real_logits, fake_logits, perturbed["real"], perturbed["fake"]
        )
        stats = {name: _sum(value) / global_batch for name, value in extra.items()}
        penalties = (
            (self.r1, r1),
            (
                self.consistency,
                self.consistency.penalty(real_logits, lambda: self._discriminate(real, real_labels)),
            ),
            (self.lecam, self._lecam_penalty(real_logits, fake_logits, global_batch, step)),
        )
        total = adversarial
        for regularizer, penalty in penalties:
            if penalty is not None:
                total += regularizer.coefficient * penalty
                stats[regularizer.name] = _sum(penalty) / global_batch
        stats.update(
            d_loss=_sum(adversarial) / global_batch,
            real_score=_sum(real_logits) / global_batch,
            fake_score=_sum(fake_logits) / global_batch,
            real_sign_sum=_sum(ops.sign(real_logits)),
        )
        return _sum(total) / global_batch, stats

    def _discriminator_statistics(self, stats, local_batch):
        """The update's logged statistics, all-reduced (global per-example means, global sign sums and counts)."""
        stats = dict(stats, real_count=ops.cast(local_batch, "float32"))
        return self._all_reduce_sum(stats)

    # --------------------------------------------------------------------------------- G update
    def _generator_objective(self, z, fake_labels, global_batch):
        """G's loss of one update and what it logs: `(loss, statistics)`, statistics all-reduced by the caller."""
        _, _, aug_fake_g = self._augment_flags()

        def d_fn(images):  # D's logits as the G step sees them: through T when augmenting fakes
            return self._discriminate(self._augment(images, aug_fake_g), fake_labels)

        per_example, extra = self.feature_perturbation.generator_loss(self.adversarial_loss, z, fake_labels, d_fn)
        stats = {name: _sum(value) / global_batch for name, value in extra.items()}
        loss = _sum(per_example) / global_batch
        stats["g_loss"] = loss
        return loss, stats

    # ------------------------------------------------------------------------------- the step
    def _real_slices(self, real, real_labels):
        """The reals (and labels) of each D update: `d_steps` strided slices of the element, and the slice size.

        Raises:
            ValueError: (at trace time) when the element's static size is not a multiple of
                `d_steps`; a dynamic size (TensorFlow only) is checked by the binding's
                `_check_dynamic_slices`.
        """
        k = self.d_steps
        if k == 1:
            return [(real, real_labels)], ops.shape(real)[0]
        size = real.shape[0]
        if size is not None and size % k:
            raise ValueError(f"{real_slices_message(k)} Received a batch of {size} images, not a multiple of {k}.")
        local_batch = ops.shape(real)[0] // k
        if size is None:
            real, real_labels = self._check_dynamic_slices(real, real_labels, local_batch)
        slices = [(real[i::k], None if real_labels is None else real_labels[i::k]) for i in range(k)]
        return slices, local_batch

    def _generator_batch(self, d_local_batch):
        """`(local, global)` G batch: `g_batch_size` split over the replicas, or the D update's batch."""
        replicas = self._num_replicas()
        if self.g_batch_size is None:
            return d_local_batch, ops.cast(d_local_batch * replicas, "float32")
        if self.g_batch_size % replicas:
            raise ValueError(
                f"g_batch_size={self.g_batch_size} is the global G batch; it must be divisible by the "
                f"{replicas} replicas."
            )
        return self.g_batch_size // replicas, ops.convert_to_tensor(float(self.g_batch_size), "float32")

    def _update_ema(self, step):
        decay = ops.where(step > self.ema_start_step, self.ema_decay, 0.0)
        ema_lib.update_ema(ema_lib.ema_pairs(self.ema_generator, self.generator), decay)

    def _finish_step(self, d_stats, g_stats):
        """After the updates: step counter, EMA, ADA `p` (every `ada_interval` steps), trackers; returns the logs."""
        self.step_counter.assign_add(1)
        step = self.step_counter.value
        self._update_ema(step)
        if self.ada is not None:
            self.ada.update(
                step, _add_n([s["real_sign_sum"] for s in d_stats]), _add_n([s["real_count"] for s in d_stats])
            )

        for name in self._active_trackers:
            if name in g_stats:
                self.trackers[name].update_state(g_stats[name])
            else:
                self.trackers[name].update_state(_add_n([s[name] for s in d_stats]) / float(self.d_steps))
        logs = {name: self.trackers[name].result() for name in self._active_trackers}
        if self.ada is not None:
            logs["aug_p"] = self.ada.probability()
        return logs
