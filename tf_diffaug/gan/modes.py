"""Names the GAN accepts, as plain data (no TensorFlow import): augment modes and loss names.

``AUGMENT_MODES`` says where DiffAugment's ``T`` is applied, as (reals in the D step, fakes in the
D step, fakes in the G step) (Zhao et al., NeurIPS 2020, arXiv:2006.10738: "both" is DiffAugment,
"real_only" and "d_only" the two failure modes of their Sec. 3). ``LOSSES`` are the adversarial loss
pairs of ``td.gan.losses``. ``td.GAN``, ``td.gan.losses.get`` and configuration validation all read
these.
"""

AUGMENT_MODES = {
    "both": (True, True, True),
    "real_only": (True, False, False),
    "d_only": (True, True, False),
    "none": (False, False, False),
}

LOSSES = ("hinge", "non_saturating", "wasserstein", "least_squares")
