"""torch binding of the fused DiffAugment maps: ``torch.autograd.Function`` over a torch kernel.

The maps (``forward_map``, ``linear_map``, ``transpose_map``) are those of
``tf_diffaug.augment.fused``; this module gives them (1) a kernel in plain torch ops, because eager
torch runs every ``keras.ops`` call as its own kernel with its own Python overhead, and (2) their
derivatives: the backward of the forward map is the transpose map, the backward of the transpose
map is the linear map and vice versa, each an ``autograd.Function``, so double backward (R1
through the augmentation) stays closed form. A ``ctx`` keeps only the per-sample parameters.

The kernel works on the planar (NCHW) view of the NHWC batch, where the per-pixel color terms
broadcast over the outer channel axis (vectorized; torch runs NHWC broadcasts over the innermost
axis several times slower). ``S(a x + beta sum_c x + offset)`` with fill ``f`` is then

1. the cutout folded into per-pixel coefficients: in the source frame (the rectangle moved by
   ``-offsets``) the coefficient ``a`` becomes 0 and the offset becomes ``f``;
2. one strided ``addcmul`` writing the result into the interior of a buffer of rows of
   ``W + p_x`` values: ``p_y`` fill rows, then per channel ``H`` image rows followed by ``p_y``
   fill rows, and one last fill row; ``p_x`` fill columns sit before each row's ``W`` values (so
   they also follow the previous row's). ``p_y, p_x`` are the largest ``|dy|, |dx|`` of the batch
   (one small host read), and only these pad cells are filled;
3. one ``index_select`` of rows of ``W`` values from that buffer: output row ``(b, c, i)`` is the
   window starting at source row ``i - dy``, column ``p_x - dx`` (a fill row when ``i - dy`` lies
   outside the image). That is a memcpy per row, and it leaves the output planar and contiguous
   (the returned NHWC tensor is a permuted view of it, as the official ``DiffAugment_pytorch``
   returns for channels-last input).

Without translation step 2 alone is the whole map. Imported only on the torch backend.
"""

import functools

import keras
import torch

from tf_diffaug.augment import fused

_CACHE = {}


def _cached(key, build):
    """Small constant tensors (aranges, sizes), built once per key and read every call."""
    value = _CACHE.get(key)
    if value is None:
        value = _CACHE[key] = build()
    return value


def _planar(images):
    """The NHWC batch re-laid out planar (an NHWC view of NCHW memory); free when it already is."""
    x = images.permute(0, 3, 1, 2)
    return images if x.is_contiguous() else x.contiguous().permute(0, 2, 3, 1)


def _interval_table(intervals, dtype, device):
    """Rows of 0/1 indicators of ``[s, s + n)`` on ``range(L)`` for every start ``s`` that matters.

    For each ``(n, L)`` in ``intervals`` the rows for ``s = -n .. L`` (any other start gives the
    all-zero row of its clamped value); returns (table, low [K], high [K], base [K]) such that the
    indicator of start ``s`` for interval k is ``table[clamp(s, low[k], high[k]) + base[k]]``.
    """

    def build():
        length = max(size for _, size in intervals)
        pos = torch.arange(length)
        rows, low, high, base, offset = [], [], [], [], 0
        for n, size in intervals:
            start = torch.arange(-n, size + 1)[:, None]
            rows.append((pos >= start) & (pos < start + n) & (pos < size))
            low.append(-n)
            high.append(size)
            base.append(offset + n)
            offset += size + n + 1
        table = torch.cat(rows).to(dtype=dtype, device=device)
        return table, *(torch.tensor(v, device=device) for v in (low, high, base))

    return _cached(("intervals", intervals, dtype, device), build)


def _outer(rows, cols):
    """[B, 1, H, W] product of [B, H] and [B, W] (one broadcast operand: a vectorized loop)."""
    return torch.mul(rows[:, None, :, None], cols[:, None, None, :])


def _affine(x, a, t, out=None):
    """``a * x + t`` (None: 1 and 0) into ``out`` (a new tensor when None)."""
    if a is None and t is None:
        return x.clone() if out is None else out.copy_(x)
    if a is None:
        return torch.add(x, t, out=out)
    if t is None:
        return torch.mul(x, a, out=out)
    return torch.addcmul(t, a, x, out=out)


class _Shift:
    """``S(offsets, centers)`` for one batch shape; its small pieces are built on first use.

    ``transpose_of`` links ``S^T`` to ``S``: they share the padding, the constants and the 0/1
    vectors (the cut rectangle ``S^T`` reads through is the one ``S`` writes). Only [B, L] vectors
    and the [B * C * H] row indices are kept (for the backward pass); the [B, 1, H, W] planes are
    rebuilt by each map that needs them.
    """

    def __init__(self, images, offsets, centers, cutout_size, transpose_of=None):
        self.batch, self.height, self.width, self.channels = images.shape
        self.dtype, self.device = images.dtype, images.device
        self.offsets, self.centers, self.cutout_size = offsets, centers, cutout_size
        self.transpose_of = transpose_of

    @functools.cached_property
    def _vectors(self):
        """0/1 [B, L] vectors {source cut, output cut, valid} x {rows, cols}, in one table lookup."""
        if self.transpose_of is not None:
            forward = self.transpose_of._vectors
            return {"source_cut": forward["output_cut"]}
        height, width = self.height, self.width
        starts, intervals, names = [], [], []
        if self.centers is not None:
            h, w = self.cutout_size
            half = _cached(("half", h, w, self.device), lambda: torch.tensor([h // 2, w // 2], device=self.device))
            cut = self.centers - half
            names += ["source_cut", "output_cut"] if self.offsets is not None else ["source_cut"]
            starts += [cut - self.offsets, cut] if self.offsets is not None else [cut]
            intervals += [(h, height), (w, width)] * len(names)
        if self.offsets is not None:  # output i reads i - d: valid for i in [d, d + L)
            names.append("valid")
            starts.append(self.offsets)
            intervals += [(height, height), (width, width)]
        table, low, high, base = _interval_table(tuple(intervals), self.dtype, self.device)
        index = torch.clamp(torch.cat(starts, 1), low, high).add_(base)
        inside = table.index_select(0, index.view(-1)).view(self.batch, len(intervals), table.shape[1])
        pairs = {name: (inside[:, 2 * j, :height], inside[:, 2 * j + 1, :width]) for j, name in enumerate(names)}
        pairs.setdefault("output_cut", pairs.get("source_cut"))
        return pairs

    def source_cut(self):
        """[B, 1, H, W] 1 on the cut rectangle in the frame of the values read (moved by -offsets)."""
        return None if self.centers is None else _outer(*self._vectors["source_cut"])

    def keep(self):
        """[B, 1, H, W] 1 on the output pixels that read an input pixel."""
        vectors = self._vectors
        keep = _outer(*vectors["valid"]) if self.offsets is not None else None
        if self.centers is None:
            return keep
        cut = _outer(*vectors["output_cut"])
        return cut.neg_().add_(1.0) if keep is None else keep.addcmul_(keep, cut, value=-1.0)

    @functools.cached_property
    def _layout(self):
        """(buffer shape, pad columns, pad rows, constants) of the row gather."""
        if self.transpose_of is not None:  # |offsets| is the same: so is the layout
            return self.transpose_of._layout
        batch, channels, height, width, device = self.batch, self.channels, self.height, self.width, self.device
        # pad just enough (one small host read); |d| >= size reads fill only, as |d| = size does
        largest = self.offsets.abs().amax(0).tolist() if batch else [0, 0]
        pad_y, pad_x = (min(int(v), n) for v, n in zip(largest, (height, width)))
        stride, plane = width + pad_x, height + pad_y
        # rows: pad_y fill rows, per channel H image rows followed by pad_y fill rows, and one
        # more fill row that the last row's window runs into (up to pad_x values)
        shape = (batch, pad_y + channels * plane + 1, stride)

        def constants():
            within = (torch.arange(channels, device=device) * (plane * stride))[:, None]
            within = within + torch.arange(height, device=device) * stride + (pad_y * stride + pad_x)
            per_sample = torch.arange(batch, device=device)[:, None] * (shape[1] * stride)
            step = torch.tensor([[-stride], [-1]], device=device)
            bound = torch.tensor([pad_y, pad_x], device=device)
            return within, per_sample, step, -bound, bound

        return shape, pad_x, pad_y, _cached(("rows", shape, channels, height, width, device), constants)

    @functools.cached_property
    def rows(self):
        """(buffer shape, pad columns, pad rows, row index [B * C * H]) of the row gather."""
        shape, pad_x, pad_y, (within, per_sample, step, low, high) = self._layout
        # row (b, c, i) starts at source row i - dy, column pad_x - dx (fill rows when outside)
        start = torch.addmm(per_sample, torch.minimum(torch.maximum(self.offsets, low), high), step)
        return shape, pad_x, pad_y, (start[:, :, None] + within).view(-1)


class TorchKernel:
    """The kernel functions of ``fused`` in plain torch (planar per-pixel terms [B, 1, H, W]).

    Images arrive planar (``_planar``); ``apply`` may overwrite ``summed``.
    """

    @staticmethod
    def per_sample(values, images):
        return values.to(images.dtype).reshape(-1, 1, 1, 1)

    @staticmethod
    def index(values, images):
        return values.to(torch.int64)

    shift = _Shift

    @staticmethod
    def channel_sum(images):
        x = images.permute(0, 3, 1, 2)
        total = x[:, 0:1] + x[:, 1:2]
        for c in range(2, x.shape[1]):
            total += x[:, c : c + 1]
        return total

    @staticmethod
    def image_mean(images):
        accumulate = torch.float64 if images.dtype == torch.float64 else torch.float32
        return images.mean(dim=(1, 2, 3), dtype=accumulate).to(images.dtype).reshape(-1, 1, 1, 1)

    @staticmethod
    def kept_mean(images, summed, shift):
        """Mean of ``images`` over (H, W, C) and the output pixels ``shift`` keeps, [B, 1, 1, 1]."""
        summed = images.permute(0, 3, 1, 2) if summed is None else summed  # one channel: the image
        keep = shift.keep()
        accumulate = torch.float64 if images.dtype == torch.float64 else torch.float32
        total = keep.mul_(summed).sum(dim=(1, 2, 3), dtype=accumulate)
        return (total / images[0].numel()).to(images.dtype).reshape(-1, 1, 1, 1)

    @staticmethod
    def apply(images, summed, a, beta, offset, fill, shift):
        """``S(a x + beta summed + offset)`` filled with ``fill``, as a permuted planar tensor."""
        x = images.permute(0, 3, 1, 2)
        if beta is not None:  # per-pixel offset plane [B, 1, H, W], in place of the channel sum
            offset = summed.mul_(beta) if offset is None else summed.mul_(beta).add_(offset)
        cut = None if shift is None else shift.source_cut()
        if cut is not None:  # cut pixels: coefficient 0, offset ``fill``
            keep = cut.neg_().add_(1.0)
            fill = None if isinstance(fill, float) and fill == 0.0 else fill
            if offset is not None and offset.shape == keep.shape:  # a plane of our own: in place
                offset = offset.mul_(keep) if fill is None else offset.sub_(fill).mul_(keep).add_(fill)
            elif offset is not None:
                offset = torch.mul(keep, offset if fill is None else offset - fill)
                offset = offset if fill is None else offset.add_(fill)
            elif fill is not None:
                offset = torch.mul(keep, -fill).add_(fill)
            a = keep if a is None else keep.mul_(a)
        if shift is None or shift.offsets is None:
            return _affine(x, a, offset).permute(0, 2, 3, 1)
        batch, channels, height, width = x.shape
        shape, pad_x, pad_y, index = shift.rows
        buffer = torch.empty(shape, dtype=x.dtype, device=x.device)
        planes = buffer[:, pad_y : shape[1] - 1].view(batch, channels, height + pad_y, shape[2])
        # fill only what is not overwritten: pad columns, pad rows and the last row
        value = 0.0 if fill is None else fill
        regions = [
            buffer[:, :, :pad_x],
            buffer[:, :pad_y, pad_x:],
            planes[:, :, height:, pad_x:],
            buffer[:, -1:, pad_x:],
        ]
        for region in regions:
            if region.numel() and isinstance(value, float):
                region.fill_(value)
            elif region.numel():
                region.copy_(value.reshape((batch,) + (1,) * (region.dim() - 1)).expand(region.shape))
        _affine(x, a, offset, out=planes[:, :, :height, pad_x : pad_x + width])
        rows = buffer.view(-1).unfold(0, width, 1).index_select(0, index)
        return rows.view(batch, channels, height, width).permute(0, 2, 3, 1)


def _run(name, x, prepared, fill):
    if name == "forward":
        return fused.forward_map(TorchKernel, x, prepared, fill)
    if name == "linear":
        return fused.linear_map(TorchKernel, x, prepared)
    return fused.transpose_map(TorchKernel, x, prepared)


class _Forward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, prepared, fill):
        ctx.prepared = prepared
        return _run("forward", _planar(x), prepared, fill)

    @staticmethod
    def backward(ctx, upstream):
        return _Transpose.apply(upstream, ctx.prepared, None), None, None


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, prepared, fill):
        ctx.prepared = prepared
        return _run("linear", _planar(x), prepared, fill)

    @staticmethod
    def backward(ctx, upstream):
        return _Transpose.apply(upstream, ctx.prepared, None), None, None


class _Transpose(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g, prepared, fill):
        ctx.prepared = prepared
        return _run("transpose", _planar(g), prepared, fill)

    @staticmethod
    def backward(ctx, upstream):
        return _Linear.apply(upstream, ctx.prepared, None), None, None


def _tensor(value, device):
    if value is None or isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(keras.ops.convert_to_numpy(value), device=device)


@functools.cache
def bind():
    """The fused augmentation with closed-form derivatives of every order (see the module doc).

    Returns:
        ``augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0)``.
    """

    def augment(images, color=None, offsets=None, centers=None, cutout_size=None, fill=0.0):
        if not isinstance(images, torch.Tensor):
            images = keras.ops.convert_to_tensor(images)
        device = images.device
        color = None if color is None else tuple(_tensor(v, device) for v in color)
        params = (color, _tensor(offsets, device), _tensor(centers, device))
        if images.numel() == 0:  # nothing to move (and no buffer to gather rows from)
            return images * 1.0
        size = None if cutout_size is None else tuple(int(v) for v in cutout_size)
        prepared = fused.prepare(TorchKernel, images, *params, size)
        return _Forward.apply(images, prepared, float(fill))

    return augment
