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

"""The Depth Anything V2 network: DINOv2 encoder (``pretrained``) + DPT head (``depth_head``)."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn, Tensor

from .config import config_for, ModelConfig
from .dinov2 import DinoVisionTransformer
from .dpt import DPTHead


class DepthAnythingV2(nn.Module):
    """Monocular depth network; ``state_dict()`` matches the official checkpoints key for key.

    ``forward(x)``: x [B,3,H,W] ImageNet-normalised RGB with H, W multiples of 14 ->
    [B,H,W] float: affine-invariant disparity (relative head, >= 0) or metres in
    (0, max_depth) (metric head).
    """

    #: the registry's name of this family (sidecars record it)
    family = 'da2'

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.pretrained = DinoVisionTransformer(cfg)
        self.depth_head = DPTHead(cfg)

    @property
    def encoder(self) -> DinoVisionTransformer:
        """The DINOv2 encoder (official name ``pretrained``)."""
        return self.pretrained

    @property
    def head(self) -> DPTHead:
        """The DPT head (official name ``depth_head``)."""
        return self.depth_head

    @property
    def is_metric(self) -> bool:
        """True when the output is depth in metres."""
        return self.config.is_metric

    def forward_features(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Normed intermediate tokens: 4 x (patches [B, ph*pw, D], cls [B, D])."""
        return self.pretrained.get_intermediate_layers(x)

    def forward(self, x: Tensor) -> Tensor:
        p = self.config.patch_size
        ph, pw = x.shape[-2] // p, x.shape[-1] // p
        feats = self.forward_features(x)
        out = self.depth_head(feats, ph, pw, x.shape[-2:])  # (B, 1, H, W)
        if self.config.is_metric:
            out = out * self.config.max_depth  # sigmoid output -> metres
        else:
            out = torch.relu(out)
        return out.squeeze(1)  # (B, H, W)


def build_model(encoder: str | ModelConfig, head: str = 'relative',
                max_depth: float | None = None, *,
                device: torch.device | str | None = None) -> DepthAnythingV2:
    """Build an (untrained, default-initialised) Depth Anything V2 network.

    ``encoder``: vits | vitb | vitl | vitg | tiny, or a :class:`ModelConfig` (whose own head
    is replaced by ``head``). ``head``: 'relative' (disparity) or 'metric' (metres, sigmoid
    * ``max_depth``, default 20). ``device='meta'`` builds without allocating memory (fill it
    with ``to_empty`` + ``load_state_dict`` later).
    """
    cfg = config_for(encoder, head, max_depth if head == 'metric' else None)
    if head == 'relative' and max_depth is not None:
        raise ValueError('max_depth only applies to head="metric"')
    with torch.device(device) if device is not None else nullcontext():
        return DepthAnythingV2(cfg)

