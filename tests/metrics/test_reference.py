"""Reference statistics cached per key: the second call loads instead of recomputing, same values."""

import os

import numpy as np
import pytest

from tf_diffaug.metrics import distances, inception, reference


class CountingExtractor(inception.InceptionFeatureExtractor):
    """The session's network and traced functions, counting the images it embeds."""

    def __init__(self, inner):
        self.model, self._forward = inner.model, inner._forward
        self.images_seen = 0

    def __call__(self, images, batch_size=50, resize="legacy_tensorflow"):
        self.images_seen += len(images)
        return super().__call__(images, batch_size=batch_size, resize=resize)


@pytest.fixture()
def images():
    return np.random.default_rng(0).integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)


def test_second_call_loads_the_cache_with_equal_values(extractor, images, tmp_path):
    counting = CountingExtractor(extractor)
    key = reference.statistics_key("toy", "train[:3]", 16, "clean")
    first = reference.reference_statistics(images, key, resize="clean", cache_dir=tmp_path, weights=counting)
    path = reference.statistics_path(key, tmp_path)
    assert counting.images_seen == 3 and os.path.isfile(path)
    mtime = os.stat(path).st_mtime_ns

    # The values are those of the features computed directly.
    direct = extractor(images, resize="clean").astype(np.float64)
    np.testing.assert_allclose(first.mu, direct.mean(0), atol=1e-6)
    np.testing.assert_allclose(first.sigma, np.cov(direct, rowvar=False), atol=1e-5)
    assert first.metadata["resize"] == "clean" and first.metadata["num_images"] == 3

    second = reference.reference_statistics(images, key, resize="clean", cache_dir=tmp_path, weights=counting)
    assert counting.images_seen == 3 and os.stat(path).st_mtime_ns == mtime  # nothing recomputed or rewritten
    np.testing.assert_array_equal(second.mu, first.mu)
    np.testing.assert_array_equal(second.sigma, first.sigma)
    np.testing.assert_array_equal(second.features, first.features)
    assert second.metadata == first.metadata

    # A callable is not even called when the cache is there.
    calls = []
    lazy = lambda: calls.append(1) or images
    third = reference.reference_statistics(lazy, key, resize="clean", cache_dir=tmp_path, weights=counting)
    assert calls == [] and counting.images_seen == 3
    np.testing.assert_array_equal(third.mu, first.mu)


def test_other_pixels_or_mode_under_the_same_key_recompute(extractor, images, tmp_path):
    counting = CountingExtractor(extractor)
    kwargs = dict(cache_dir=tmp_path, weights=counting)
    legacy = reference.reference_statistics(images, "k", **kwargs)
    assert counting.images_seen == 3 and legacy.metadata["resize"] == "legacy_tensorflow"
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 0xFF
    fresh = reference.reference_statistics(changed, "k", **kwargs)  # the stored SHA-256 differs
    assert counting.images_seen == 6
    np.testing.assert_allclose(fresh.mu, extractor(changed).astype(np.float64).mean(0), atol=1e-6)
    clean = reference.reference_statistics(changed, "k", resize="clean", **kwargs)
    assert counting.images_seen == 9 and clean.metadata["resize"] == "clean"
    assert not np.allclose(clean.mu, fresh.mu, atol=1e-3)
    loaded = distances.FeatureStatistics.load(reference.statistics_path("k", tmp_path))
    assert loaded.metadata["resize"] == "clean"
    assert loaded.metadata["images_sha256"] == reference.images_fingerprint(changed)


def test_keys_separate_datasets_splits_resolutions_modes_and_options():
    keys = {
        reference.statistics_key("fashion-mnist", "train", 32),
        reference.statistics_key("fashion-mnist", "train[:10%]", 32),
        reference.statistics_key("fashion-mnist", "train[-10%:]", 32),
        reference.statistics_key("fashion-mnist", "train", 64),
        reference.statistics_key("fashion-mnist", "train", 32, "clean"),
        reference.statistics_key("fashion-mnist", "train", 32, crop="pad"),
        reference.statistics_key("/data/a/photos", "train", 32),
        reference.statistics_key("/data/b/photos", "train", 32),
    }
    assert len(keys) == 8
    for key in keys:
        assert reference.statistics_path(key, "/c") == f"/c/{key}.npz"
    assert reference.statistics_key("/data/a/photos/", "train", 32).startswith("photos_train_32px_legacy_tensorflow_")


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", None, ".hidden"])
def test_bad_keys_are_named(bad):
    with pytest.raises(ValueError, match=r"Bad statistics key .*: expected a non-empty file name"):
        reference.statistics_path(bad)


def test_fid_callback_checks_the_resize_mode_of_given_statistics(extractor, images, tmp_path):
    from tf_diffaug.metrics.callback import FIDCallback

    stats = reference.reference_statistics(images, "k2", cache_dir=tmp_path, weights=extractor)
    with pytest.raises(
        ValueError, match=r"made with resize='legacy_tensorflow', but this FIDCallback uses resize='clean'"
    ):
        FIDCallback(stats, resize="clean", weights=extractor)
    with pytest.raises(ValueError, match=r"Unknown resize mode 'nearest'"):
        FIDCallback(images, resize="nearest")
    # A stats_path written in one mode is refused in the other.
    path = str(tmp_path / "ref.npz")
    FIDCallback(images, resize="clean", weights=extractor, stats_path=path).reference_statistics()
    assert distances.FeatureStatistics.load(path).metadata["resize"] == "clean"
    with pytest.raises(ValueError, match=r"stats_path .*ref.npz' holds statistics made with resize='clean'"):
        FIDCallback(images, weights=extractor, stats_path=path).reference_statistics()
