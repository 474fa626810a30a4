"""tf_diffaug.gan (being written)."""
