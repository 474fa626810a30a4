"""The GAN's training step: D update(s), G update, EMA and ADA, written for any `tf.distribute` strategy.

This is the `train_step` half of `td.GAN` (see `tf_diffaug/gan/model.py` for the model, its
arguments and `compile`). The order inside one step is fixed:

1. `d_steps` discriminator updates, each with its own latent batch and augmentation draws;
2. one generator update with a new latent batch;
3. the step counter, the EMA generator and (every `ada_interval` steps) the ADA probability `p`.

Every update runs in the replica context: per-replica sums of per-example losses are divided by the
global batch `num_replicas_in_sync * local_batch` and Keras' optimizers sum the gradients over
replicas, so the update equals the single-device one on the global batch. The values logged are
all-reduced once per update, so they are global per-example means and identical on all replicas;
state updated from them (EMA, LeCam anchors, ADA accumulators, `p`) stays in sync.
"""

import keras
import tensorflow as tf

from tf_diffaug.gan import adaptive, modes, regularizers
from tf_diffaug.gan import ema as ema_lib

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
    """Mixin with `train_step` and its parts; `td.GAN` provides the networks and settings."""

    _advaug = None  # a `td.lottery.FeatureAdvAug` when `advaug_gamma > 0` (set by `td.GAN`)

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

    def _discriminate_advaug(self, images, labels, perturbed):
        """D's clean logits; with AdvAug also appends the logits at perturbed features to `perturbed`.

        One D forward pass serves both (the head runs once); `perturbed` is a list so that the
        R1 path, which needs a one-output `fn(x)`, can collect the perturbed logits on the side.
        """
        if self._advaug is None:
            return self._discriminate(images, labels)
        clean, adv = self._advaug.discriminator_logits(images, labels, training=True)
        perturbed.append(tf.reshape(tf.cast(adv, tf.float32), [-1]))
        return tf.reshape(tf.cast(clean, tf.float32), [-1])

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
    def _discriminator_update(self, real, real_labels, local_batch, global_batch):
        aug_real, aug_fake, _ = self._augment_flags()
        z, fake_labels = self._sample_latents(local_batch)
        fake = tf.stop_gradient(self._generate_batch(z, fake_labels))
        real = tf.cast(real, fake.dtype)
        stats, perturbed = {}, []
        with tf.GradientTape() as tape:
            if self.r1_gamma > 0:
                if self.r1_through_augment:
                    r1, real_logits = regularizers.r1_penalty(
                        lambda x: self._discriminate_advaug(self._augment(x, aug_real), real_labels, perturbed), real
                    )
                else:
                    r1, real_logits = regularizers.r1_penalty(
                        lambda y: self._discriminate_advaug(y, real_labels, perturbed), self._augment(real, aug_real)
                    )
            else:
                real_logits = self._discriminate_advaug(self._augment(real, aug_real), real_labels, perturbed)
            fake_logits = self._discriminate_advaug(self._augment(fake, aug_fake), fake_labels, perturbed)
            adversarial = self.adversarial_loss.discriminator(real_logits, fake_logits)
            if self._advaug is not None:  # AdvAug: mean of the clean and the perturbed-feature loss
                adversarial_adv = self.adversarial_loss.discriminator(*perturbed)
                stats["d_advaug_loss"] = _sum(adversarial_adv) / global_batch
                adversarial = (adversarial + adversarial_adv) / 2.0
            total = adversarial
            if self.r1_gamma > 0:
                total += 0.5 * self.r1_gamma * r1
                stats["r1_penalty"] = _sum(r1) / global_batch
            if self.cr_weight > 0:
                consistency = regularizers.consistency_penalty(real_logits, self._discriminate(real, real_labels))
                total += self.cr_weight * consistency
                stats["cr_penalty"] = _sum(consistency) / global_batch
            if self.lecam_weight > 0:
                lecam = regularizers.lecam_penalty(
                    real_logits, fake_logits, self.lecam_anchor_real, self.lecam_anchor_fake
                )
                total += self.lecam_weight * lecam
                stats["lecam_penalty"] = _sum(lecam) / global_batch
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
        stats = _replica_context().all_reduce(tf.distribute.ReduceOp.SUM, stats)
        if self.lecam_weight > 0:
            for anchor, key in ((self.lecam_anchor_real, "real_score"), (self.lecam_anchor_fake, "fake_score")):
                anchor.assign(regularizers.update_anchor(anchor, stats[key], self.lecam_decay))
        return stats

    # --------------------------------------------------------------------------------- G update
    def _generator_update(self, local_batch, global_batch):
        _, _, aug_fake_g = self._augment_flags()
        z, fake_labels = self._sample_latents(local_batch)
        stats = {}
        with tf.GradientTape() as tape:
            if self._advaug is None:
                fake = self._generate_batch(z, fake_labels)
                per_example = self.adversarial_loss.generator(
                    self._discriminate(self._augment(fake, aug_fake_g), fake_labels)
                )
            else:  # AdvAug: perturb G's first-block output toward a higher D logit (through T and D)
                d_fn = lambda x: self._discriminate(self._augment(x, aug_fake_g), fake_labels)  # noqa: E731
                fake, fake_adv = self._advaug.generator_images(z, d_fn, fake_labels, training=True)
                per_example_adv = self.adversarial_loss.generator(d_fn(fake_adv))
                per_example = (self.adversarial_loss.generator(d_fn(fake)) + per_example_adv) / 2.0
                stats["g_advaug_loss"] = _sum(per_example_adv) / global_batch
            loss = _sum(per_example) / global_batch
            scaled_loss = self.g_optimizer.scale_loss(loss)
        variables = self.generator.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.g_optimizer.apply_gradients(zip(gradients, variables))
        stats["g_loss"] = loss
        return _replica_context().all_reduce(tf.distribute.ReduceOp.SUM, stats)

    # ----------------------------------------------------------------------------- EMA and ADA
    def _update_ema(self, step):
        decay = tf.where(step > self.ema_start_step, self.ema_decay, 0.0)
        ema_lib.update_ema(ema_lib.ema_pairs(self.ema_generator, self.generator), decay)

    def _update_ada(self, step, sign_sum, count):
        p = adaptive.probability_variable(self.augment)
        self.ada_sign_sum.assign_add(sign_sum)
        self.ada_count.assign_add(count)
        adjust = tf.equal(step % self.ada_interval, 0)
        sign_mean = self.ada_sign_sum / tf.maximum(self.ada_count, 1.0)
        images = self.ada_count / float(self.d_steps)
        new_p = adaptive.ada_update(p, sign_mean, self.ada_target, images, self.ada_kimg)
        p.assign(tf.where(adjust, new_p, tf.cast(p, tf.float32)))
        self.ada_sign_sum.assign(tf.where(adjust, 0.0, self.ada_sign_sum))
        self.ada_count.assign(tf.where(adjust, 0.0, self.ada_count))

    # ------------------------------------------------------------------------------- the step
    def train_step(self, data):
        """One training step on a batch of reals (and labels); returns the logs.

        Returns:
            dict of float32 scalars (rank-1 `[1]` under `MultiWorkerMirroredStrategy`):
            `d_loss` (adversarial part, mean over D updates), `g_loss`, `real_score`/`fake_score`
            (mean logits of D's real/fake inputs in the D step), the un-weighted `r1_penalty`,
            `cr_penalty`, `lecam_penalty` when enabled, `aug_p` when adaptive, and with AdvAug
            `d_advaug_loss`/`g_advaug_loss` (the losses at the perturbed features; `d_loss` and
            `g_loss` are then the means of the clean and perturbed losses, the ones minimized). Each is the
            running mean over the epoch (the Keras tracker convention), `aug_p` the current value.
        """
        real, real_labels = self._unpack(data)
        local_batch = tf.shape(real)[0]
        global_batch = tf.cast(local_batch * _replica_context().num_replicas_in_sync, tf.float32)

        d_stats = [
            self._discriminator_update(real, real_labels, local_batch, global_batch) for _ in range(self.d_steps)
        ]
        g_stats = self._generator_update(local_batch, global_batch)

        self.step_counter.assign_add(1)
        step = self.step_counter.value
        self._update_ema(step)
        if self._adaptive_p:
            self._update_ada(
                step, tf.add_n([s["real_sign_sum"] for s in d_stats]), tf.add_n([s["real_count"] for s in d_stats])
            )

        for name in self._active_trackers:
            if name in g_stats:
                self.trackers[name].update_state(g_stats[name])
            else:
                self.trackers[name].update_state(tf.add_n([s[name] for s in d_stats]) / float(self.d_steps))
        logs = {name: self.trackers[name].result() for name in self._active_trackers}
        if self._adaptive_p:
            logs["aug_p"] = tf.cast(adaptive.probability_variable(self.augment), tf.float32)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs
