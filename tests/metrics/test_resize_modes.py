"""FID resize modes: "clean" equals PIL bicubic per float channel fed at 299 (original network too)."""

import numpy as np
import pytest
from PIL import Image

from tf_diffaug.metrics import inception, resize


def _pil_bicubic_299(image_uint8):
    """clean-fid's "clean" resize written out: each channel as a float PIL image, BICUBIC, clip."""
    rgb = np.repeat(image_uint8, 3, axis=-1) if image_uint8.shape[-1] == 1 else image_uint8
    planes = [
        np.asarray(Image.fromarray(rgb[..., c].astype(np.float32), mode="F").resize((299, 299), Image.BICUBIC))
        for c in range(3)
    ]
    return np.clip(np.stack(planes, axis=-1), 0, 255)


def _torch_features_at_299(net, resized_float):
    """The original TorchScript network on float images already at 299x299: (x - 128) / 128."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(resized_float, np.float32)).permute(0, 3, 1, 2)
    with torch.no_grad():
        return net((x - 128) / 128).numpy()


def _smooth(rng, h, w, c):
    """Real-image-like: a coarse random field upsampled, plus noise (so the resize mode matters)."""
    base = rng.uniform(0, 255, size=(h // 8 + 2, w // 8 + 2, c)).astype(np.float32)
    big = np.stack(
        [np.asarray(Image.fromarray(base[..., i], "F").resize((w, h), Image.BILINEAR)) for i in range(c)], -1
    )
    return np.clip(big + rng.normal(0, 25, big.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(7, 5, 3), (32, 32, 1), (600, 310, 3), (299, 299, 3)])
def test_resize_clean_is_pil_bicubic_in_float_clipped(shape):
    image = np.random.default_rng(shape[0]).integers(0, 256, size=shape).astype(np.uint8)
    got = resize.resize_clean(image)
    assert got.shape == (299, 299, shape[-1]) and got.dtype == np.float32
    expected = _pil_bicubic_299(image)[..., : shape[-1]]
    np.testing.assert_array_equal(got, expected)
    assert got.min() >= 0 and got.max() <= 255  # bicubic overshoot is clipped...
    if shape == (299, 299, 3):
        np.testing.assert_array_equal(got, image)  # ...and 299x299 is the identity
    else:
        assert not np.array_equal(got, np.round(got))  # ...and not rounded back to integers


def test_clean_features_equal_pil_bicubic_fed_at_299(extractor, torch_net):
    rng = np.random.default_rng(0)
    batches = [
        _smooth(rng, 32, 32, 3)[None].repeat(2, 0),
        _smooth(rng, 48, 40, 1)[None],
        _smooth(rng, 360, 300, 3)[None],
    ]
    max_diff = 0.0
    for images in batches:
        ours = extractor(images, batch_size=2, resize="clean")
        resized = np.stack([_pil_bicubic_299(image) for image in images])
        reference = _torch_features_at_299(torch_net, resized)
        keras_at_299 = extractor.model((resized - 128.0) / 128.0, training=False).numpy()
        np.testing.assert_allclose(ours, keras_at_299, atol=1e-5)
        max_diff = max(max_diff, float(np.abs(ours - reference).max()))
        # The legacy mode differs: the mode is really used.
        legacy = extractor(images, resize="legacy_tensorflow")
        assert np.abs(legacy - ours).max() > 1e-2
    print(f"clean: max abs diff vs TorchScript on PIL-resized input: {max_diff:.3g}")
    assert max_diff <= 1e-4


def test_lists_of_mixed_sizes_equal_one_image_at_a_time(extractor):
    rng = np.random.default_rng(1)
    images = [_smooth(rng, 20, 30, 3), _smooth(rng, 41, 17, 1), _smooth(rng, 64, 64, 3)]
    for mode in resize.RESIZE_MODES:
        together = inception.inception_features(images, batch_size=2, weights=extractor, resize=mode)
        alone = np.concatenate([extractor(image[None], resize=mode) for image in images])
        np.testing.assert_allclose(together, alone, atol=1e-4)


def test_bad_resize_mode_and_images_are_named(extractor):
    with pytest.raises(
        ValueError, match=r"Unknown resize mode 'bicubic'. Expected one of \['legacy_tensorflow', 'clean'\]"
    ):
        extractor(np.zeros((1, 8, 8, 3), np.uint8), resize="bicubic")
    with pytest.raises(ValueError, match=r"received shape \(8, 8, 4\) at index 1"):
        inception.check_images([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(ValueError, match=r"received dtype float32 \(image 0\)"):
        inception.check_images([np.zeros((8, 8, 3), np.float32)])
