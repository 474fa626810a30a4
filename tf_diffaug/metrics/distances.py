"""FID and KID from Inception features, and cached feature statistics (NumPy + SciPy).

- FID: Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
  Equilibrium", NeurIPS 2017: `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`.
- KID: Binkowski et al., "Demystifying MMD GANs", ICLR 2018: unbiased MMD^2 with the cubic
  polynomial kernel `k(x, y) = (x.y / d + 1)^3`, averaged over random subsets as in
  StyleGAN2-ADA's `kid50k_full` metric (Karras et al., NeurIPS 2020).
"""

import json

import numpy as np
import scipy.linalg


class FeatureStatistics:
    """Mean, covariance (and optionally the features) of a set of Inception features.

    The reference side of FID/KID: compute once from real images, save to `.npz`, reload.

    Args:
        mu: [D] mean.
        sigma: [D, D] covariance (unbiased, `np.cov(..., rowvar=False)`).
        features: optional [N, D] features, kept for KID.
        metadata: optional dict of JSON values describing how the statistics were made (for
            example `{"resize": "clean", "num_images": 112}`); saved and loaded with them.
            `FIDCallback` and `reference_statistics` check its `"resize"` entry.

    Example:
    >>> stats = FeatureStatistics.from_features(np.random.rand(10, 4))
    >>> stats.mu.shape, stats.sigma.shape
    ((4,), (4, 4))
    """

    def __init__(self, mu, sigma, features=None, metadata=None):
        self.mu = np.asarray(mu, np.float64)
        self.sigma = np.asarray(sigma, np.float64)
        if self.mu.ndim != 1 or self.sigma.shape != (self.mu.size, self.mu.size):
            raise ValueError(f"Expected mu [D] and sigma [D, D], received {self.mu.shape} and {self.sigma.shape}.")
        self.features = None if features is None else _as_features(features, "features")
        self.metadata = dict(metadata or {})

    @classmethod
    def from_features(cls, features, keep_features=True, metadata=None):
        """Statistics of [N, D] features (N >= 2, all finite)."""
        features = _as_features(features, "features")
        if len(features) < 2:
            raise ValueError(f"Need at least 2 feature vectors for a covariance, received {len(features)}.")
        f64 = features.astype(np.float64)
        return cls(f64.mean(axis=0), np.cov(f64, rowvar=False), features if keep_features else None, metadata)

    @classmethod
    def from_images(cls, images_uint8, batch_size=50, weights=None, keep_features=True, resize="legacy_tensorflow"):
        """Statistics of the FID Inception features of uint8 images (see `inception_features`).

        The `resize` mode is recorded in `metadata["resize"]`.
        """
        from tf_diffaug.metrics.inception import inception_features

        feats = inception_features(images_uint8, batch_size, weights, resize=resize)
        return cls.from_features(feats, keep_features, metadata={"resize": resize, "num_images": len(feats)})

    def save(self, path):
        """Write `mu`, `sigma` (and `features` when kept, `metadata` as JSON) to an `.npz` file."""
        arrays = {"mu": self.mu, "sigma": self.sigma}
        if self.features is not None:
            arrays["features"] = self.features
        if self.metadata:
            arrays[_METADATA_KEY] = np.array(json.dumps(self.metadata, sort_keys=True))
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path):
        """Read statistics written by `save` (files without metadata load with `metadata == {}`)."""
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu", "sigma"} - set(data.files)
            if missing:
                raise ValueError(f"{path!r} is not a statistics file: missing {sorted(missing)}, has {data.files}.")
            metadata = json.loads(str(data[_METADATA_KEY])) if _METADATA_KEY in data.files else None
            features = data["features"] if "features" in data.files else None
            return cls(data["mu"], data["sigma"], features, metadata)


_METADATA_KEY = "__metadata__"


def _as_features(x, name):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"Expected {name} of shape [N, D], received shape {x.shape}.")
    _check_finite_rows(x, name)
    return x


def _check_finite_rows(x, name):
    """Raise one ValueError naming how many rows of `x` hold NaN or inf (scipy would fail obscurely)."""
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"Expected numeric {name}, received dtype {x.dtype}.")
    finite = np.isfinite(x).reshape(len(x), -1).all(axis=1) if x.size else np.ones(len(x), bool)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ValueError(
            f"{name} has {len(bad)} of {len(x)} rows with NaN or inf values (rows {shown}). "
            "Expected finite features: check the images (a diverged generator gives NaN) or drop those rows."
        )


def _as_stats(x, name):
    if isinstance(x, (tuple, list)) and len(x) == 2:
        x = FeatureStatistics(*x)
    if isinstance(x, FeatureStatistics):
        for part, value in (("mean", x.mu[None]), ("covariance", x.sigma)):
            if not np.isfinite(value).all():
                raise ValueError(
                    f"{name}'s {part} has {int((~np.isfinite(value)).sum())} NaN or inf entries. "
                    "Expected statistics of finite features."
                )
        return x.mu, x.sigma
    stats = FeatureStatistics.from_features(_as_features(x, name), keep_features=False)
    return stats.mu, stats.sigma


def _trace_sqrt_product_sqrtm(sigma_a, sigma_b, eps):
    # The reference computation (TTUR / pytorch-fid / StyleGAN): scipy.linalg.sqrtm of S_a S_b.
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        # Singular product: offset both covariances by eps * I and retry.
        offset = np.eye(sigma_a.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(np.diagonal(covmean).imag))
        if imag > 1e-3:
            raise ValueError(f"sqrtm(sigma_a @ sigma_b) has an imaginary diagonal component {imag:g} > 1e-3.")
        covmean = covmean.real
    return np.trace(covmean)


def _trace_sqrt_product_eigh(sigma_a, sigma_b):
    # tr((S_a S_b)^(1/2)) = sum sqrt(eig(A S_b A)) with A = S_a^(1/2): same value, symmetric solvers only.
    w, v = np.linalg.eigh(sigma_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root_a @ sigma_b @ root_a)
    return np.sqrt(np.clip(eig, 0, None)).sum()


def _frechet_distance_gram(a, b):
    # With centred features A [n_a, D], B [n_b, D]: S_a S_b = A^T (A B^T) B / c, whose non-zero
    # eigenvalues are the squared singular values of A B^T / sqrt(c), c = (n_a - 1)(n_b - 1).
    a, b = a.astype(np.float64), b.astype(np.float64)
    ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
    nuclear = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    diff = a.mean(axis=0) - b.mean(axis=0)
    traces = np.sum(ca**2) / (len(a) - 1) + np.sum(cb**2) / (len(b) - 1)
    return float(diff @ diff + traces - 2.0 * nuclear)


def frechet_distance(feats_a, feats_b, eps=1e-6, method="sqrtm"):
    """Frechet Inception Distance between two feature sets (Heusel et al., NeurIPS 2017).

    `|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`.

    Args:
        feats_a: [N, D] features, a `FeatureStatistics`, or a `(mu, sigma)` pair.
        feats_b: same for the other set.
        eps: offset added to both covariances' diagonals when `sqrtm` of the product is not finite.
        method: "sqrtm" (the reference computation: `scipy.linalg.sqrtm(S_a @ S_b)`, real part, with
            the eps retry); "eigh" (the same trace via two symmetric eigen-decompositions,
            ~5x faster at D=2048, equal up to float rounding); or "gram" (needs features on both
            sides; the same trace as the nuclear norm of the [N_a, N_b] cross-Gram matrix of the
            centred features: exact and fastest when N_a, N_b are small compared to D).

    Returns:
        float.

    Example:
    >>> same_cov = np.eye(2)
    >>> round(frechet_distance((np.zeros(2), same_cov), (np.array([3.0, 0.0]), same_cov)), 6)
    9.0
    """
    if method not in ("sqrtm", "eigh", "gram"):
        raise ValueError(f"Unknown method {method!r}. Expected one of ['eigh', 'gram', 'sqrtm'].")
    if method == "gram":
        a, b = _features_of(feats_a, "feats_a"), _features_of(feats_b, "feats_b")
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"Feature dimensions differ: {a.shape[1]} vs {b.shape[1]}.")
        return _frechet_distance_gram(a, b)
    mu_a, sigma_a = _as_stats(feats_a, "feats_a")
    mu_b, sigma_b = _as_stats(feats_b, "feats_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"Feature dimensions differ: {mu_a.shape[0]} vs {mu_b.shape[0]}.")
    diff = mu_a - mu_b
    if method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma_a, sigma_b, eps)
    else:
        tr_covmean = _trace_sqrt_product_eigh(sigma_a, sigma_b)
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * tr_covmean)


def kernel_distance(feats_a, feats_b, num_subsets=100, max_subset_size=1000, seed=0, return_std=False):
    """Kernel Inception Distance (Binkowski et al., ICLR 2018), in subsets like StyleGAN2-ADA.

    For each of `num_subsets` subsets, `m = min(N_a, N_b, max_subset_size)` rows are drawn without
    replacement from each set and the unbiased MMD^2 with `k(x, y) = (x.y / d + 1)^3` is computed:
    `sum_{i!=j} k(a_i, a_j) / (m(m-1)) + sum_{i!=j} k(b_i, b_j) / (m(m-1)) - 2 sum_{i,j} k(a_i, b_j) / m^2`.
    KID is the mean over subsets (can be slightly negative for equal distributions).

    Args:
        feats_a: [N_a, D] features (or a `FeatureStatistics` holding features).
        feats_b: [N_b, D] features (or a `FeatureStatistics` holding features).
        num_subsets: number of random subsets.
        max_subset_size: cap on the subset size.
        seed: seed of the NumPy generator that draws the subsets.
        return_std: also return the standard deviation over subsets.

    Returns:
        float KID, or `(kid, std)` when `return_std`.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> kid = kernel_distance(rng.normal(size=(50, 8)), rng.normal(size=(50, 8)) + 1, num_subsets=10)
    >>> kid > 0
    True
    """
    a = _features_of(feats_a, "feats_a").astype(np.float64)
    b = _features_of(feats_b, "feats_b").astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature dimensions differ: {a.shape[1]} vs {b.shape[1]}.")
    m = min(len(a), len(b), int(max_subset_size))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, received {len(a)} and {len(b)}.")
    if int(num_subsets) < 1:
        raise ValueError(f"num_subsets must be >= 1, received {num_subsets!r}.")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(int(num_subsets))
    for s in range(int(num_subsets)):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values[s] = within - 2.0 * k_xy.sum() / (m * m)
    kid = float(values.mean())
    return (kid, float(values.std())) if return_std else kid


def _features_of(x, name):
    if isinstance(x, FeatureStatistics):
        if x.features is None:
            raise ValueError(f"{name} is a FeatureStatistics without features; KID and method='gram' need them.")
        return x.features
    return _as_features(x, name)
