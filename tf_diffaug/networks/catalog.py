"""The architectures ``td.networks.get`` builds and their image sizes, as plain data (no TensorFlow).

The builders check their resolution against this table and configuration validation reads it, so
the two cannot drift.
"""

RESOLUTIONS = {
    "dcgan": (32, 64, 128),
    "sngan": (32, 64),
    "biggan": (32, 64, 128),
    "stylegan2": (32, 64, 128, 256),
}

NETWORKS = tuple(sorted(RESOLUTIONS))
