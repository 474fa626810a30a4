"""Fixtures of the experiment tests: a tiny real image folder and one shared FID Inception network."""

import pytest


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """8 real emoji faces at 32x32 as PNG files (a folder dataset whose size is known: 8)."""
    from PIL import Image

    import tf_diffaug as td

    folder = tmp_path_factory.mktemp("faces")
    for i, image in enumerate(td.data.load_array("emoji-faces", resolution=32)[:8]):
        Image.fromarray(image).save(folder / f"face{i}.png")
    return str(folder)


@pytest.fixture(scope="session")
def inception():
    """The FID Inception feature network, built once and shared by the runs and the checks."""
    import tf_diffaug as td

    return td.metrics.InceptionFeatureExtractor()
