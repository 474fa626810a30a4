"""How the GAN's train step forms its D and G losses from the networks: plain, or with AdvAug.

`td.GAN` holds one of two strategies (chosen by `advaug_gamma`) and its train step calls the same
three methods whatever it is:

- `discriminator_logits(images, labels)`: D's logits `[B]` on (already augmented) images, and the
  logits at perturbed features (`None` for the plain step);
- `discriminator_loss(loss, real, fake, perturbed_real, perturbed_fake)`: the per-example D loss
  minimized and the extra per-example terms to log;
- `generator_loss(loss, z, labels, d_fn)`: the per-example G loss minimized and the extra terms.

`NoPerturbation` is the plain step: D runs once per batch, G once. `AdvAugPerturbation` is AdvAug
(Chen et al., "Data-Efficient GAN Training Beyond (Just) Augmentations: A Lottery Ticket
Perspective", NeurIPS 2021, arXiv:2103.00397; see `tf_diffaug.gan.advaug`): D's penultimate
features and G's stem output (by default; `td.GAN(advaug_g_layer=...)`) get one signed-gradient
step up D's mean logit, and each loss
is the mean of its clean and perturbed values, `(L(clean) + L(perturbed)) / 2`; the perturbed
terms are logged as `d_advaug_loss` / `g_advaug_loss`.

Example:
>>> from tf_diffaug.gan import losses
>>> z = keras.Input((2,), name="z")
>>> g = keras.Model(z, keras.layers.Dense(3)(keras.layers.Dense(4, name="g_stem")(z)))
>>> x = keras.Input((3,), name="images")
>>> d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Dense(4, name="d_features")(x)))
>>> plain, advaug = for_gamma(g, d, 0.0), for_gamma(g, d, 0.01)
>>> type(plain).__name__, type(advaug).__name__, advaug.log_names
('NoPerturbation', 'AdvAugPerturbation', ('d_advaug_loss', 'g_advaug_loss'))
>>> real, fake = tf.ones((2, 3)), tf.zeros((2, 3))
>>> (r, r_adv), (f, f_adv) = advaug.discriminator_logits(real), advaug.discriminator_logits(fake)
>>> loss, logged = advaug.discriminator_loss(losses.get("hinge"), r, f, r_adv, f_adv)
>>> clean = losses.hinge_discriminator(r, f)
>>> bool(np.allclose(loss, (clean + logged["d_advaug_loss"]) / 2))
True
"""

import tensorflow as tf  # noqa: F401 (the doctest's tensors)
from keras import ops

from tf_diffaug.gan.advaug import FeatureAdvAug


def _flat(logits):
    return ops.reshape(ops.cast(logits, "float32"), [-1])


def _inputs(values, labels):
    return values if labels is None else [values, labels]


class NoPerturbation:
    """The plain step: losses at the clean features, one D and one G call per batch.

    Args:
        generator: the generator (inputs `z` or `[z, labels]`).
        discriminator: the discriminator (inputs images or `[images, labels]`).
    """

    log_names = ()

    def __init__(self, generator, discriminator):
        self.generator, self.discriminator = generator, discriminator

    def discriminator_logits(self, images, labels=None):
        """`(D's float32 logits [B], None)`: training-mode D on already augmented images."""
        return _flat(self.discriminator(_inputs(images, labels), training=True)), None

    def discriminator_loss(self, loss, real_logits, fake_logits, perturbed_real=None, perturbed_fake=None):
        """`(loss.discriminator(real, fake), {})`: the per-example D loss; nothing extra to log."""
        return loss.discriminator(real_logits, fake_logits), {}

    def generator_loss(self, loss, z, labels, d_fn):
        """`(loss.generator(d_fn(G(z))), {})`; `d_fn` maps images to D's logits as the G step sees them."""
        return loss.generator(d_fn(self.generator(_inputs(z, labels), training=True))), {}


class AdvAugPerturbation:
    """AdvAug: losses averaged over clean and perturbed features (`FeatureAdvAug` does the split).

    Args:
        generator: functional generator with a layer `g_layer`.
        discriminator: functional discriminator with a layer `d_layer`.
        gamma: the AdvAug step size (> 0; 0.01 in Chen et al.'s commands).
        g_layer: G's split layer (default `"g_stem"`, the output of G's linear layer and reshape,
            where the authors' code perturbs; `"g_block1"` is the first block's output).
        d_layer: D's split layer (default `"d_features"`).
    """

    log_names = ("d_advaug_loss", "g_advaug_loss")

    def __init__(self, generator, discriminator, gamma, g_layer="g_stem", d_layer="d_features"):
        self.advaug = FeatureAdvAug(generator, discriminator, gamma, g_layer=g_layer, d_layer=d_layer)

    @property
    def gamma(self):
        return self.advaug.gamma

    def discriminator_logits(self, images, labels=None):
        """`(clean logits [B], logits at D's perturbed penultimate features [B])`; one head pass."""
        clean, perturbed = self.advaug.discriminator_logits(images, labels, training=True)
        return _flat(clean), _flat(perturbed)

    def discriminator_loss(self, loss, real_logits, fake_logits, perturbed_real, perturbed_fake):
        """`((L_D(clean) + L_D(perturbed)) / 2, {"d_advaug_loss": L_D(perturbed)})`, per example."""
        perturbed = loss.discriminator(perturbed_real, perturbed_fake)
        return (loss.discriminator(real_logits, fake_logits) + perturbed) / 2.0, {"d_advaug_loss": perturbed}

    def generator_loss(self, loss, z, labels, d_fn):
        """`((L_G(d_fn(x)) + L_G(d_fn(x_adv))) / 2, {"g_advaug_loss": L_G(d_fn(x_adv))})`, per example.

        `x_adv` is generated from G's features at `g_layer` moved up `mean(d_fn(G_tail(f)))`; D
        sees the perturbed images first, then the clean ones.
        """
        images, perturbed_images = self.advaug.generator_images(z, d_fn, labels, training=True)
        perturbed = loss.generator(d_fn(perturbed_images))
        return (loss.generator(d_fn(images)) + perturbed) / 2.0, {"g_advaug_loss": perturbed}


def for_gamma(generator, discriminator, gamma, g_layer="g_stem", d_layer="d_features"):
    """`AdvAugPerturbation(generator, discriminator, gamma, g_layer, d_layer)` when `gamma > 0`, else `NoPerturbation`.

    `gamma == 0` builds no AdvAug split at all, so the step is the plain one bit for bit (each
    extra training-mode call of D would also advance its spectral-norm vectors).
    """
    if gamma:
        return AdvAugPerturbation(generator, discriminator, gamma, g_layer=g_layer, d_layer=d_layer)
    return NoPerturbation(generator, discriminator)
