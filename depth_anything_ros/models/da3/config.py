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

"""Architectures of the Depth Anything 3 networks (the official configurations).

Two kinds of network share one backbone code path:

* **any-view** (``da3-small``/``-base``/``-large``/``-giant``): DINOv2 whose blocks from
  ``alt_start`` on alternate between attention within each view (even blocks) and across all
  views (odd blocks); QK-norm and 2-D RoPE from their start blocks; each tapped block gives the
  last within-view output concatenated with its own (``cat_token``), so the head sees
  ``2 * embed_dim`` channels; a dual DPT head (depth + confidence, and an auxiliary ray branch
  kept for checkpoint compatibility); a camera encoder (poses in, tokens out) and decoder.
* **monocular** (``da3mono-large``, ``da3metric-large``): plain ViT-L, a DPT head with a sky
  branch. Mono gives relative depth; metric gives depth that becomes metres as
  ``focal_px * depth / 300`` (:data:`METRIC_FOCAL_DIVISOR`).

``da3nested-giant-large`` holds an any-view giant and a metric large (:class:`NestedConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from depth_anything_ros.models.config_dict import check_int_fields, is_int, ViTTrunk
from depth_anything_ros.vocabulary import PATCH_SIZE

#: Metric depth in metres = focal length in pixels (at the network input) * output / this.
METRIC_FOCAL_DIVISOR = 300.0
HEADS = ('dualdpt', 'dpt')
FFNS = ('mlp', 'swiglu')
_POSITIVE = ('embed_dim', 'depth', 'num_heads', 'ffn_hidden', 'features', 'patch_size',
             'pos_grid', 'cam_heads', 'cam_depth')


@dataclass(frozen=True)
class Da3Config(ViTTrunk):
    """Everything that fixes one Depth Anything 3 network (not nested).

    Block indices are 0-based; ``-1`` switches alternating attention / QK-norm / RoPE off.
    ``pos_grid`` is the side of the stored positional-embedding grid (37 = 518 / 14).
    ``cam_heads``/``cam_depth`` describe the camera encoder's transformer trunk.
    """

    name: str = 'da3-small'
    out_layers: tuple[int, ...] = (5, 7, 9, 11)
    alt_start: int = 4
    qknorm_start: int = 4
    rope_start: int = 4
    cat_token: bool = True
    head: str = 'dualdpt'
    features: int = 64
    out_channels: tuple[int, ...] = (48, 96, 192, 384)
    camera: bool = True
    gs_head: bool = False
    cam_heads: int = 16
    cam_depth: int = 4
    patch_size: int = PATCH_SIZE
    pos_grid: int = 37

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f'name must be a string, got {self.name!r}')
        check_int_fields(self, _POSITIVE, ('out_layers', 'out_channels'), list_len=4)
        for key in ('alt_start', 'qknorm_start', 'rope_start'):
            value = getattr(self, key)
            if not is_int(value) or value < -1 or value >= self.depth:
                raise ValueError(f'{key} must be -1 (off) or a block index below depth '
                                 f'{self.depth}, got {value!r}')
        if not all(0 <= i < self.depth for i in self.out_layers):
            raise ValueError(f'out_layers {self.out_layers} must lie in [0, {self.depth})')
        if self.ffn not in FFNS:
            raise ValueError(f'ffn must be one of {FFNS}, got {self.ffn!r}')
        if self.head not in HEADS:
            raise ValueError(f'head must be one of {HEADS}, got {self.head!r}')
        if self.embed_dim % self.num_heads or (self.embed_dim // self.num_heads) % 4:
            raise ValueError(f'embed_dim {self.embed_dim} / num_heads {self.num_heads} must be '
                             'a whole head width divisible by 4 (2-D RoPE)')
        if self.camera and (self.alt_start < 1 or self.embed_dim % self.cam_heads):
            raise ValueError('the camera encoder needs alternating attention (alt_start >= 1) '
                             f'and embed_dim divisible by cam_heads {self.cam_heads}')
        if self.head == 'dualdpt' and self.alt_start < 1:
            raise ValueError('the dual DPT head belongs to the any-view networks '
                             '(alt_start >= 1)')

    @property
    def any_view(self) -> bool:
        """Whether views attend to each other (alternating attention)."""
        return self.alt_start != -1

    @property
    def head_dim_in(self) -> int:
        """Channels of the tokens the head receives."""
        return self.embed_dim * (2 if self.cat_token else 1)

    @property
    def depth_unit(self) -> str:
        """``'focal'``: metres once scaled by the focal length; ``'relative'``: no scale."""
        return 'focal' if self.name.startswith('da3metric') else 'relative'


@dataclass(frozen=True)
class NestedConfig:
    """An any-view network plus a metric network whose scale it adopts."""

    name: str
    anyview: Da3Config
    metric: Da3Config

    def __post_init__(self) -> None:
        if not self.anyview.camera or self.metric.head != 'dpt':
            raise ValueError('a nested model needs an any-view network with a camera decoder '
                             'and a metric network with a sky head')

    def to_dict(self) -> dict[str, Any]:
        return {'name': self.name, 'anyview': self.anyview.to_dict(),
                'metric': self.metric.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NestedConfig:
        return cls(name=data['name'], anyview=Da3Config.from_dict(data['anyview']),
                   metric=Da3Config.from_dict(data['metric']))


def _anyview(name: str, dim: int, depth: int, heads: int, layers: tuple[int, ...], start: int,
             features: int, out: tuple[int, ...], ffn: str = 'mlp',
             gs_head: bool = False) -> Da3Config:
    # SwiGLU (ViT-g) hidden width: (int(4 * dim * 2 / 3) + 7) // 8 * 8.
    hidden = 4 * dim if ffn == 'mlp' else (int(4 * dim * 2 / 3) + 7) // 8 * 8
    return Da3Config(name=name, embed_dim=dim, depth=depth, num_heads=heads, ffn=ffn,
                     ffn_hidden=hidden, out_layers=layers, alt_start=start, qknorm_start=start,
                     rope_start=start, cat_token=True, head='dualdpt', features=features,
                     out_channels=out, camera=True, gs_head=gs_head)


def _monocular(name: str) -> Da3Config:
    return Da3Config(name=name, embed_dim=1024, depth=24, num_heads=16, ffn='mlp',
                     ffn_hidden=4096, out_layers=(4, 11, 17, 23), alt_start=-1,
                     qknorm_start=-1, rope_start=-1, cat_token=False, head='dpt', features=256,
                     out_channels=(256, 512, 1024, 1024), camera=False)


_L_OUT = (256, 512, 1024, 1024)
#: The official single-network configurations, by their official names.
CONFIGS: dict[str, Da3Config] = {
    'da3-small': _anyview('da3-small', 384, 12, 6, (5, 7, 9, 11), 4, 64, (48, 96, 192, 384)),
    'da3-base': _anyview('da3-base', 768, 12, 12, (5, 7, 9, 11), 4, 128, (96, 192, 384, 768)),
    'da3-large': _anyview('da3-large', 1024, 24, 16, (11, 15, 19, 23), 8, 256, _L_OUT),
    'da3-giant': _anyview('da3-giant', 1536, 40, 24, (19, 27, 33, 39), 13, 256, _L_OUT,
                          ffn='swiglu', gs_head=True),
    'da3mono-large': _monocular('da3mono-large'),
    'da3metric-large': _monocular('da3metric-large'),
}
#: The official nested configuration.
NESTED: dict[str, NestedConfig] = {
    'da3nested-giant-large': NestedConfig('da3nested-giant-large', CONFIGS['da3-giant'],
                                          CONFIGS['da3metric-large']),
}
#: Every official name (single and nested).
NAMES: tuple[str, ...] = (*CONFIGS, *NESTED)
#: Small configurations of the same two kinds, with no published weights: for tests and
#: pipelines that need a fast network (any-view and metric, embed width 64, 4 or 6 blocks).
EXTRA_CONFIGS: dict[str, Da3Config] = {
    'da3-tiny': Da3Config(name='da3-tiny', embed_dim=64, depth=6, num_heads=2, ffn_hidden=256,
                          out_layers=(2, 3, 4, 5), alt_start=2, qknorm_start=2, rope_start=2,
                          features=32, out_channels=(16, 32, 64, 64)),
    'da3metric-tiny': Da3Config(name='da3metric-tiny', embed_dim=64, depth=4, num_heads=2,
                                ffn_hidden=256, out_layers=(0, 1, 2, 3), alt_start=-1,
                                qknorm_start=-1, rope_start=-1, cat_token=False, head='dpt',
                                features=32, out_channels=(16, 32, 64, 64), camera=False),
}
#: Where the official weights are published (Hugging Face repository, each holding
#: ``model.safetensors`` and ``config.json``) and their licence (SPDX), per the model cards.
#: ``-1.1``: retrained after a training fix, preferred by the authors.
PUBLISHED: dict[str, tuple[str, str]] = {
    'da3-small': ('depth-anything/DA3-SMALL', 'Apache-2.0'),
    'da3-base': ('depth-anything/DA3-BASE', 'Apache-2.0'),
    'da3-large': ('depth-anything/DA3-LARGE-1.1', 'CC-BY-NC-4.0'),
    'da3-giant': ('depth-anything/DA3-GIANT-1.1', 'CC-BY-NC-4.0'),
    'da3mono-large': ('depth-anything/DA3MONO-LARGE', 'Apache-2.0'),
    'da3metric-large': ('depth-anything/DA3METRIC-LARGE', 'Apache-2.0'),
    'da3nested-giant-large': ('depth-anything/DA3NESTED-GIANT-LARGE-1.1', 'CC-BY-NC-4.0'),
}


def config_for(name: str) -> Da3Config | NestedConfig:
    """Return the official configuration ``name`` (any case, ``-1.1`` suffix allowed)."""
    key = name.lower().removesuffix('-1.1') if isinstance(name, str) else name
    if key in CONFIGS:
        return CONFIGS[key]
    if key in NESTED:
        return NESTED[key]
    raise ValueError(f'unknown Depth Anything 3 model {name!r}; choose from {", ".join(NAMES)}')
