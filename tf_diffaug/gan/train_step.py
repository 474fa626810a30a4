"""The GAN's training step: D update(s), G update, EMA and ADA, written for any `tf.distribute` strategy.

This is the `train_step` half of `td.GAN` (see `tf_diffaug/gan/model.py` for the model, its
arguments and `compile`). The step composes the parts `compile` builds, each owning its state and
its rule: the R1, consistency and LeCam regularizers (`tf_diffaug.gan.regularizers`, LeCam with
its anchors), the ADA controller (`tf_diffaug.gan.adaptive.ADAController`, with its accumulators)
and the feature-perturbation strategy (`tf_diffaug.gan.perturbation`: the plain step or AdvAug).
The order inside one step is fixed:

1. `d_steps` discriminator updates, each with its own slice of the reals, its own latent batch
   and its own augmentation draws;
2. one generator update with a new latent batch (`g_batch_size` latents, or the D batch);
3. the step counter, the EMA generator and (every `ada_interval` steps) the ADA probability `p`.

The reals of a step: the step receives `d_steps * batch` images (and labels) and the `i`-th D
update uses rows `i, i + d_steps, i + 2 * d_steps, ...` (`real[i::d_steps]`), `batch` of them. This
is BigGAN-PyTorch's contract (mit-han-lab/data-efficient-gans `DiffAugment-biggan-cifar/train.py`
loads `batch_size * num_D_steps` images per iteration and `train_fns.py` gives D step `i` the chunk
`torch.split(x, batch_size)[i]`; Chen et al.'s SNGAN code draws a new batch per D step). The split is
strided rather than contiguous so that it does not depend on the replica count: a replica holding
the contiguous shard `[r * d_steps * b, (r + 1) * d_steps * b)` of the global element gives update
`i` the rows `i + d_steps * m` with `m` in `[r * b, (r + 1) * b)`, which are the single-device
slice's rows `m` (paired with the same latent and augmentation draws). On a shuffled dataset the
two splits are equally distributed.

Every update runs in the replica context: per-replica sums of per-example losses are divided by the
global per-update batch `num_replicas_in_sync * local_batch` (`local_batch` = local element size /
`d_steps` for a D update, the local G batch for the G update) and Keras' optimizers sum the
gradients over replicas, so the update equals the single-device one on the global batch. The values
logged are all-reduced once per update, so they are global per-example means and identical on all
replicas; state updated from them (EMA, LeCam anchors, ADA accumulators, `p`) stays in sync.
"""

import keras
import tensorflow as tf

from tf_diffaug.gan import ema as ema_lib
from tf_diffaug.gan import modes

# Which images the augmentation `T` is applied to: (reals in D step, fakes in D step, fakes in G step).
AUGMENT_MODES = modes.AUGMENT_MODES


def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None:
        raise RuntimeError(
            "GAN.train_step must run in a replica context: call fit(), or strategy.run(gan.train_step, ...)."
        )
    return context


def _sum(values):
    return tf.reduce_sum(tf.cast(values, tf.float32))


class GANTrainStep:
    """Mixin with `train_step` and its parts; `td.GAN` provides the networks, settings and parts.

    What the step reads from the model: the networks (`generator`, `discriminator`,
    `ema_generator`, `augment`) and the constructor settings (`augment_mode`, `latent_dim`,
    `num_classes`, `ema_decay`, `ema_start_step`), its state (`seed_generator`, `step_counter`), and
    what `compile` builds: `g_optimizer`, `d_optimizer`, `adversarial_loss`, `d_steps`,
    `g_batch_size`, the regularizers `r1`, `consistency`, `lecam`, the ADA controller `ada` (or
    None), the strategy `feature_perturbation` (set by the constructor) and the loss trackers.
    """

    def _augment_flags(self):
        if self.augment is None:
            return (False, False, False)
        return AUGMENT_MODES[self.augment_mode]

    def _augment(self, images, apply):
        """`T(images)` with this replica's own random parameters.

        Layers with the Keras preprocessing split (`get_random_transformation(images, training)`
        returning tensors with leading dimension B, and `transform_images(images, transformation)`,
        as `td.DiffAugment` and `td.augment.AdaptiveAugment`) draw parameters for the global batch
        from the shared seed and each replica applies its own slice, exactly like the latents: the
        augmentation differs across replicas and does not depend on the replica count. Other
        layers are simply called (under several replicas they then draw what their seed gives).
        """
        if not apply:
            return images
        context = _replica_context()
        replicas = context.num_replicas_in_sync
        split = hasattr(self.augment, "get_random_transformation") and hasattr(self.augment, "transform_images")
        if replicas == 1 or not split:
            return self.augment(images, training=True)
        local_batch = tf.shape(images)[0]
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * local_batch
        # Only the template's shape is read by the samplers.
        template = tf.zeros(tf.concat([[replicas * local_batch], tf.shape(images)[1:]], 0), images.dtype)
        template = tf.ensure_shape(template, [None] + list(images.shape[1:]))
        transformation = self.augment.get_random_transformation(template, training=True)
        own = tf.nest.map_structure(
            lambda t: t[start : start + local_batch] if tf.is_tensor(t) and t.shape.rank else t, transformation
        )
        return self.augment.transform_images(images, own)

    def _discriminate(self, images, labels):
        inputs = images if labels is None else [images, labels]
        return tf.reshape(tf.cast(self.discriminator(inputs, training=True), tf.float32), [-1])

    def _generate_batch(self, z, labels, training=True):
        inputs = z if labels is None else [z, labels]
        return self.generator(inputs, training=training)

    def _sample_latents(self, local_batch):
        """Draws this replica's `z` (and fake labels): its slice of a global-batch draw."""
        context = _replica_context()
        replicas = context.num_replicas_in_sync
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * local_batch
        z = keras.random.normal((replicas * local_batch, self.latent_dim), seed=self.seed_generator)
        z = z[start : start + local_batch]
        labels = None
        if self.num_classes is not None:
            labels = keras.random.randint((replicas * local_batch,), 0, self.num_classes, seed=self.seed_generator)
            labels = tf.cast(labels[start : start + local_batch], tf.int32)
        return z, labels

    def _unpack(self, data):
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.num_classes is not None and labels is None:
            raise ValueError(f"num_classes={self.num_classes}: the dataset must yield (images, labels) pairs.")
        if labels is not None and self.num_classes is None:
            labels = None  # unconditional GAN: ignore labels that a dataset may carry
        if labels is not None:
            labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
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
            "real": _sum(tf.stop_gradient(real_logits)) / global_batch,
            "fake": _sum(tf.stop_gradient(fake_logits)) / global_batch,
        }
        means = _replica_context().all_reduce(tf.distribute.ReduceOp.SUM, means)
        self.lecam.update(means["real"], means["fake"], step)
        return self.lecam.penalty(real_logits, fake_logits, step)

    def _discriminator_update(self, real, real_labels, local_batch, global_batch):
        aug_real, aug_fake, _ = self._augment_flags()
        z, fake_labels = self._sample_latents(local_batch)
        fake = tf.stop_gradient(self._generate_batch(z, fake_labels))
        real = tf.cast(real, fake.dtype)
        step = self.step_counter.value  # training steps completed before this one
        perturbed = {}  # the strategy's logits at perturbed features (None for the plain step)

        def discriminate(key, labels):
            # One-output `fn(images)` for R1's tape; the perturbed logits are collected on the side.
            def fn(images):
                clean, perturbed[key] = self.feature_perturbation.discriminator_logits(images, labels)
                return clean

            return fn

        with tf.GradientTape() as tape:
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
            loss = _sum(total) / global_batch
            scaled_loss = self.d_optimizer.scale_loss(loss)
        variables = self.discriminator.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.d_optimizer.apply_gradients(zip(gradients, variables))
        stats.update(
            d_loss=_sum(adversarial) / global_batch,
            real_score=_sum(real_logits) / global_batch,
            fake_score=_sum(fake_logits) / global_batch,
            real_sign_sum=_sum(tf.sign(real_logits)),
            real_count=tf.cast(local_batch, tf.float32),
        )
        return _replica_context().all_reduce(tf.distribute.ReduceOp.SUM, stats)

    # --------------------------------------------------------------------------------- G update
    def _generator_update(self, local_batch, global_batch):
        _, _, aug_fake_g = self._augment_flags()
        z, fake_labels = self._sample_latents(local_batch)

        def d_fn(images):  # D's logits as the G step sees them: through T when augmenting fakes
            return self._discriminate(self._augment(images, aug_fake_g), fake_labels)

        with tf.GradientTape() as tape:
            per_example, extra = self.feature_perturbation.generator_loss(self.adversarial_loss, z, fake_labels, d_fn)
            stats = {name: _sum(value) / global_batch for name, value in extra.items()}
            loss = _sum(per_example) / global_batch
            scaled_loss = self.g_optimizer.scale_loss(loss)
        variables = self.generator.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.g_optimizer.apply_gradients(zip(gradients, variables))
        stats["g_loss"] = loss
        return _replica_context().all_reduce(tf.distribute.ReduceOp.SUM, stats)

    # ----------------------------------------------------------------------------------- EMA
    def _update_ema(self, step):
        decay = tf.where(step > self.ema_start_step, self.ema_decay, 0.0)
        ema_lib.update_ema(ema_lib.ema_pairs(self.ema_generator, self.generator), decay)

    # ------------------------------------------------------------------------------- the step
    def _real_slices(self, real, real_labels):
        """The reals (and labels) of each D update: `d_steps` strided slices of the element, and the slice size.

        Raises:
            ValueError: (at trace time) when the element's static size is not a multiple of
                `d_steps`; a dynamic size is checked by a `tf.debugging` assertion (under XLA,
                which ignores assertions, the remainder rows are dropped instead).
        """
        k = self.d_steps
        if k == 1:
            return [(real, real_labels)], tf.shape(real)[0]
        message = (
            f"With d_steps={k} every batch must hold d_steps x batch_size real images (one slice per "
            f"D update, as BigGAN-PyTorch's num_D_steps): batch the dataset at {k} x batch_size."
        )
        size = real.shape[0]
        if size is not None and size % k:
            raise ValueError(f"{message} Received a batch of {size} images, not a multiple of {k}.")
        local_batch = tf.shape(real)[0] // k
        if size is None:
            check = tf.debugging.assert_equal(tf.shape(real)[0] % k, 0, message=message)
            with tf.control_dependencies([check]):
                # XLA drops assertions: there a remainder is dropped, so every slice has local_batch rows.
                real = real[: local_batch * k]
                real_labels = None if real_labels is None else real_labels[: local_batch * k]
        slices = [(real[i::k], None if real_labels is None else real_labels[i::k]) for i in range(k)]
        return slices, local_batch

    def _generator_batch(self, d_local_batch):
        """`(local, global)` G batch: `g_batch_size` split over the replicas, or the D update's batch."""
        replicas = _replica_context().num_replicas_in_sync
        if self.g_batch_size is None:
            return d_local_batch, tf.cast(d_local_batch * replicas, tf.float32)
        if self.g_batch_size % replicas:
            raise ValueError(
                f"g_batch_size={self.g_batch_size} is the global G batch; it must be divisible by the "
                f"{replicas} replicas."
            )
        return self.g_batch_size // replicas, tf.constant(float(self.g_batch_size), tf.float32)

    def train_step(self, data):
        """One training step on `d_steps * batch` reals (and labels); returns the logs.

        Args:
            data: images `[d_steps * batch, H, W, C]` (or `(images, labels)`); D update `i` uses
                `images[i::d_steps]`. With `d_steps > 1` a size that is not a multiple of
                `d_steps` is an error (a ValueError when the size is static, else a failed
                `tf.debugging` assertion).

        Returns:
            dict of float32 scalars (rank-1 `[1]` under `MultiWorkerMirroredStrategy`):
            `d_loss` (adversarial part, mean over D updates), `g_loss`, `real_score`/`fake_score`
            (mean logits of D's real/fake inputs in the D step), the un-weighted `r1_penalty`,
            `cr_penalty`, `lecam_penalty` when enabled (0 until the LeCam term starts,
            see `td.gan.regularizers.LeCamRegularizer`), `aug_p` when adaptive, and with AdvAug
            `d_advaug_loss`/`g_advaug_loss` (the losses at the perturbed features; `d_loss` and
            `g_loss` are then the means of the clean and perturbed losses, the ones minimized). Each is the
            running mean over the epoch (the Keras tracker convention), `aug_p` the current value.
        """
        real, real_labels = self._unpack(data)
        slices, local_batch = self._real_slices(real, real_labels)
        global_batch = tf.cast(local_batch * _replica_context().num_replicas_in_sync, tf.float32)

        d_stats = [
            self._discriminator_update(real_slice, labels_slice, local_batch, global_batch)
            for real_slice, labels_slice in slices
        ]
        g_stats = self._generator_update(*self._generator_batch(local_batch))

        self.step_counter.assign_add(1)
        step = self.step_counter.value
        self._update_ema(step)
        if self.ada is not None:
            self.ada.update(
                step, tf.add_n([s["real_sign_sum"] for s in d_stats]), tf.add_n([s["real_count"] for s in d_stats])
            )

        for name in self._active_trackers:
            if name in g_stats:
                self.trackers[name].update_state(g_stats[name])
            else:
                self.trackers[name].update_state(tf.add_n([s[name] for s in d_stats]) / float(self.d_steps))
        logs = {name: self.trackers[name].result() for name in self._active_trackers}
        if self.ada is not None:
            logs["aug_p"] = self.ada.probability()
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs
