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

"""Video Depth Anything's implementation module for the registry: build, load and check.

Official files (``video_depth_anything_vits.pth``, ``metric_video_depth_anything_vitl.pth``,
...) are bare state dicts and load unchanged and strictly, key for key. The configuration
comes from, in order: the sidecar written by export_model, the official file name, the tensor
shapes (matched against the official configurations). Whether the output is metres comes from
the sidecar or the file name; the shapes cannot tell (the metric networks are the same
architecture), so a renamed metric file needs ``head='metric'`` (``--mode metric``).
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from pathlib import Path
import re
from typing import Any

from torch import Tensor

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.models import reading
from depth_anything_ros.models.files import CheckpointError
from depth_anything_ros.models.registry import find_checkpoint

from .config import config_for, CONFIGS, EXTRA_CONFIGS, VdaConfig
from .network import build_model, VideoDepthAnything
from .weights import untrained_model

log = logging.getLogger(__name__)

__all__ = ['build_model', 'check_metadata', 'config_from_dict', 'config_from_state_dict',
           'load_state_dict', 'untrained_model']

_HEADS = ('relative', 'metric')


def config_from_dict(data: Mapping[str, Any]) -> VdaConfig:
    """Return the configuration a sidecar's ``config`` describes."""
    return VdaConfig.from_dict(data)


def _sidecar(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    side = meta.get('sidecar')
    return side if isinstance(side, Mapping) else {}


def check_metadata(meta: Mapping[str, Any]) -> None:
    """Raise CheckpointError when a sidecar's model fields have wrong types or values."""
    config = meta.get('config')
    if config is not None:
        if not isinstance(config, Mapping):
            raise CheckpointError(f"invalid 'config': {config!r:.60}, expected a mapping")
        try:
            VdaConfig.from_dict(config)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid 'config': {exc}") from exc
    if meta.get('head') not in (None, *_HEADS):
        raise CheckpointError(f"invalid 'head': {meta['head']!r}, expected one of {_HEADS}")


def config_from_state_dict(sd: Mapping[str, Tensor], source: str) -> VdaConfig:
    """Return the official (or test) configuration whose widths and depth the tensors have."""
    pos = sd.get('pretrained.pos_embed')
    layer1 = sd.get('head.scratch.layer1_rn.weight')
    if pos is None or layer1 is None or pos.ndim != 3 or layer1.ndim != 4:
        raise CheckpointError(f'{source} is not a Video Depth Anything state dict: '
                              'pretrained.pos_embed or head.scratch.layer1_rn.weight is missing '
                              'or misshapen; download the file again')
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r'pretrained\.blocks\.(\d+)\.', k))}
    found = (int(pos.shape[-1]), len(blocks), int(layer1.shape[0]))
    for cfg in (*CONFIGS.values(), *EXTRA_CONFIGS.values()):
        if (cfg.embed_dim, cfg.depth, cfg.features) == found:
            return cfg
    raise CheckpointError(f'{source}: embed_dim {found[0]}, {found[1]} blocks and head width '
                          f'{found[2]} are no Video Depth Anything configuration '
                          f'({", ".join(CONFIGS)}); ship a sidecar (export_model)')


def load_state_dict(path: Path, sd: Mapping[str, Tensor], meta: Mapping[str, Any], *,
                    encoder: str | VdaConfig | None = None, head: str | None = None,
                    max_depth: float | None = None,
                    default_max_depth: float | None = None) -> VideoDepthAnything:
    """Build the network ``sd`` (read from ``path``) holds and load it strictly.

    ``encoder`` and ``head`` override what the file says where the file does not say it;
    ``max_depth`` is refused (these networks have no ceiling); ``default_max_depth`` is not
    used.
    """
    del default_max_depth   # no ceiling to default
    if head is not None and head not in _HEADS:
        raise InvalidInputError(f'head must be one of {_HEADS}, got {head!r}')
    if max_depth is not None:
        raise InvalidInputError(f'{path.name}: Video Depth Anything has no max_depth (its '
                                'metric output is metres through a ReLU); leave it unset')
    side = _sidecar(meta)
    cfg = None
    try:
        check_metadata(side)
        if isinstance(side.get('config'), Mapping):
            cfg = VdaConfig.from_dict(side['config'])
    except (CheckpointError, TypeError, ValueError) as exc:
        raise CheckpointError(f'{path}: its model metadata is damaged: {exc}; re-export the '
                              'model (export_model) or delete the sidecar') from exc
    known = side.get('head') if side.get('head') in _HEADS else None
    _, published = find_checkpoint(path)
    if cfg is None and published is not None:
        cfg = config_for(published.encoder)
    if known is None and published is not None:
        known = published.head
    if cfg is None:
        cfg = config_from_state_dict(sd, str(path))
    if encoder is not None and config_for(encoder).encoder != cfg.encoder:
        cfg = config_for(encoder)
    if head is not None and known is not None and head != known:
        raise CheckpointError(f'{path.name} is a {known} Video Depth Anything checkpoint, but '
                              f'head={head!r} was requested; use a {head} checkpoint')
    cfg = cfg.with_metric((head or known or 'relative') == 'metric')
    model = build_model(cfg, 'metric' if cfg.metric else 'relative', device='meta')
    reading.check_state_dict(model, sd, str(path), fits=f'{cfg.encoder} (embed_dim '
                                                        f'{cfg.embed_dim})',
                             fix='Pass a Video Depth Anything checkpoint of this size, or '
                                 'download it again (depth-anything-ros download).')
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True, assign=True)
    log.info('loaded %s: %s, %s output', path, cfg.encoder, cfg.output)
    return model.eval()
