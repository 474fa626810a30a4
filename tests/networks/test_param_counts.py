"""Parameter counts at the papers' settings vs counts derived from the reference architecture definitions.

The reference counts are computed here in closed form from the published layer tables (trainable
parameters only; spectral-norm u vectors, BN running statistics, StyleGAN's noise buffers and w_avg
are buffers in the references and non-trainable weights here). docs/NETWORKS.md lists the numbers.
"""

import numpy as np
import pytest

import tf_diffaug as td


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def dcgan_reference(nz=100, ngf=64, ndf=64, nc=3):
    """pytorch/examples dcgan/main.py at 64^2: ConvTranspose/Conv 4x4 without bias, BN affine."""
    g = conv(nz, ngf * 8, 4, False) + 2 * ngf * 8
    for cin, cout in ((ngf * 8, ngf * 4), (ngf * 4, ngf * 2), (ngf * 2, ngf)):
        g += conv(cin, cout, 4, False) + 2 * cout
    g += conv(ngf, nc, 4, False)
    d = conv(nc, ndf, 4, False)
    for cin, cout in ((ndf, ndf * 2), (ndf * 2, ndf * 4), (ndf * 4, ndf * 8)):
        d += conv(cin, cout, 4, False) + 2 * cout
    d += conv(ndf * 8, 1, 4, False)
    return g, d


def sngan_reference(n_classes=0, ch_g=256, ch_d=128, dim_z=128, bottom=4):
    """pfnet-research/sngan_projection gen_models/resnet_32.py, dis_models/snresnet_32.py (n_classes=0 or 10)."""
    bn = (lambda c: 2 * n_classes * c) if n_classes else (lambda c: 2 * c)
    g = dim_z * bottom * bottom * ch_g + bottom * bottom * ch_g
    g += 3 * (bn(ch_g) + conv(ch_g, ch_g, 3) + bn(ch_g) + conv(ch_g, ch_g, 3) + conv(ch_g, ch_g, 1))
    g += 2 * ch_g + conv(ch_g, 3, 3)
    d = conv(3, ch_d, 3) + conv(ch_d, ch_d, 3) + conv(3, ch_d, 1)  # OptimizedBlock
    d += conv(ch_d, ch_d, 3) * 2 + conv(ch_d, ch_d, 1)  # Block, downsample
    d += 2 * (conv(ch_d, ch_d, 3) * 2)  # two Blocks without learnable shortcut
    d += ch_d + n_classes * ch_d  # SNLinear(ch, 1, nobias=True), SNEmbedID
    return g, d


def biggan_reference(resolution, ch, n_classes, dim_z, shared_dim, hier, attention):
    """BigGAN-PyTorch (as vendored in DiffAugment-biggan-cifar) G_arch / D_arch, D_wide=True."""
    g_in = {32: [4, 4, 4], 128: [16, 16, 8, 4, 2]}[resolution]
    g_out = {32: [4, 4, 4], 128: [16, 8, 4, 2, 1]}[resolution]
    g_res = {32: [8, 16, 32], 128: [8, 16, 32, 64, 128]}[resolution]
    slots = len(g_in) + 1 if hier else 1
    chunk = dim_z // slots if hier else 0

    def ccbn(c):
        return 2 * (shared_dim + chunk) * c if shared_dim else 2 * n_classes * c

    def attn(c):
        return 2 * c * (c // 8) + 2 * c * (c // 2) + 1

    g = n_classes * shared_dim + (dim_z // slots) * 16 * ch * g_in[0] + 16 * ch * g_in[0]
    for cin, cout, res in zip(g_in, g_out, g_res):
        cin, cout = cin * ch, cout * ch
        g += ccbn(cin) + conv(cin, cout, 3) + ccbn(cout) + conv(cout, cout, 3) + conv(cin, cout, 1)
        g += attn(cout) if res == attention else 0
    g += 2 * ch * g_out[-1] + conv(ch * g_out[-1], 3, 3)

    d_in = {32: [3, 4 * ch, 4 * ch, 4 * ch], 128: [3] + [ch * m for m in (1, 2, 4, 8, 16)]}[resolution]
    d_out = {32: [4 * ch] * 4, 128: [ch * m for m in (1, 2, 4, 8, 16, 16)]}[resolution]
    d_down = {32: [True, True, False, False], 128: [True] * 5 + [False]}[resolution]
    d_res = {32: [16, 16, 16, 16], 128: [64, 32, 16, 8, 4, 4]}[resolution]
    d = 0
    for cin, cout, down, res in zip(d_in, d_out, d_down, d_res):
        d += conv(cin, cout, 3) + conv(cout, cout, 3) + (conv(cin, cout, 1) if (cin != cout or down) else 0)
        d += attn(cout) if res == attention else 0
    d += d_out[-1] + 1 + n_classes * d_out[-1]
    return g, d


def stylegan2_reference(resolution, z_dim=512, w_dim=512, mapping=2, channel_base=32768, channel_max=512, img=3):
    """NVlabs/stylegan2-ada-pytorch training/networks.py (Generator / Discriminator, resnet D, c_dim=0)."""

    def ch(res):
        return min(channel_base // res, channel_max)

    def layer(cin, cout, k):  # SynthesisLayer: affine, weight, bias, noise_strength
        return (w_dim * cin + cin) + cout * cin * k * k + cout + 1

    def torgb(cin):
        return (w_dim * cin + cin) + img * cin + img

    g = z_dim * w_dim + w_dim + (mapping - 1) * (w_dim * w_dim + w_dim)
    g += ch(4) * 16 + layer(ch(4), ch(4), 3) + torgb(ch(4))
    res = 8
    while res <= resolution:
        g += layer(ch(res // 2), ch(res), 3) + layer(ch(res), ch(res), 3) + torgb(ch(res))
        res *= 2
    d = conv(img, ch(resolution), 1)
    res = resolution
    while res >= 8:
        d += conv(ch(res), ch(res), 3) + conv(ch(res), ch(res // 2), 3) + conv(ch(res), ch(res // 2), 1, False)
        res //= 2
    d += conv(ch(4) + 1, ch(4), 3) + (ch(4) * 16 * ch(4) + ch(4)) + ch(4) + 1
    return g, d


def test_dcgan_matches_pytorch_example_plus_one_bias():
    g, d = td.networks.get("dcgan", 64, latent_dim=100, width=64)
    ref_g, ref_d = dcgan_reference()
    assert (trainable(g), trainable(d)) == (ref_g, ref_d + 1)  # D's head is a linear layer with a bias
    assert (ref_g, ref_d) == (3_576_704, 2_765_568)


@pytest.mark.parametrize("num_classes", [None, 10])
def test_sngan_cifar_matches_chainer_reference(num_classes):
    preset = td.networks.get_preset("sngan-cifar")
    g, d = td.networks.get("sngan", 32, num_classes=num_classes, **preset["network_kwargs"])
    assert (trainable(g), trainable(d)) == sngan_reference(n_classes=num_classes or 0)


def test_biggan_cifar_preset_matches_diffaugment_biggan_cifar():
    preset = td.networks.get_preset("biggan-cifar")
    g, d = td.networks.get(
        preset["network"], preset["resolution"], preset["channels"], preset["num_classes"], **preset["network_kwargs"]
    )
    ref = biggan_reference(32, ch=64, n_classes=10, dim_z=128, shared_dim=0, hier=False, attention=None)
    assert (trainable(g), trainable(d)) == ref == (4_304_387, 4_207_361)


def test_biggan_imagenet128_matches_biggan_pytorch():
    # Zero init only to build the 158M parameters fast; the count does not depend on it.
    g, d = td.networks.get("biggan", 128, num_classes=1000, latent_dim=120, ch=96, kernel_initializer="zeros")
    ref = biggan_reference(128, ch=96, n_classes=1000, dim_z=120, shared_dim=128, hier=True, attention=64)
    assert (trainable(g), trainable(d)) == ref


def test_stylegan2_lowshot_preset_matches_stylegan2_ada_pytorch_low_shot():
    preset = td.networks.get_preset("stylegan2-lowshot-256")
    g, d = td.networks.get(preset["network"], preset["resolution"], **preset["network_kwargs"])
    assert (trainable(g), trainable(d)) == stylegan2_reference(256, mapping=2)
    assert stylegan2_reference(256, mapping=8)[0] - stylegan2_reference(256, mapping=2)[0] == 6 * (512 * 512 + 512)
