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

"""DPT head of Depth Anything V2 (submodule ``depth_head``), official parameter names.

Every output size is taken from tensor shapes (never ``int()`` of a size), so the head traces
with dynamic input sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn, Tensor
import torch.nn.functional as F

from .config import ModelConfig


def _resize(x: Tensor, size: Sequence) -> Tensor:
    """Bilinear resize with align_corners=True (what every DA-V2 upsample uses)."""
    return F.interpolate(x, size=size, mode='bilinear', align_corners=True)


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))); the ReLUs are not in place (x is the skip)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + x


class FeatureFusionBlock(nn.Module):
    """Fuse a coarser path with a skip level, refine, upsample to ``size``, 1x1 conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        # Registration order matches the checkpoints' key order (out_conv first).
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: Tensor, skip: Tensor | None, size: Sequence) -> Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        return self.out_conv(_resize(x, size))


class Scratch(nn.Module):
    """Container that only exists to reproduce the ``depth_head.scratch.*`` key names."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        f = cfg.features
        oc = cfg.out_channels
        self.layer1_rn = nn.Conv2d(oc[0], f, 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(oc[1], f, 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(oc[2], f, 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(oc[3], f, 3, padding=1, bias=False)
        self.refinenet1 = FeatureFusionBlock(f)
        self.refinenet2 = FeatureFusionBlock(f)
        self.refinenet3 = FeatureFusionBlock(f)
        self.refinenet4 = FeatureFusionBlock(f)  # gets one input: its resConfUnit1 is unused
        self.output_conv1 = nn.Conv2d(f, f // 2, 3, padding=1)
        last = nn.Sigmoid() if cfg.is_metric else nn.ReLU(True)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(f // 2, cfg.head_hidden, 3, padding=1), nn.ReLU(True),
            nn.Conv2d(cfg.head_hidden, 1, 1), last, nn.Identity())


class DPTHead(nn.Module):
    """Reassemble 4 token maps at 1/14 into a pyramid, fuse coarse-to-fine, predict 1 channel."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, oc = cfg.embed_dim, cfg.out_channels
        self.projects = nn.ModuleList(nn.Conv2d(d, c, 1) for c in oc)
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(oc[0], oc[0], 4, stride=4),  # x4 -> 4/14
            nn.ConvTranspose2d(oc[1], oc[1], 2, stride=2),  # x2 -> 2/14
            nn.Identity(),  # 1/14
            nn.Conv2d(oc[3], oc[3], 3, stride=2, padding=1),  # /2 (ceil) -> 1/28
        ])
        self.scratch = Scratch(cfg)

    def forward(self, features: Sequence[tuple[Tensor, Tensor]], ph: int, pw: int,
                out_size: Sequence) -> Tensor:
        """Tokens [(B, ph*pw, D), cls] x4 -> [B, 1, *out_size] (before the output scaling)."""
        levels = []
        for i, (tokens, _cls) in enumerate(features):  # cls token is not used by this head
            x = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, ph, pw)  # (B, D, ph, pw)
            x = self.resize_layers[i](self.projects[i](x))  # (B, oc_i, s_i*ph, s_i*pw)
            levels.append(x)
        s = self.scratch
        l1, l2, l3, l4 = (s.layer1_rn(levels[0]), s.layer2_rn(levels[1]),
                          s.layer3_rn(levels[2]), s.layer4_rn(levels[3]))  # (B, F, ., .)
        p = s.refinenet4(l4, None, l3.shape[2:])
        p = s.refinenet3(p, l3, l2.shape[2:])
        p = s.refinenet2(p, l2, l1.shape[2:])
        p = s.refinenet1(p, l1, (l1.shape[2] * 2, l1.shape[3] * 2))  # (B, F, 8ph, 8pw)
        out = s.output_conv1(p)  # (B, F/2, 8ph, 8pw)
        out = _resize(out, out_size)  # (B, F/2, H, W)
        return s.output_conv2(out)  # (B, 1, H, W)
