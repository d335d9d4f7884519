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

"""Configurations of Video Depth Anything (plain data, no torch).

A network is a DINOv2 trunk and a DPT head exactly as in Depth Anything V2, plus four temporal
modules in the head (each: GroupNorm, a linear projection in, one transformer block of two
temporal self-attentions and a GEGLU feed-forward, a projection out, added to its input). The
attention runs along time only, per pixel, over at most :data:`WINDOW` frames, with sinusoidal
positions. The relative and the metric networks have the same architecture: a relative one
outputs affine-invariant disparity, a metric one metres (both through a final ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from depth_anything_ros.models.config_dict import check_int_fields, ViTTrunk
from depth_anything_ros.vocabulary import PATCH_SIZE

#: Frames one temporal attention sees: the official window (and positional-encoding length).
WINDOW = 32
#: Heads of every temporal attention; groups of the GroupNorm before each temporal module.
TEMPORAL_HEADS = 8
NORM_GROUPS = 32

_POSITIVE = ('embed_dim', 'depth', 'num_heads', 'ffn_hidden', 'features', 'head_hidden',
             'patch_size', 'pos_grid', 'temporal_frames', 'temporal_heads', 'norm_groups')


@dataclass(frozen=True)
class VdaConfig(ViTTrunk):
    """Everything that fixes a Video Depth Anything network and the meaning of its output.

    The trunk fields (``embed_dim`` ... ``pos_grid``) mean what they mean for Depth Anything V2
    (:class:`depth_anything_ros.models.da2.config.ModelConfig`); ``temporal_frames`` is the
    temporal window (the length of the stored positional encoding), ``temporal_heads`` and
    ``norm_groups`` the temporal modules' heads and GroupNorm groups. ``metric``: the output
    is metres (else affine-invariant disparity).
    """

    encoder: str = 'vda-small'
    intermediate_layers: tuple[int, ...] = (2, 5, 8, 11)
    features: int = 64
    out_channels: tuple[int, ...] = (48, 96, 192, 384)
    head_hidden: int = 32
    patch_size: int = PATCH_SIZE
    pos_grid: int = 37
    temporal_frames: int = WINDOW
    temporal_heads: int = TEMPORAL_HEADS
    norm_groups: int = NORM_GROUPS
    metric: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, str):
            raise ValueError(f'encoder must be a name (string), got {self.encoder!r}')
        if not isinstance(self.metric, bool):
            raise ValueError(f'metric must be true or false, got {self.metric!r}')
        check_int_fields(self, _POSITIVE, ('intermediate_layers', 'out_channels'), list_len=4)
        for width in (self.out_channels[2], self.out_channels[3], self.features):
            if width % self.norm_groups or width % self.temporal_heads:
                raise ValueError(f'temporal module width {width} must be a multiple of '
                                 f'norm_groups {self.norm_groups} and temporal_heads '
                                 f'{self.temporal_heads}')
        if self.embed_dim % self.num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by num_heads '
                             f'{self.num_heads}')
        if not all(0 <= i < self.depth for i in self.intermediate_layers):
            raise ValueError(f'intermediate_layers {self.intermediate_layers} must lie in '
                             f'[0, depth={self.depth})')

    @property
    def is_metric(self) -> bool:
        """Whether the output is metres (else affine-invariant disparity)."""
        return self.metric

    @property
    def output(self) -> str:
        """``'metric'`` or ``'disparity'`` (the registry's output words)."""
        return 'metric' if self.metric else 'disparity'

    @property
    def max_depth(self) -> None:
        """No ceiling: the metric networks end in a ReLU, not a scaled sigmoid."""
        return None

    def with_metric(self, metric: bool) -> VdaConfig:
        """Return a copy whose output is metres (``metric``) or disparity."""
        return replace(self, metric=bool(metric))

    def trunk_dict(self) -> dict:
        """Return the fields of the equivalent (relative) Depth Anything V2 configuration."""
        return {'encoder': self.encoder, 'embed_dim': self.embed_dim, 'depth': self.depth,
                'num_heads': self.num_heads, 'ffn': self.ffn, 'ffn_hidden': self.ffn_hidden,
                'intermediate_layers': self.intermediate_layers, 'features': self.features,
                'out_channels': self.out_channels, 'head_hidden': self.head_hidden,
                'patch_size': self.patch_size, 'pos_grid': self.pos_grid}


def _official(name: str, dim: int, depth: int, heads: int, hidden: int,
              layers: tuple[int, ...], features: int, out: tuple[int, ...]) -> VdaConfig:
    return VdaConfig(encoder=name, embed_dim=dim, depth=depth, num_heads=heads,
                     ffn_hidden=hidden, intermediate_layers=layers, features=features,
                     out_channels=out)


#: The official configurations (the encoder sizes of Depth Anything V2 Small, Base, Large).
CONFIGS: dict[str, VdaConfig] = {
    'vda-small': _official('vda-small', 384, 12, 6, 1536, (2, 5, 8, 11), 64,
                           (48, 96, 192, 384)),
    'vda-base': _official('vda-base', 768, 12, 12, 3072, (2, 5, 8, 11), 128,
                          (96, 192, 384, 768)),
    'vda-large': _official('vda-large', 1024, 24, 16, 4096, (4, 11, 17, 23), 256,
                           (256, 512, 1024, 1024)),
}
#: A small configuration (~0.4 M parameters) for tests: no published weights.
EXTRA_CONFIGS: dict[str, VdaConfig] = {
    'vda-tiny': _official('vda-tiny', 64, 4, 2, 256, (0, 1, 2, 3), 32, (16, 32, 32, 64)),
}
#: The official trunk each configuration's file names use.
OFFICIAL_ENCODER = {'vda-small': 'vits', 'vda-base': 'vitb', 'vda-large': 'vitl'}


def config_for(encoder: str | VdaConfig, metric: bool | None = None) -> VdaConfig:
    """Resolve a configuration name (or config) and the output kind into a :class:`VdaConfig`."""
    if isinstance(encoder, VdaConfig):
        cfg = encoder
    elif encoder in CONFIGS:
        cfg = CONFIGS[encoder]
    elif encoder in EXTRA_CONFIGS:
        cfg = EXTRA_CONFIGS[encoder]
    else:
        raise ValueError(f'unknown Video Depth Anything configuration {encoder!r}; choose from '
                         f'{", ".join([*CONFIGS, *EXTRA_CONFIGS])}')
    return cfg if metric is None else cfg.with_metric(metric)
