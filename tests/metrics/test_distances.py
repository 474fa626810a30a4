"""FID, KID and IS equal direct NumPy/SciPy formulas and closed forms."""

import numpy as np
import pytest
import scipy.linalg

from tf_diffaug.metrics import FeatureStatistics, frechet_distance, inception_score, kernel_distance


def _fid_direct(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real)


def _fid_low_rank(a, b):
    """Closed form when N < D: tr((S_a S_b)^1/2) = nuclear norm of A B^T / sqrt((n_a-1)(n_b-1))."""
    ca, cb = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    trace = (ca**2).sum() / (len(a) - 1) + (cb**2).sum() / (len(b) - 1)
    return np.sum((a.mean(0) - b.mean(0)) ** 2) + trace - 2 * cross


def _mmd2_unbiased(x, y):
    """Brute-force unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, by explicit loops."""
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_fid_equals_direct_formula_on_gaussian_features():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
    b = rng.normal(size=(250, 16)) @ rng.normal(size=(16, 16)) + 0.5
    expected = _fid_direct(a, b)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, b, method="eigh") == pytest.approx(expected, rel=1e-7)
    assert frechet_distance(a, b, method="gram") == pytest.approx(expected, rel=1e-7)
    stats_a, stats_b = FeatureStatistics.from_features(a), FeatureStatistics.from_features(b)
    assert frechet_distance(stats_a, (stats_b.mu, stats_b.sigma)) == pytest.approx(expected, rel=1e-9)


def test_fid_closed_form_for_diagonal_gaussians():
    mu_a, mu_b = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25, 2.0]), np.array([9.0, 1.0, 0.25, 0.5])
    # For commuting covariances: |mu_a - mu_b|^2 + sum (sqrt(var_a) - sqrt(var_b))^2.
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    for method in ("sqrtm", "eigh"):
        fid = frechet_distance((mu_a, np.diag(var_a)), (mu_b, np.diag(var_b)), method=method)
        assert fid == pytest.approx(expected, rel=1e-10)
    assert frechet_distance((mu_a, np.diag(var_a)), (mu_a, np.diag(var_a))) == pytest.approx(0.0, abs=1e-10)


def test_fid_with_fewer_samples_than_dimensions_matches_low_rank_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 40)), rng.normal(size=(5, 40)) + 0.3
    expected = _fid_low_rank(a, b)
    assert frechet_distance(a, b, method="eigh") == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-4)
    # The "gram" method is this closed form; check it against the sqrtm reference, not itself.
    assert frechet_distance(a, b, method="gram") == pytest.approx(frechet_distance(a, b), rel=1e-4)


def test_kid_equals_brute_force_unbiased_mmd():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(9, 5)) * 1.5 + 0.2
    # Subsets as large as the sets are permutations: every subset gives the full-set MMD^2.
    kid, std = kernel_distance(x, y, num_subsets=4, max_subset_size=100, return_std=True)
    assert kid == pytest.approx(_mmd2_unbiased(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_averaged():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(10, 4)) + 0.5
    seed, m = 7, 6
    draws = np.random.default_rng(seed)  # documented order: a's rows, then b's rows, per subset
    values = []
    for _ in range(3):
        xs = x[draws.choice(len(x), m, replace=False)]
        ys = y[draws.choice(len(y), m, replace=False)]
        values.append(_mmd2_unbiased(xs, ys))
    kid, std = kernel_distance(x, y, num_subsets=3, max_subset_size=m, seed=seed, return_std=True)
    assert kid == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_kid_needs_features():
    stats = FeatureStatistics.from_features(np.ones((3, 2)) * [[1], [2], [3]], keep_features=False)
    with pytest.raises(ValueError, match="without features"):
        kernel_distance(stats, np.zeros((3, 2)))


def test_feature_statistics_round_trip(tmp_path):
    feats = np.random.default_rng(4).normal(size=(20, 3))
    stats = FeatureStatistics.from_features(feats)
    stats.save(tmp_path / "ref.npz")
    loaded = FeatureStatistics.load(tmp_path / "ref.npz")
    np.testing.assert_allclose(loaded.mu, feats.mean(0))
    np.testing.assert_allclose(loaded.sigma, np.cov(feats, rowvar=False))
    np.testing.assert_array_equal(loaded.features, feats)


def _is_numpy(probs, splits):
    scores = []
    for part in np.array_split(probs, splits):
        py = part.mean(0)
        scores.append(np.exp(np.mean(np.sum(part * np.log(part / py), axis=1))))
    return np.mean(scores), np.std(scores)


def test_inception_score_equals_numpy_formula():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(40, 7)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = _is_numpy(probs, splits=4)
    np.testing.assert_allclose(inception_score(probs, splits=4), expected, rtol=1e-10)
    np.testing.assert_allclose(inception_score(logits, splits=4), expected, rtol=1e-10)
    one_hot = np.eye(5)[np.arange(50) % 5]  # certain, uniformly spread predictions: IS = #classes
    assert inception_score(one_hot, splits=1)[0] == pytest.approx(5.0)


def test_inception_score_with_default_weights_is_a_clear_error():
    images = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="no 1008-way logits head"):
        inception_score(images)


def test_inception_score_with_user_classifier():
    import keras

    classifier = keras.Sequential(
        [
            keras.Input((299, 299, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(6, kernel_initializer=keras.initializers.RandomNormal(stddev=5.0, seed=1)),
        ]
    )
    rng = np.random.default_rng(6)
    levels = rng.integers(0, 256, size=(6, 1, 1, 3))  # distinct colours -> distinct class predictions
    images = np.clip(levels + rng.integers(-20, 21, size=(6, 299, 299, 3)), 0, 255).astype(np.uint8)
    logits = np.asarray(classifier((images.astype(np.float32) - 128) / 128), np.float64)  # 299: no resize
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = _is_numpy(probs, 2)
    assert expected[0] > 1.5  # a discriminating classifier, so the comparison means something
    np.testing.assert_allclose(inception_score(images, splits=2, model=classifier), expected, rtol=1e-4)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="Unknown method 'svd'"):
        frechet_distance(np.ones((3, 2)), np.ones((3, 2)), method="svd")
    with pytest.raises(ValueError, match="Feature dimensions differ: 2 vs 3"):
        frechet_distance(np.random.rand(4, 2), np.random.rand(4, 3))
    with pytest.raises(ValueError, match=r"splits must be in \[1, N=4\], received 5"):
        inception_score(np.full((4, 2), 0.5), splits=5)


@pytest.mark.parametrize("method", ["sqrtm", "eigh", "gram"])
def test_non_finite_features_are_one_clear_error(method):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(10, 4)), rng.normal(size=(12, 4))
    b[3, 1], b[7, 0] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"^feats_b has 2 of 12 rows with NaN or inf values \(rows 3, 7\)"):
        frechet_distance(a, b, method=method)
    with pytest.raises(ValueError, match=r"^feats_a has 2 of 12 rows with NaN or inf values \(rows 3, 7\)"):
        frechet_distance(b, a, method=method)
    assert np.isfinite(frechet_distance(a, np.delete(b, [3, 7], axis=0), method=method))


def test_non_finite_inputs_of_kid_and_statistics_are_named():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    a[:7] = np.nan
    with pytest.raises(
        ValueError, match=r"feats_a has 7 of 10 rows with NaN or inf values \(rows 0, 1, 2, 3, 4, \.\.\.\)"
    ):
        kernel_distance(a, b)
    with pytest.raises(ValueError, match=r"features has 7 of 10 rows"):
        FeatureStatistics.from_features(a)
    sigma = np.eye(4)
    sigma[0, 1] = np.inf
    with pytest.raises(ValueError, match=r"feats_b's covariance has 1 NaN or inf entries"):
        frechet_distance((np.zeros(4), np.eye(4)), (np.zeros(4), sigma))
