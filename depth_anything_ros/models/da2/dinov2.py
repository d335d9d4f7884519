# Copyright 2026 depth_anything_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""DINOv2 ViT encoder as used by Depth Anything V2 (submodule ``pretrained``).

Parameter names and shapes follow the official checkpoints exactly. Attention runs through
``F.scaled_dot_product_attention`` (fused kernels on CPU and CUDA; within ~3e-6 of the
explicit softmax form). The positional-embedding interpolation is written as two 1-D
bicubic weight matrices built from tensor shapes, so it traces and exports with dynamic
image sizes while reproducing ``F.interpolate(scale_factor=..., mode='bicubic')``.
"""

from __future__ import annotations

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from .config import ModelConfig

#: Offset added to the patch counts before computing the bicubic scale factor (DINOv2).
POS_INTERP_OFFSET = 0.1
#: Cubic convolution constant used by PyTorch's (and OpenCV's) bicubic resampling.
CUBIC_A = -0.75


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` conv: [B,3,H,W] -> [B, H/p * W/p, D] (row-major)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x)  # (B, D, ph, pw)
        return x.flatten(2).transpose(1, 2)  # (B, ph*pw, D)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Linear -> exact (erf) GELU -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwiGLUFFN(nn.Module):
    """SwiGLU feed-forward (ViT-G): w12 gives [a | b], hidden = silu(a) * b, then w3."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class LayerScale(nn.Module):
    """Per-channel residual-branch scale ``gamma`` (not in place: the input is reused)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both residual branches."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.attn = Attention(d, cfg.num_heads)
        self.ls1 = LayerScale(d)
        self.norm2 = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(d, cfg.ffn_hidden) if cfg.ffn == 'mlp' else SwiGLUFFN(d, cfg.ffn_hidden)
        self.ls2 = LayerScale(d)

    def forward(self, x: Tensor) -> Tensor:
        # x + gamma * branch in one pass (addcmul) instead of a multiply, then an add: one
        # memory sweep fewer per branch (24 fewer per ViT-S frame), the same value to ~1 ulp.
        x = torch.addcmul(x, self.attn(self.norm1(x)), self.ls1.gamma)
        return torch.addcmul(x, self.mlp(self.norm2(x)), self.ls2.gamma)


def cubic_resize_matrix(n_out: int, n_in: int, square: Tensor | bool = False,
                        device: torch.device | None = None) -> Tensor:
    """Return W [n_out, n_in] such that ``W @ v`` equals torch's bicubic resize of ``v``.

    Reproduces ``F.interpolate(scale_factor=(n_out + 0.1) / n_in, mode='bicubic',
    align_corners=False)`` along one axis: source = scale * (o + 0.5) - 0.5 with
    scale = float32(1 / scale_factor) as PyTorch computes it, cubic kernel
    A = -0.75, taps clamped to the border (clamped taps accumulate). ``square`` (bool or a
    0-d bool tensor) selects the identity instead, mirroring DINOv2's shortcut for an exactly
    square, full-size grid. Everything derives from tensor shapes so it traces dynamically.
    """
    o = torch.arange(n_out, device=device, dtype=torch.float32)  # (n_out,)
    n = torch.ones_like(o).sum()  # n_out as a traced 0-d tensor (exact in float32)
    # PyTorch uses float32(1 / float64((n + 0.1) / n_in)). 10*n_in / (10*n + 1) divides two
    # exactly representable integers, so float32 division rounds the same true value the same
    # way (checked for n < 3000), with no float64 ops in exported graphs (TensorRT has none).
    k = round(1 / POS_INTERP_OFFSET)
    # tensor / tensor: ``scalar / tensor`` would be reciprocal-then-multiply (two roundings).
    scale = torch.full_like(n, k * n_in) / (k * n + 1)
    # scale 1 makes every source index integral -> weights (0, 1, 0, 0): exact identity.
    scale = torch.where(torch.as_tensor(square, device=o.device), torch.ones_like(scale), scale)
    src = scale * (o + 0.5) - 0.5  # (n_out,) source coordinate, float32 like torch's kernel
    i0 = torch.floor(src).clamp(max=n_in - 1)
    t = (src - i0).clamp(0.0, 1.0)
    a = CUBIC_A

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Tensor) -> Tensor:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    coeffs = (far(t + 1), near(t), near(1 - t), far(2 - t))
    cols = torch.arange(n_in, device=o.device, dtype=torch.float32)  # (n_in,)
    w = torch.zeros_like(o)[:, None] * cols[None, :]  # (n_out, n_in) zeros, traced shape
    for j, c in enumerate(coeffs):
        tap = (i0 + (j - 1)).clamp(0, n_in - 1)  # (n_out,)
        w = w + (tap[:, None] == cols[None, :]).to(torch.float32) * c[:, None]
    return w


def full_grid(ph: int, pw: int, g: int, like: Tensor) -> Tensor:
    """Whether a ph x pw patch grid is the stored g x g one: a 0-d bool tensor.

    Built with tensor ops so a traced graph keeps both sides symbolic (a Python ``and`` of
    traced sizes would keep only the operand that decided it at trace time).
    """
    return (like.new_ones(ph).sum() == g) & (like.new_ones(pw).sum() == g)


def add_embeddings(vit: nn.Module, dim: int, pos_grid: int, patch_size: int, *,
                   camera_tokens: int = 0, mask_token: bool = False) -> None:
    """Register a DINOv2-style ViT's own parameters and patch embedding, in the official order.

    ``cls_token`` (1, 1, D), ``camera_token`` (1, camera_tokens, D) when asked (Depth Anything
    3's any-view trunk), ``pos_embed`` (1, 1 + pos_grid**2, D), ``mask_token`` (1, D; unused at
    inference, kept for the keys), then the ``patch_embed`` submodule: a state dict lists a
    module's own parameters in this order, before any submodule.
    """
    vit.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
    if camera_tokens:
        vit.camera_token = nn.Parameter(torch.zeros(1, camera_tokens, dim))
    vit.pos_embed = nn.Parameter(torch.zeros(1, 1 + pos_grid ** 2, dim))
    if mask_token:
        vit.mask_token = nn.Parameter(torch.zeros(1, dim))
    vit.patch_embed = PatchEmbed(patch_size, dim)


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT without its classification head; returns normed intermediate tokens."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        add_embeddings(self, d, cfg.pos_grid, cfg.patch_size, mask_token=True)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self._pos_cache: dict[tuple, Tensor] = {}
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)

    def interpolate_pos_embed(self, ph: int, pw: int) -> Tensor:
        """Positional embedding for a ph x pw patch grid: [1, 1 + ph*pw, D] float32."""
        g = self.cfg.pos_grid
        pos = self.pos_embed.float()
        cls_pos, grid = pos[:, :1], pos[0, 1:]  # (1, 1, D), (g*g, D)
        d = grid.shape[-1]
        # The official shortcut (no interpolation) applies only to an exactly g x g grid; decided
        # with tensor ops rather than Python branching so export keeps the sizes symbolic.
        square = full_grid(ph, pw, g, grid)
        w_rows = cubic_resize_matrix(ph, g, square, grid.device)  # (ph, g)
        w_cols = cubic_resize_matrix(pw, g, square, grid.device)  # (pw, g)
        # Two plain 2-D matmuls (export-friendly): rows first, then columns.
        x = w_rows @ grid.reshape(g, g * d)  # (ph, g*D)
        x = x.reshape(-1, g, d).transpose(0, 1).reshape(g, -1)  # (g, ph*D)
        x = w_cols @ x  # (pw, ph*D)
        x = x.reshape(pw, -1, d).transpose(0, 1).reshape(1, -1, d)  # (1, ph*pw, D)
        return torch.cat([cls_pos, x], dim=1)

    def _pos_embed_for(self, ph: int, pw: int) -> Tensor:
        """Return :meth:`interpolate_pos_embed`, cached in eval mode (reset by weight updates).

        Weights created under ``torch.inference_mode()`` are inference tensors, which keep no
        version counter: an in-place update could not be seen, so they are never cached (the
        interpolation is two small matmuls).
        """
        if (self.training or torch.jit.is_tracing() or torch.compiler.is_compiling()
                or torch.onnx.is_in_onnx_export() or self.pos_embed.is_inference()
                or self.pos_embed.requires_grad and torch.is_grad_enabled()):
            return self.interpolate_pos_embed(ph, pw)
        p = self.pos_embed
        key = (int(ph), int(pw), p.device, p.data_ptr(), p._version)
        cached = self._pos_cache.get(key)
        if cached is None:
            self._pos_cache.clear()  # one camera resolution at a time is the common case
            with torch.no_grad():
                cached = self.interpolate_pos_embed(ph, pw)
            self._pos_cache[key] = cached
        return cached

    def prepare_tokens(self, x: Tensor) -> Tensor:
        """[B,3,H,W] -> tokens [B, 1 + ph*pw, D] with cls token and positional embedding."""
        p = self.cfg.patch_size
        ph, pw = x.shape[-2] // p, x.shape[-1] // p
        tokens = self.patch_embed(x)  # (B, ph*pw, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype)  # (B, 1, D)
        tokens = torch.cat([cls, tokens], dim=1)  # (B, 1 + ph*pw, D)
        # Interpolated in float32, added in the tokens' dtype (as the official model does).
        return tokens + self._pos_embed_for(ph, pw).to(tokens.dtype)

    def get_intermediate_layers(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Return the ``cfg.intermediate_layers`` outputs after the final norm.

        A list of (patches [B, ph*pw, D], cls [B, D]) tuples.
        """
        h, w = x.shape[-2:]
        p = self.cfg.patch_size
        if h % p or w % p:
            raise ValueError(f'input height and width must be multiples of {p}, got {h}x{w}; '
                             'resize with depth_anything_ros.models.transforms.target_size')
        x = self.prepare_tokens(x)
        wanted = set(self.cfg.intermediate_layers)
        last = max(wanted)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in wanted:
                outs.append(x)
            if i == last:
                break
        normed = [self.norm(o) for o in outs]
        return [(o[:, 1:], o[:, 0]) for o in normed]
