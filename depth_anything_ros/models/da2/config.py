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

"""Model configurations for Depth Anything V2 (DINOv2 ViT encoder + DPT head).

The four official encoders are in :data:`ENCODERS`; :meth:`ModelConfig.tiny` is a small
configuration for tests and distillation students. A config round-trips through
``dataclasses.asdict`` / :meth:`ModelConfig.from_dict` (JSON sidecars, training checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from depth_anything_ros.models.config_dict import check_int_fields, ViTTrunk
from depth_anything_ros.vocabulary import PATCH_SIZE

HEADS = ('relative', 'metric')
FFNS = ('mlp', 'swiglu')
#: Default metric ceiling in metres (Hypersim/indoor); outdoor (VKITTI) models use 80.
DEFAULT_MAX_DEPTH = 20.0

_POSITIVE_INTS = ('embed_dim', 'depth', 'num_heads', 'ffn_hidden', 'features', 'head_hidden',
                  'patch_size', 'pos_grid')


@dataclass(frozen=True)
class ModelConfig(ViTTrunk):
    """Everything that fixes the network's architecture and output meaning.

    ``intermediate_layers`` are 0-based block indices whose (normed) outputs feed the head.
    ``pos_grid`` is the side of the stored square positional-embedding grid (37 for the
    official models, trained at 518 = 37 * 14 pixels). ``max_depth`` (metres) only matters for
    ``head='metric'``.
    """

    encoder: str = 'vits'
    intermediate_layers: tuple[int, ...] = (2, 5, 8, 11)
    features: int = 64
    out_channels: tuple[int, ...] = (48, 96, 192, 384)
    head_hidden: int = 32
    head: str = 'relative'
    max_depth: float | None = None
    patch_size: int = PATCH_SIZE
    pos_grid: int = 37
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        # Configs also come from JSON files: check types before any arithmetic on them.
        if not isinstance(self.encoder, str):
            raise ValueError(f'encoder must be a name (string), got {self.encoder!r}')
        check_int_fields(self, _POSITIVE_INTS, ('intermediate_layers', 'out_channels'))
        if not all(c >= 1 for c in self.out_channels):
            raise ValueError(f'out_channels must be positive, got {self.out_channels}')
        for name in ('max_depth', 'layer_norm_eps'):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float))
                                      or isinstance(value, bool)):
                raise ValueError(f'{name} must be a number, got {value!r}')
        if not self.layer_norm_eps > 0:
            raise ValueError(f'layer_norm_eps must be > 0, got {self.layer_norm_eps}')
        if self.head not in HEADS:
            raise ValueError(f'head must be one of {HEADS}, got {self.head!r}')
        if self.ffn not in FFNS:
            raise ValueError(f'ffn must be one of {FFNS}, got {self.ffn!r}')
        if self.embed_dim % self.num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible by num_heads '
                             f'{self.num_heads}')
        if len(self.intermediate_layers) != 4 or len(self.out_channels) != 4:
            raise ValueError('the DPT head needs exactly 4 intermediate_layers and 4 '
                             f'out_channels, got {self.intermediate_layers} and '
                             f'{self.out_channels}')
        if not all(0 <= i < self.depth for i in self.intermediate_layers):
            raise ValueError(f'intermediate_layers {self.intermediate_layers} must lie in '
                             f'[0, depth={self.depth})')
        if self.head == 'metric':
            if self.max_depth is None:
                object.__setattr__(self, 'max_depth', DEFAULT_MAX_DEPTH)
            if not self.max_depth > 0:
                raise ValueError(f'max_depth must be > 0 metres, got {self.max_depth}')

    @property
    def is_metric(self) -> bool:
        """Whether the output is metric depth in metres (else relative disparity)."""
        return self.head == 'metric'

    def with_head(self, head: str, max_depth: float | None = None) -> ModelConfig:
        """Return a copy with another head; ``max_depth`` defaults to 20 m for metric."""
        if head == 'metric':
            return replace(self, head=head, max_depth=max_depth or self.max_depth)
        return replace(self, head=head, max_depth=None)

    @classmethod
    def tiny(cls, head: str = 'relative', max_depth: float | None = None) -> ModelConfig:
        """Small config (~0.3 M params) for tests and students: D=64, 4 blocks, 2 heads."""
        return cls(encoder='tiny', embed_dim=64, depth=4, num_heads=2, ffn='mlp',
                   ffn_hidden=256, intermediate_layers=(0, 1, 2, 3), features=16,
                   out_channels=(8, 16, 32, 64), head_hidden=16, head=head,
                   max_depth=max_depth)


def _official(encoder: str, dim: int, depth: int, heads: int, ffn: str, hidden: int,
              layers: tuple[int, ...], features: int, out: tuple[int, ...]) -> ModelConfig:
    return ModelConfig(encoder=encoder, embed_dim=dim, depth=depth, num_heads=heads, ffn=ffn,
                       ffn_hidden=hidden, intermediate_layers=layers, features=features,
                       out_channels=out)


#: The official relative configurations (``head='relative'``); see :func:`config_for`.
ENCODERS: dict[str, ModelConfig] = {
    'vits': _official('vits', 384, 12, 6, 'mlp', 1536, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    'vitb': _official('vitb', 768, 12, 12, 'mlp', 3072, (2, 5, 8, 11), 128,
                      (96, 192, 384, 768)),
    'vitl': _official('vitl', 1024, 24, 16, 'mlp', 4096, (4, 11, 17, 23), 256,
                      (256, 512, 1024, 1024)),
    # SwiGLU hidden width: (int(4 * 1536 * 2 / 3) + 7) // 8 * 8 = 4096.
    'vitg': _official('vitg', 1536, 40, 24, 'swiglu', 4096, (9, 19, 29, 39), 384,
                      (1536, 1536, 1536, 1536)),
}


#: Configurations built by name that no checkpoint is published for (tests, students).
EXTRA_ENCODERS: tuple[str, ...] = ('tiny',)


def config_for(encoder: str | ModelConfig, head: str | None = None,
               max_depth: float | None = None) -> ModelConfig:
    """Resolve an encoder name (or config) plus head/max_depth into a :class:`ModelConfig`."""
    if isinstance(encoder, ModelConfig):
        cfg = encoder
    elif encoder == 'tiny':
        cfg = ModelConfig.tiny()
    elif encoder in ENCODERS:
        cfg = ENCODERS[encoder]
    else:
        raise ValueError(f'unknown encoder {encoder!r}; choose from '
                         f'{", ".join([*ENCODERS, *EXTRA_ENCODERS])} or pass a ModelConfig')
    if head is None and max_depth is None:
        return cfg
    head = head or cfg.head
    if head not in HEADS:
        raise ValueError(f'head must be "relative" or "metric", got {head!r}')
    if head == 'relative' and max_depth is not None:
        raise ValueError('max_depth only applies to head="metric" (relative models output '
                         'affine-invariant disparity, not metres)')
    return cfg.with_head(head, max_depth)
