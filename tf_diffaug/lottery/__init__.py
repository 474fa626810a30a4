"""tf_diffaug.lottery (being written)."""
