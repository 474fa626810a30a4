"""tf_diffaug.augment (being written)."""
