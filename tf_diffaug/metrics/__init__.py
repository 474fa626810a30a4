"""tf_diffaug.metrics (being written)."""
