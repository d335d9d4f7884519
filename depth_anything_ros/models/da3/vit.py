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

"""The Depth Anything 3 backbone: DINOv2 with alternating within-view / cross-view attention.

Parameters live under ``backbone.pretrained`` with the official names. Tokens are kept as
``(B, S, N, D)`` (batch, views, 1 + patches, channels). From ``alt_start`` on, odd blocks attend
across all views of a batch item at once ("global") and even blocks within each view
("local"); before that every block is local. At ``alt_start`` the class token of every view is
replaced by a camera token: a learnt reference / other-view pair, or the camera encoder's
output when poses are given. With three or more views and no poses, one view is chosen as the
reference (moved first for the global blocks, order restored on output).
"""

from __future__ import annotations

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from depth_anything_ros.models.da2.dinov2 import (
    add_embeddings,
    cubic_resize_matrix,
    full_grid,
    LayerScale,
    Mlp,
    SwiGLUFFN,
)

from .config import Da3Config

#: Views from which a reference view is chosen (below it the first view is the reference).
REFERENCE_MIN_VIEWS = 3
REFERENCE_STRATEGIES = ('first', 'middle', 'saddle_balanced', 'saddle_sim_range')
ROPE_BASE = 100.0
#: LayerNorm epsilon of the blocks' norm1/norm2 (every other LayerNorm uses torch's 1e-5).
BLOCK_LN_EPS = 1e-6


def rope_tables(positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """cos/sin tables ``(N, head_dim / 2)`` for integer positions ``(N,)`` along one axis.

    Each axis rotates half of a head's channels; within that half, channel ``c`` and
    ``c + quarter`` form a pair turned by ``position * 100 ** (-2c / half)``.
    """
    half = head_dim // 2
    inv_freq = 1.0 / ROPE_BASE ** (torch.arange(0, half, 2, device=positions.device).float()
                                   / half)  # (half / 2,)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (N, half / 2)
    angles = torch.cat([angles, angles], dim=-1)  # (N, half)
    return angles.cos(), angles.sin()


def _rotate_pairs(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rope(x: Tensor, rope: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
    """Rotate ``x`` (B, heads, N, head_dim): first half by row position, second by column."""
    cos_y, sin_y, cos_x, sin_x = rope  # each (N, head_dim / 2)
    y, xx = x.chunk(2, dim=-1)
    y = y * cos_y.to(x.dtype) + _rotate_pairs(y) * sin_y.to(x.dtype)
    xx = xx * cos_x.to(x.dtype) + _rotate_pairs(xx) * sin_x.to(x.dtype)
    return torch.cat([y, xx], dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention, optionally with QK LayerNorm and 2-D RoPE."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm = nn.LayerNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, ...] | None = None) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block with LayerScale on both branches."""

    def __init__(self, dim: int, num_heads: int, ffn: nn.Module, qk_norm: bool = False,
                 eps: float = BLOCK_LN_EPS) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qk_norm)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = ffn
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, ...] | None = None) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        return x + self.ls2(self.mlp(self.norm2(x)))


def select_reference(x: Tensor, strategy: str) -> Tensor:
    """Index (B,) of the reference view from the class tokens of ``x`` (B, S, N, D)."""
    b, s = x.shape[:2]
    if strategy == 'first':
        return torch.zeros(b, dtype=torch.long, device=x.device)
    if strategy == 'middle':
        return torch.full((b,), s // 2, dtype=torch.long, device=x.device)
    cls = x[:, :, 0]  # (B, S, D)
    unit = cls / cls.norm(dim=-1, keepdim=True)
    sim = unit @ unit.transpose(1, 2) - torch.eye(s, device=x.device)  # (B, S, S), no self
    if strategy == 'saddle_sim_range':
        return (sim.max(dim=-1).values - sim.min(dim=-1).values).argmax(dim=1)
    if strategy != 'saddle_balanced':
        raise ValueError(f'unknown reference-view strategy {strategy!r}; choose from '
                         f'{", ".join(REFERENCE_STRATEGIES)}')

    def spread(m: Tensor) -> Tensor:  # (B, S) -> [0, 1] per batch item
        lo, hi = m.min(dim=1, keepdim=True).values, m.max(dim=1, keepdim=True).values
        return (m - lo) / (hi - lo + 1e-8)

    # The view closest to the middle of the pack by mean similarity, norm and spread.
    score = ((spread(sim.sum(dim=-1) / (s - 1)) - 0.5).abs()
             + (spread(cls.norm(dim=-1)) - 0.5).abs() + (spread(unit.var(dim=-1)) - 0.5).abs())
    return score.argmin(dim=1)


def reference_first(x: Tensor, ref: Tensor) -> Tensor:
    """Reorder views (dim 1) as [ref, the others in their order]."""
    pos = torch.arange(x.shape[1], device=x.device)[None]  # (1, S)
    order = torch.where((pos > 0) & (pos <= ref[:, None]), pos - 1, pos)  # (B, S)
    order[:, 0] = ref
    return x[torch.arange(x.shape[0], device=x.device)[:, None], order]


def restore_order(x: Tensor, ref: Tensor) -> Tensor:
    """Undo :func:`reference_first`."""
    pos = torch.arange(x.shape[1], device=x.device)[None].expand(x.shape[0], -1)  # (B, S)
    order = torch.where(pos < ref[:, None], pos + 1, pos)
    order = torch.where(pos == ref[:, None], torch.zeros_like(order), order)
    return x[torch.arange(x.shape[0], device=x.device)[:, None], order]


class Backbone(nn.Module):
    """DINOv2 ViT (submodule ``pretrained``) returning the head's four token maps.

    ``forward(x (B, S, 3, H, W), cam_token=None)`` -> list of 4 (tokens (B, S, ph*pw, C),
    camera tokens (B, S, C)) with C = 2D (``cat_token``: last local output, then the block's own
    output, only the latter normed) or D.
    """

    def __init__(self, cfg: Da3Config) -> None:
        super().__init__()
        self.pretrained = VisionTransformer(cfg)

    def forward(self, x: Tensor, cam_token: Tensor | None = None,
                ref_view_strategy: str = 'saddle_balanced') -> list[tuple[Tensor, Tensor]]:
        return self.pretrained(x, cam_token, ref_view_strategy)


class VisionTransformer(nn.Module):
    """The ViT itself (official ``backbone.pretrained`` keys)."""

    def __init__(self, cfg: Da3Config) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        # camera tokens: [reference view, other views] for the any-view trunk
        add_embeddings(self, d, cfg.pos_grid, cfg.patch_size,
                       camera_tokens=2 if cfg.any_view else 0)

        def ffn() -> nn.Module:
            return Mlp(d, cfg.ffn_hidden) if cfg.ffn == 'mlp' else SwiGLUFFN(d, cfg.ffn_hidden)

        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, ffn(), qk_norm=0 <= cfg.qknorm_start <= i)
            for i in range(cfg.depth))
        self.norm = nn.LayerNorm(d)  # torch's default eps (1e-5), unlike the blocks' norms

    def pos_embed_for(self, ph: int, pw: int) -> Tensor:
        """Positional embedding for a ph x pw grid: (1, 1 + ph*pw, D) float32 (bicubic)."""
        g = self.cfg.pos_grid
        pos = self.pos_embed.float()
        grid = pos[0, 1:].reshape(g, g, -1)  # (g, g, D)
        square = full_grid(ph, pw, g, grid)  # tensor ops: both sides stay symbolic when traced
        w_rows = cubic_resize_matrix(ph, g, square, grid.device)  # (ph, g)
        w_cols = cubic_resize_matrix(pw, g, square, grid.device)  # (pw, g)
        x = torch.einsum('ig,ghd->ihd', w_rows, grid)  # (ph, g, D)
        x = torch.einsum('jh,ihd->ijd', w_cols, x)  # (ph, pw, D)
        return torch.cat([pos[:, :1], x.reshape(1, ph * pw, -1)], dim=1)

    def _rope(self, ph: int, pw: int, device: torch.device) -> tuple[tuple, tuple]:
        """Return the RoPE tables for local and for global attention.

        Local: patch (r, c) sits at (r + 1, c + 1), the camera/class token at 0. Global: every
        patch at 1, the token at 0 (views attend to each other without relative positions).
        """
        hd = self.cfg.embed_dim // self.cfg.num_heads
        rows = torch.arange(ph, device=device).repeat_interleave(pw) + 1  # (ph*pw,)
        cols = torch.arange(pw, device=device).repeat(ph) + 1
        zero = torch.zeros(1, dtype=torch.long, device=device)
        local = (*rope_tables(torch.cat([zero, rows]), hd),
                 *rope_tables(torch.cat([zero, cols]), hd))
        flat = torch.cat([zero, torch.ones_like(rows)])
        c, s = rope_tables(flat, hd)
        return local, (c, s, c, s)

    def tokens(self, x: Tensor) -> Tensor:
        """Images (B, S, 3, H, W) -> tokens (B, S, 1 + ph*pw, D) with positions added."""
        b, s, _, h, w = x.shape
        p = self.cfg.patch_size
        t = self.patch_embed(x.reshape(b * s, 3, h, w))  # (B*S, ph*pw, D)
        t = torch.cat([self.cls_token.expand(b * s, -1, -1).to(t.dtype), t], dim=1)
        with torch.autocast(x.device.type, enabled=False):  # float32, like the official resize
            pos = self.pos_embed_for(h // p, w // p)
        t = t + pos.to(t.dtype)
        return t.reshape(b, s, t.shape[1], t.shape[2])

    def forward(self, x: Tensor, cam_token: Tensor | None = None,
                ref_view_strategy: str = 'saddle_balanced') -> list[tuple[Tensor, Tensor]]:
        cfg = self.cfg
        b, s, _, h, w = x.shape
        p = cfg.patch_size
        if h % p or w % p:
            raise ValueError(f'input height and width must be multiples of {p}, got {h}x{w}')
        x = self.tokens(x)  # (B, S, N, D)
        n, d = x.shape[2], x.shape[3]
        local_rope, global_rope = (self._rope(h // p, w // p, x.device)
                                   if cfg.rope_start >= 0 else (None, None))
        # Traced for export, the view count is the graph's: the choice is made in the graph
        # and kept only from three views on (the first view below that, as here).
        tracing = torch.jit.is_tracing()
        choose_ref = cfg.any_view and cam_token is None and (s >= REFERENCE_MIN_VIEWS
                                                              or tracing)
        ref = None
        local_x = x
        wanted = set(cfg.out_layers)
        outs = []
        for i, blk in enumerate(self.blocks):
            if choose_ref and i == cfg.alt_start - 1:
                ref = select_reference(x, ref_view_strategy)
                if tracing:
                    count = torch._shape_as_tensor(x)[1]
                    ref = torch.where(count >= REFERENCE_MIN_VIEWS, ref, torch.zeros_like(ref))
                x, local_x = reference_first(x, ref), reference_first(local_x, ref)
            if cfg.any_view and i == cfg.alt_start:
                if cam_token is None:  # learnt tokens: one for the reference, one for the rest
                    cam_token = torch.cat([self.camera_token[:, :1].expand(b, 1, -1),
                                           self.camera_token[:, 1:].expand(b, s - 1, -1)],
                                          dim=1)
                x = torch.cat([cam_token[:, :, None].to(x.dtype), x[:, :, 1:]], dim=2)
                local_x = x  # the official code writes the token into the shared tensor
            use_rope = cfg.rope_start >= 0 and i >= cfg.rope_start
            if cfg.any_view and i >= cfg.alt_start and i % 2 == 1:  # across views
                x = blk(x.reshape(b, s * n, d),
                        self._tile(global_rope, s) if use_rope else None).reshape(b, s, n, d)
            else:  # within each view
                x = blk(x.reshape(b * s, n, d), local_rope if use_rope else None)
                x = x.reshape(b, s, n, d)
                local_x = x
            if i in wanted:
                out = torch.cat([local_x, x], dim=-1) if cfg.cat_token else x
                if ref is not None:
                    out = restore_order(out, ref)
                outs.append(out)
        feats = []
        for out in outs:
            normed = (torch.cat([out[..., :d], self.norm(out[..., d:])], dim=-1)
                      if cfg.cat_token else self.norm(out))
            feats.append((normed[:, :, 1:], out[:, :, 0]))
        return feats

    @staticmethod
    def _tile(rope: tuple[Tensor, ...] | None, views: int) -> tuple[Tensor, ...] | None:
        return None if rope is None else tuple(t.repeat(views, 1) for t in rope)
