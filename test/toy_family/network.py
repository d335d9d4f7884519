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

"""The toy family's implementation module: the functions the registry calls (step 3)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn, Tensor

from depth_anything_ros.models.files import CheckpointError


@dataclass(frozen=True)
class ToyConfig:
    """What the estimator and the sidecar read from every family's config."""

    encoder: str = 'toy8'
    width: int = 8
    is_metric: bool = False
    max_depth: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-able fields (the sidecar's ``config``)."""
        return asdict(self)


class ToyNet(nn.Module):
    """x [B,3,H,W] normalised RGB -> [B,H,W] relative disparity (>= 0)."""

    family = 'toy'

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.toy = nn.Sequential(nn.Conv2d(3, config.width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(config.width, 1, 3, padding=1))

    @property
    def is_metric(self) -> bool:
        """Relative disparity only."""
        return False

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.toy(x)).squeeze(1) + 0.1   # (B, H, W)


def _check_head(head: str | None, max_depth: float | None) -> None:
    if head not in (None, 'relative') or max_depth is not None:
        raise CheckpointError('the toy family outputs relative disparity only; use mode '
                              'relative')


def build_model(encoder: Any, head: str = 'relative', max_depth: float | None = None, *,
                device: torch.device | str | None = None) -> ToyNet:
    """Return an untrained ToyNet (``encoder``: ``toy8`` or a ToyConfig)."""
    _check_head(head, max_depth)
    config = encoder if isinstance(encoder, ToyConfig) else ToyConfig()
    with torch.device(device) if device is not None else nullcontext():
        return ToyNet(config)


def untrained_model(encoder: Any, head: str = 'relative',
                    max_depth: float | None = None) -> ToyNet:
    """Return a ToyNet with deterministic weights (a smooth ramp, no RNG)."""
    model = build_model(encoder, head, max_depth)
    with torch.no_grad():
        for t in model.state_dict().values():
            t.copy_(torch.linspace(-0.5, 0.5, t.numel()).view(t.shape))
    return model.eval()


def config_from_dict(data: Mapping[str, Any]) -> ToyConfig:
    """Return the config a sidecar records."""
    return ToyConfig(**dict(data))


def check_metadata(meta: Mapping[str, Any]) -> None:
    """Refuse a sidecar whose config is not a ToyConfig."""
    try:
        config_from_dict(meta.get('config') or {})
    except TypeError as exc:
        raise CheckpointError(f'not a toy config: {exc}') from exc


def load_state_dict(path: Path, sd: Mapping[str, Tensor], meta: Mapping[str, Any], *,
                    encoder: Any = None, head: str | None = None,
                    max_depth: float | None = None,
                    default_max_depth: float | None = None) -> ToyNet:
    """Build the network ``sd`` holds and load it strictly, naming keys that do not fit."""
    _check_head(head, max_depth)
    side = meta.get('sidecar') or {}
    model = build_model(config_from_dict(side['config']) if 'config' in side else ToyConfig())
    result = model.load_state_dict(dict(sd), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f'{path} does not fit the toy net: missing '
                              f'{result.missing_keys}, unexpected {result.unexpected_keys}')
    return model.eval()
