"""tf_diffaug.data (being written)."""
