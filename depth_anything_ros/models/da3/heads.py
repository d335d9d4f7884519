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

"""DPT heads of Depth Anything 3 (official ``head.*`` / ``gs_head.*`` parameter names).

:class:`DualDPT` (any-view networks): a LayerNorm on the tokens, sinusoidal UV position
encodings added to every projected level and to the upsampled features, and ``exp`` for
depth / ``1 + exp`` for confidence. Its auxiliary ray branch (``*_aux``) is only held so
official checkpoints load strictly: the official network discards its output.
:class:`DPT` (monocular networks): no token norm, no position encodings, ``exp`` depth and a
ReLU sky map. The giant network's Gaussian-splatting head is held as parameters only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from depth_anything_ros.models.da2.dpt import ResidualConvUnit
from depth_anything_ros.vocabulary import PATCH_SIZE

#: Second width of the output convolutions (fixed in every official head).
HEAD_HIDDEN = 32
#: Channels of the auxiliary ray output (6 ray + 1 confidence) and the splat head's output.
AUX_CHANNELS = 7
GS_CHANNELS = 38
UV_EMBED_SCALE = 0.1
UV_OMEGA = 100.0


def _resize(x: Tensor, size: Sequence) -> Tensor:
    return F.interpolate(x, size=size, mode='bilinear', align_corners=True)


def _sincos(channels: int, pos: Tensor) -> Tensor:
    """(M,) positions -> (M, channels): sines of channels/2 frequencies, then cosines."""
    omega = torch.arange(channels // 2, dtype=torch.float32, device=pos.device)
    omega = 1.0 / UV_OMEGA ** (omega / (channels / 2.0))
    angles = pos.reshape(-1)[:, None] * omega[None, :]  # (M, channels / 2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def uv_embedding(h: int, w: int, channels: int, aspect: float, dtype: torch.dtype,
                 device: torch.device) -> Tensor:
    """Return the position code (channels, h, w) of an h x w grid, times 0.1.

    The grid spreads over the image's diagonal-normed plane: x in [-a, a], y in [-b, b] with
    a / b = ``aspect`` and a^2 + b^2 = 1, cell centres only.
    """
    diag = (aspect ** 2 + 1.0) ** 0.5
    sx, sy = aspect / diag * (w - 1) / w, 1.0 / diag * (h - 1) / h
    xs = torch.linspace(-sx, sx, steps=w, dtype=dtype, device=device)
    ys = torch.linspace(-sy, sy, steps=h, dtype=dtype, device=device)
    u = xs[None, :].expand(h, w)
    v = ys[:, None].expand(h, w)
    emb = torch.cat([_sincos(channels // 2, u), _sincos(channels // 2, v)], dim=-1)  # (h*w, C)
    return (emb.reshape(h, w, channels) * UV_EMBED_SCALE).permute(2, 0, 1)


def add_uv(x: Tensor, height: int, width: int) -> Tensor:
    """Add :func:`uv_embedding` to x (B, C, h, w) of an image ``height`` x ``width``."""
    pe = uv_embedding(x.shape[-2], x.shape[-1], x.shape[1], width / height, x.dtype, x.device)
    return x + pe[None]


class FusionBlock(nn.Module):
    """Optionally add a refined skip level, refine, upsample (to ``size`` or x2), 1x1 conv."""

    def __init__(self, features: int, has_skip: bool = True) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features) if has_skip else None
        self.resConfUnit2 = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x: Tensor, skip: Tensor | None = None,
                size: Sequence | None = None) -> Tensor:
        if skip is not None and self.resConfUnit1 is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        size = size if size is not None else (x.shape[-2] * 2, x.shape[-1] * 2)
        return self.out_conv(_resize(x, size))


def _output_conv2(features: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(features // 2, HEAD_HIDDEN, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(HEAD_HIDDEN, out, 1))


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _Pyramid(nn.Module):
    """Token maps at 1/14 -> 4 levels (x4, x2, x1, /2) -> top-down fusion at 8/14."""

    def __init__(self, dim_in: int, features: int, out_channels: Sequence[int],
                 uv: bool) -> None:
        super().__init__()
        oc = out_channels
        self.uv = uv
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, c, 1) for c in oc)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(oc[0], oc[0], 4, stride=4),
            nn.ConvTranspose2d(oc[1], oc[1], 2, stride=2),
            nn.Identity(),
            nn.Conv2d(oc[3], oc[3], 3, stride=2, padding=1),
        ])
        self.scratch = nn.Module()
        for i, c in enumerate(oc, start=1):
            setattr(self.scratch, f'layer{i}_rn', nn.Conv2d(c, features, 3, padding=1,
                                                            bias=False))
        for i in range(1, 5):
            setattr(self.scratch, f'refinenet{i}', FusionBlock(features, has_skip=i != 4))
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)

    def levels(self, tokens: Sequence[Tensor], ph: int, pw: int, height: int,
               width: int) -> list[Tensor]:
        """4 x tokens (V, ph*pw, C) -> the 4 refined pyramid levels (V, F, ., .)."""
        out = []
        for i, t in enumerate(tokens):
            x = t.transpose(1, 2).reshape(t.shape[0], t.shape[2], ph, pw)  # (V, C, ph, pw)
            x = self.projects[i](x)
            if self.uv:
                x = add_uv(x, height, width)
            x = self.resize_layers[i](x)
            out.append(getattr(self.scratch, f'layer{i + 1}_rn')(x))
        return out

    def fuse(self, levels: Sequence[Tensor]) -> Tensor:
        """Top-down fusion -> output_conv1 features (V, F/2, 8ph, 8pw)."""
        s = self.scratch
        l1, l2, l3, l4 = levels
        x = s.refinenet4(l4, None, l3.shape[2:])
        x = s.refinenet3(x, l3, l2.shape[2:])
        x = s.refinenet2(x, l2, l1.shape[2:])
        x = s.refinenet1(x, l1)
        return s.output_conv1(x)


class DualDPT(_Pyramid):
    """Any-view head: depth (exp) and confidence (1 + exp) at the input resolution."""

    def __init__(self, dim_in: int, features: int, out_channels: Sequence[int]) -> None:
        super().__init__(dim_in, features, out_channels, uv=True)
        self.norm = nn.LayerNorm(dim_in)
        s = self.scratch
        s.output_conv2 = _output_conv2(features, 2)
        for i in range(1, 5):
            setattr(s, f'refinenet{i}_aux', FusionBlock(features, has_skip=i != 4))
        f = features
        s.output_conv1_aux = nn.ModuleList(
            nn.Sequential(nn.Conv2d(f, f // 2, 3, padding=1), nn.Conv2d(f // 2, f, 3, padding=1),
                          nn.Conv2d(f, f // 2, 3, padding=1), nn.Conv2d(f // 2, f, 3, padding=1),
                          nn.Conv2d(f, f // 2, 3, padding=1))
            for _ in range(4))
        s.output_conv2_aux = nn.ModuleList(
            nn.Sequential(nn.Conv2d(f // 2, HEAD_HIDDEN, 3, padding=1), nn.Identity(),
                          ChannelLayerNorm(HEAD_HIDDEN), nn.Identity(), nn.ReLU(),
                          nn.Conv2d(HEAD_HIDDEN, AUX_CHANNELS, 1))
            for _ in range(4))

    def forward(self, tokens: Sequence[Tensor], ph: int, pw: int, height: int,
                width: int) -> tuple[Tensor, Tensor]:
        """4 x tokens (V, ph*pw, C) -> depth, confidence, each (V, 14ph, 14pw)."""
        x = self.fuse(self.levels([self.norm(t) for t in tokens], ph, pw, height, width))
        x = add_uv(_resize(x, (ph * PATCH_SIZE, pw * PATCH_SIZE)), height, width)
        logits = self.scratch.output_conv2(x)  # (V, 2, H, W)
        return torch.exp(logits[:, 0]), torch.exp(logits[:, 1]) + 1


class DPT(_Pyramid):
    """Monocular head: depth (exp) and, with ``sky``, a sky map (ReLU; >= 0.3 means sky)."""

    def __init__(self, dim_in: int, features: int, out_channels: Sequence[int],
                 sky: bool = True) -> None:
        super().__init__(dim_in, features, out_channels, uv=False)
        self.scratch.output_conv2 = _output_conv2(features, 1)
        if sky:
            self.scratch.sky_output_conv2 = _output_conv2(features, 1)

    def forward(self, tokens: Sequence[Tensor], ph: int, pw: int, height: int,
                width: int) -> tuple[Tensor, Tensor]:
        """4 x tokens (V, ph*pw, C) -> depth, sky, each (V, 14ph, 14pw)."""
        x = self.fuse(self.levels(tokens, ph, pw, height, width))
        x = _resize(x, (ph * PATCH_SIZE, pw * PATCH_SIZE))
        depth = torch.exp(self.scratch.output_conv2(x)[:, 0])
        return depth, torch.relu(self.scratch.sky_output_conv2(x)[:, 0])


class GaussianHead(_Pyramid):
    """The giant network's 3-D Gaussian-splatting head: parameters only (not run here)."""

    def __init__(self, dim_in: int, features: int, out_channels: Sequence[int]) -> None:
        super().__init__(dim_in, features, out_channels, uv=True)
        self.scratch.output_conv2 = _output_conv2(features, GS_CHANNELS)
        m = features // 2
        self.images_merger = nn.Sequential(
            nn.Conv2d(3, m // 4, 3, padding=1), nn.GELU(), nn.Conv2d(m // 4, m // 2, 3, padding=1),
            nn.GELU(), nn.Conv2d(m // 2, m, 3, padding=1), nn.GELU())

    def forward(self, *args: object) -> Tensor:
        raise NotImplementedError('the Gaussian-splatting head is not implemented; it is '
                                  'kept so official checkpoints load')
