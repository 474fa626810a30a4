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

import tensorflow as tf

from tf_diffaug.gan import train_step_base
from tf_diffaug.gan.train_step_base import AUGMENT_MODES, GANTrainStepBase

__all__ = ["AUGMENT_MODES", "GANTrainStep"]


def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None:
        raise RuntimeError(
            "GAN.train_step must run in a replica context: call fit(), or strategy.run(gan.train_step, ...)."
        )
    return context


class GANTrainStep(GANTrainStepBase):
    """Mixin with `train_step` and its parts; `td.GAN` provides the networks, settings and parts.

    What the step reads from the model: the networks (`generator`, `discriminator`,
    `ema_generator`, `augment`) and the constructor settings (`augment_mode`, `latent_dim`,
    `num_classes`, `ema_decay`, `ema_start_step`), its state (`seed_generator`, `step_counter`), and
    what `compile` builds: `g_optimizer`, `d_optimizer`, `adversarial_loss`, `d_steps`,
    `g_batch_size`, the regularizers `r1`, `consistency`, `lecam`, the ADA controller `ada` (or
    None), the strategy `feature_perturbation` (set by the constructor) and the loss trackers.
    """

    # -------------------------------------------------------------- the replica context (tf.distribute)
    def _num_replicas(self):
        return _replica_context().num_replicas_in_sync

    def _replica_start(self, local_batch):
        return tf.cast(_replica_context().replica_id_in_sync_group, tf.int32) * local_batch

    def _all_reduce_sum(self, values):
        return _replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)

    def _bind_optimizers(self, g_optimizer, d_optimizer):
        """Nothing to bind: the TensorFlow step applies each optimizer to its network's variables."""

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

    # --------------------------------------------------------------------------------- updates
    def _discriminator_update(self, real, real_labels, local_batch, global_batch):
        z, fake_labels = self._sample_latents(local_batch)
        fake = tf.stop_gradient(self._generate_batch(z, fake_labels))
        real = tf.cast(real, fake.dtype)
        with tf.GradientTape() as tape:
            loss, stats = self._discriminator_objective(real, real_labels, fake, fake_labels, global_batch)
            scaled_loss = self.d_optimizer.scale_loss(loss)
        variables = self.discriminator.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.d_optimizer.apply_gradients(zip(gradients, variables))
        return self._discriminator_statistics(stats, local_batch)

    def _generator_update(self, local_batch, global_batch):
        z, fake_labels = self._sample_latents(local_batch)
        with tf.GradientTape() as tape:
            loss, stats = self._generator_objective(z, fake_labels, global_batch)
            scaled_loss = self.g_optimizer.scale_loss(loss)
        variables = self.generator.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.g_optimizer.apply_gradients(zip(gradients, variables))
        return self._all_reduce_sum(stats)

    # ------------------------------------------------------------------------------- the step
    def _check_dynamic_slices(self, real, real_labels, local_batch):
        """A dynamic element size: a `tf.debugging` assertion that it is a multiple of `d_steps`.

        Under XLA, which ignores assertions, the remainder rows are dropped instead.
        """
        k = self.d_steps
        check = tf.debugging.assert_equal(tf.shape(real)[0] % k, 0, message=train_step_base.real_slices_message(k))
        with tf.control_dependencies([check]):
            # XLA drops assertions: there a remainder is dropped, so every slice has local_batch rows.
            real = real[: local_batch * k]
            real_labels = None if real_labels is None else real_labels[: local_batch * k]
        return real, real_labels

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
            see `td.gan.regularizers.LeCamRegularizer`), `aug_p` and `ada_r_t` (r_t = mean sign(D(T(real)))
            since the last adjustment of p, this step included) when adaptive, and with AdvAug
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
        logs = self._finish_step(d_stats, g_stats)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs
