"""The tiny run the experiment tests share: 32x32, batch 4, width-8 networks, one log line per step."""

TINY = {
    "resolution": 32,
    "batch_size": 4,
    "network_kwargs": {"width": 8},
    "fid_batch_size": 4,
    "grid_size": 4,
    "log_every": 1,
}
