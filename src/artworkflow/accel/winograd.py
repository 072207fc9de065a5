"""Frozen 3×3 convolutions by Winograd's minimal filtering F(4×4, 3×3).

A 4×4 block of outputs needs a 6×6 block of inputs. Moved to a transform domain, input blocks and
kernels meet in 36 independent channel products instead of 144 (one batched matrix product), and
the result is moved back. With 128 channels and more in float32, transforms included, this takes
about half the time of oneDNN's direct convolution on editing's shapes (a 256-channel 64×64 map:
13 ms against 26 ms); with fewer channels the transforms, which only move memory, cost more than
the products save, so those layers stay direct.

The interpolation points 0, 1, −1, 2, −1/2 (and ∞) keep the rounding error within about twice that
of the direct convolution; the textbook points 0, ±1, ±2 give five times. Editing runs its frozen
float32 networks this way (``accelerate(..., for_="edit")``); training keeps ``nn.Conv2d``, and bf16 stays
direct (oneDNN's bf16 kernels are faster, and bf16 transforms would lose too much precision).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

OUT_TILE, KERNEL = 4, 3
IN_TILE = OUT_TILE + KERNEL - 1
POINTS = (0.0, 1.0, -1.0, 2.0, -0.5)
"""The finite interpolation points; the point at infinity is the last row of every transform."""
MIN_CHANNELS = 128
"""A convolution with fewer input or output channels than this stays direct (it would be slower)."""
CHUNK = 32768
"""Tiles × channels per pass through the transforms (about 5 MB of products in float32)."""


@functools.lru_cache(maxsize=None)
def transforms(points: tuple[float, ...] = POINTS, m: int = OUT_TILE,
               r: int = KERNEL) -> tuple[Tensor, Tensor, Tensor]:
    """(Bᵀ, G, Aᵀ) in float64 such that ``Aᵀ[(G g) ⊙ (Bᵀ d)]`` is the correlation of ``d``
    (m + r − 1 values) with ``g`` (r values): Toom-Cook interpolation at ``points`` and infinity."""
    n = m + r - 1
    if len(points) != n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} finite points, got {len(points)}")
    p = torch.tensor(points, dtype=torch.float64)
    a_t = torch.zeros(m, n, dtype=torch.float64)
    a_t[:, :-1] = p ** torch.arange(m, dtype=torch.float64)[:, None]
    a_t[-1, -1] = 1
    g = torch.zeros(n, r, dtype=torch.float64)
    for j in range(n - 1):
        g[j] = p[j] ** torch.arange(r, dtype=torch.float64) / torch.prod(p[j] - p[torch.arange(n - 1) != j])
    g[-1, -1] = 1
    # Bᵀ is the one matrix for which the identity holds: Σ_j Aᵀ[i,j] G[j,k] Bᵀ[j,t] = [t = i + k].
    conditions = (a_t[:, None, :] * g.T[None, :, :]).reshape(m * r, n)
    wanted = (torch.arange(n) == (torch.arange(m)[:, None] + torch.arange(r)[None, :]).reshape(-1, 1)).double()
    b_t = torch.linalg.lstsq(conditions, wanted).solution
    b_t[b_t.abs() < 1e-12] = 0
    if not (conditions @ b_t - wanted).abs().max() <= 1e-9:  # also catches the NaN of a repeated point
        raise ValueError(f"points {points} admit no F({m}, {r}) transform (repeated points?)")
    return b_t, g, a_t


@functools.lru_cache(maxsize=None)
def _tile_matrices(device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The 2-D input and output transforms as matrices over a flattened tile (Bᵀ⊗Bᵀ, Aᵀ⊗Aᵀ)."""
    b_t, _, a_t = transforms()
    return torch.kron(b_t, b_t).to(device, dtype), torch.kron(a_t, a_t).to(device, dtype)


def kernel_transform(weight: Tensor) -> Tensor:
    """(Cout, Cin, 3, 3) → (36, Cin, Cout): G g Gᵀ for every channel pair, computed in float64."""
    _, g, _ = transforms()
    g = g.to(weight.device)
    u = torch.einsum("ik,ockl,jl->ijco", g, weight.detach().double(), g)
    return u.reshape(IN_TILE * IN_TILE, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def winograd_conv3x3(x: Tensor, u: Tensor, bias: Tensor | None = None, padding: int = 0) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` for a 3×3 kernel given as
    ``kernel_transform(weight)``; the result is channels-last.

    Rows of tiles go through the transforms in chunks of about ``CHUNK`` tile-channels, so that
    each chunk's transformed tiles and products stay in cache between the three steps (on large
    maps about 1.6× faster than transforming the whole map at once)."""
    n, c, h, w = x.shape
    cout = u.shape[2]
    ho, wo = h + 2 * padding - KERNEL + 1, w + 2 * padding - KERNEL + 1
    th, tw = -(-ho // OUT_TILE), -(-wo // OUT_TILE)
    hp, wp = (th - 1) * OUT_TILE + IN_TILE, (tw - 1) * OUT_TILE + IN_TILE
    if (hp, wp) != (h, w):
        x = F.pad(x, (padding, wp - w - padding, padding, hp - h - padding))
    x = x.contiguous(memory_format=torch.channels_last)
    sn, sc, sh, sw = x.stride()
    b_kron, a_kron = _tile_matrices(x.device, x.dtype)
    out = torch.empty(n, th, OUT_TILE, tw, OUT_TILE, cout, device=x.device, dtype=x.dtype)
    rows = max(1, CHUNK // (n * tw * max(c, cout)))
    for r0 in range(0, th, rows):
        r = min(rows, th - r0)
        tiles = x.as_strided((IN_TILE, IN_TILE, n, r, tw, c), (sh, sw, sn, OUT_TILE * sh, OUT_TILE * sw, sc),
                             x.storage_offset() + r0 * OUT_TILE * sh).reshape(IN_TILE * IN_TILE, -1)
        products = torch.bmm((b_kron @ tiles).view(IN_TILE * IN_TILE, n * r * tw, c), u)
        y = (a_kron @ products.view(IN_TILE * IN_TILE, -1)).view(OUT_TILE, OUT_TILE, n, r, tw, cout)
        out[:, r0:r0 + r].copy_(y.permute(2, 3, 0, 4, 1, 5))
    if bias is not None:
        out += bias
    y = out.view(n, th * OUT_TILE, tw * OUT_TILE, cout)[:, :ho, :wo].permute(0, 3, 1, 2)
    return y.contiguous(memory_format=torch.channels_last)


class _WinogradConv(torch.autograd.Function):
    """Input gradient only (the weights are frozen): the full correlation of the output gradient
    with the flipped, transposed kernel, itself a 3×3 convolution done the same way."""

    @staticmethod
    def forward(ctx, x: Tensor, u: Tensor, u_grad: Tensor, bias: Tensor | None, padding: int) -> Tensor:
        ctx.save_for_backward(u_grad)
        ctx.padding = padding
        return winograd_conv3x3(x, u, bias, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (u_grad,) = ctx.saved_tensors
        return winograd_conv3x3(grad, u_grad, None, KERNEL - 1 - ctx.padding), None, None, None, None


def winograd_kernels(weight: Tensor) -> tuple[Tensor, Tensor]:
    """The transformed kernels of a frozen 3×3 convolution: of its forward pass and of its input
    gradient (the flipped, transposed kernel), both made at once."""
    return kernel_transform(weight), kernel_transform(weight.flip(2, 3).transpose(0, 1))


def frozen_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int,
                   kernels: tuple[Tensor, Tensor | None] | None) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` for frozen weights: by Winograd with
    ``kernels = winograd_kernels(weight)`` when given and ``x`` is in their dtype outside autocast,
    directly (in ``x``'s dtype) otherwise, and directly as well when an input gradient is wanted but
    ``kernels`` has none."""
    grad = torch.is_grad_enabled() and x.requires_grad
    if (kernels is None or x.dtype != kernels[0].dtype or torch.is_autocast_enabled(x.device.type)
            or grad and kernels[1] is None):
        return F.conv2d(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype), padding=padding)
    if grad:
        return _WinogradConv.apply(x, *kernels, bias, padding)
    return winograd_conv3x3(x, kernels[0], bias, padding)


def winograd_pays(weight: Tensor) -> bool:
    """Wide enough for the transform to gain, float32 or float64, and on the CPU (cuDNN picks its
    own algorithms)."""
    return (min(weight.shape[:2]) >= MIN_CHANNELS and weight.dtype in (torch.float32, torch.float64)
            and weight.device.type == "cpu")


def winograd_eligible(conv: nn.Module) -> bool:
    """A zero-padded 3×3, stride-1, ungrouped convolution whose weights ``winograd_pays`` for."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple) and conv.padding[0] == conv.padding[1] <= KERNEL - 1
            and winograd_pays(conv.weight))


class WinogradConv2d(nn.Module):
    """A frozen 3×3 convolution computed by F(4×4, 3×3) for float32 inputs outside autocast, and
    directly from the kept weights otherwise. Its weights are buffers under the names of
    ``nn.Conv2d``'s (it never learns); the transformed kernels are derived from them, not saved, and
    made again when weights are loaded into it. Without ``input_gradient`` it keeps no kernel for
    the input gradient (half the memory) and a differentiated call runs directly."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None, padding: int = 0, input_gradient: bool = True):
        super().__init__()
        if weight.shape[-2:] != (KERNEL, KERNEL) or not 0 <= padding <= KERNEL - 1:
            raise ValueError(f"WinogradConv2d takes 3×3 kernels and padding 0-2, got {tuple(weight.shape)}, "
                             f"padding {padding}")
        self.padding, self.input_gradient = padding, input_gradient
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.register_buffer("u", None, persistent=False)
        self.register_buffer("u_grad", None, persistent=False)
        self.transform_kernels()
        self.register_load_state_dict_post_hook(lambda module, _: module.transform_kernels())

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, input_gradient: bool = True) -> "WinogradConv2d":
        return cls(conv.weight, conv.bias, conv.padding[0], input_gradient)

    def transform_kernels(self) -> None:
        """Derive the transformed kernels from the current weights."""
        if self.input_gradient:
            self.u, self.u_grad = winograd_kernels(self.weight)
        else:
            self.u, self.u_grad = kernel_transform(self.weight), None

    def forward(self, x: Tensor) -> Tensor:
        return frozen_conv3x3(x, self.weight, self.bias, self.padding, (self.u, self.u_grad))
