"""tf_diffaug.networks (being written)."""
