"""Adversarial losses as (discriminator, generator) pairs of per-example values.

Every loss takes discriminator logits of shape `[B]` or `[B, 1]` and returns one value per example
(shape `[B]`, float32). The GAN model sums these per replica and divides by the global batch size,
so a loss here never averages over the batch itself.

| name | discriminator loss `L_D(r, f)` | generator loss `L_G(f)` | reference |
|---|---|---|---|
| `"hinge"` | `relu(1 - r) + relu(1 + f)` | `-f` | Lim & Ye 2017, arXiv:1705.02894; Miyato et al. 2018 |
| `"non_saturating"` | `softplus(-r) + softplus(f)` | `softplus(-f)` | Goodfellow et al. 2014 |
| `"wasserstein"` | `f - r` | `-f` | Arjovsky et al. 2017, arXiv:1701.07875 |
| `"least_squares"` | `((r - 1)^2 + f^2) / 2` | `(f - 1)^2 / 2` | Mao et al. 2017, arXiv:1611.04076 |

`r` are the logits of real images, `f` those of generated images; `softplus(-r) = -log sigmoid(r)`.
"""

import collections

from keras import ops

from tf_diffaug.gan import modes

AdversarialLoss = collections.namedtuple("AdversarialLoss", ["discriminator", "generator"])
AdversarialLoss.__doc__ = """A pair of per-example adversarial losses.

Attributes:
    discriminator: `fn(real_logits, fake_logits) -> [B]`, the discriminator's loss per example.
    generator: `fn(fake_logits) -> [B]`, the generator's loss per example.
"""


def _flat(logits):
    """Casts logits to float32 and flattens `[B, 1]` to `[B]`."""
    logits = ops.cast(logits, "float32")
    return ops.reshape(logits, [-1])


def hinge_discriminator(real_logits, fake_logits):
    """Hinge discriminator loss per example: `relu(1 - r) + relu(1 + f)`.

    Args:
        real_logits: `[B]` or `[B, 1]` logits of real images.
        fake_logits: `[B]` or `[B, 1]` logits of generated images.

    Returns:
        float32 tensor `[B]`.

    Example:
    >>> float(hinge_discriminator([0.5], [-2.0])[0])
    0.5
    """
    return ops.relu(1.0 - _flat(real_logits)) + ops.relu(1.0 + _flat(fake_logits))


def hinge_generator(fake_logits):
    """Hinge generator loss per example: `-f` (Lim & Ye 2017; used by SNGAN and BigGAN)."""
    return -_flat(fake_logits)


def non_saturating_discriminator(real_logits, fake_logits):
    """Logistic discriminator loss per example: `softplus(-r) + softplus(f)` (Goodfellow et al. 2014)."""
    return ops.softplus(-_flat(real_logits)) + ops.softplus(_flat(fake_logits))


def non_saturating_generator(fake_logits):
    """Non-saturating generator loss per example: `softplus(-f) = -log sigmoid(f)`."""
    return ops.softplus(-_flat(fake_logits))


def wasserstein_discriminator(real_logits, fake_logits):
    """Wasserstein critic loss per example: `f - r` (Arjovsky et al. 2017; pair it with R1 or SN)."""
    return _flat(fake_logits) - _flat(real_logits)


def wasserstein_generator(fake_logits):
    """Wasserstein generator loss per example: `-f`."""
    return -_flat(fake_logits)


def least_squares_discriminator(real_logits, fake_logits):
    """Least-squares discriminator loss per example: `((r - 1)^2 + f^2) / 2` (Mao et al. 2017, 0-1 coding)."""
    return 0.5 * ops.square(_flat(real_logits) - 1.0) + 0.5 * ops.square(_flat(fake_logits))


def least_squares_generator(fake_logits):
    """Least-squares generator loss per example: `(f - 1)^2 / 2`."""
    return 0.5 * ops.square(_flat(fake_logits) - 1.0)


LOSSES = {
    "hinge": AdversarialLoss(hinge_discriminator, hinge_generator),
    "non_saturating": AdversarialLoss(non_saturating_discriminator, non_saturating_generator),
    "wasserstein": AdversarialLoss(wasserstein_discriminator, wasserstein_generator),
    "least_squares": AdversarialLoss(least_squares_discriminator, least_squares_generator),
}
assert tuple(LOSSES) == modes.LOSSES, "td.gan.modes.LOSSES names the pairs defined here"


def get(identifier):
    """Returns the `AdversarialLoss` pair for a name (or passes a pair through).

    Args:
        identifier: one of `"hinge"`, `"non_saturating"`, `"wasserstein"`, `"least_squares"`, or an
            `AdversarialLoss(discriminator_fn, generator_fn)` for a custom loss.

    Returns:
        An `AdversarialLoss`.

    Raises:
        ValueError: for an unknown name, listing the known ones.

    Example:
    >>> pair = get("hinge")
    >>> float(pair.generator([2.0])[0])
    -2.0
    """
    if isinstance(identifier, AdversarialLoss):
        return identifier
    if isinstance(identifier, str) and identifier in LOSSES:
        return LOSSES[identifier]
    raise ValueError(
        f"Unknown loss {identifier!r}. Expected one of {sorted(LOSSES)} "
        "or an AdversarialLoss(discriminator_fn, generator_fn)."
    )
