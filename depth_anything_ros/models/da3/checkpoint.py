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

"""Load official Depth Anything 3 checkpoints, strictly and key for key.

The published files are ``model.safetensors`` with a ``config.json`` beside it (its
``model_name`` names the configuration); keys carry the ``model.`` prefix of the official
wrapper, which is dropped (the shared reader drops ``module.`` and ``_orig_mod.``). A bare
``.pth`` state dict (or a training checkpoint holding one) loads too. The file's format is read
from its bytes, never its name. The configuration comes from, in order: the ``name`` argument,
``config.json``, the tensor shapes (which fix every official network except monocular vs
metric large, which then needs the name).
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
from typing import Any

from torch import nn, Tensor

from depth_anything_ros.models import reading
from depth_anything_ros.models.files import CheckpointError, read_json_file
from depth_anything_ros.models.reading import read_checkpoint

from .config import config_for, CONFIGS, Da3Config, EXTRA_CONFIGS, NAMES, NESTED, NestedConfig
from .network import build_model

CONFIG_FILE = 'config.json'
#: Prefix of every key in the published files (the official wrapper holds the net as ``model``).
WRAPPER_PREFIX = 'model.'
_BY_WIDTH = {cfg.embed_dim: cfg for cfg in CONFIGS.values() if cfg.any_view}


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Tensors of a safetensors or torch file as float32, the official ``model.`` prefix dropped.

    The package's one checkpoint reader (:func:`..reading.read_checkpoint`) reads the file;
    :class:`CheckpointError` names an unreadable or truncated one.
    """
    sd, _meta = read_checkpoint(path)
    if sd and all(k.startswith(WRAPPER_PREFIX) for k in sd):
        sd = {k[len(WRAPPER_PREFIX):]: v for k, v in sd.items()}
    return {k: v.float() for k, v in sd.items()}


def config_name(path: str | os.PathLike) -> str | None:
    """``model_name`` of the ``config.json`` beside ``path``, if there is one."""
    side = Path(path).with_name(CONFIG_FILE)
    if side == Path(path) or not side.exists():
        return None
    meta = read_json_file(side, 'model configuration')
    name = meta.get('model_name', meta.get('name')) if isinstance(meta, dict) else None
    if not isinstance(name, str):
        raise CheckpointError(f'{side} names no model ("model_name"); write '
                              f'{{"model_name": "<one of {", ".join(NAMES)}>"}} into it')
    return name


def infer_config(sd: Mapping[str, Tensor], source: str) -> Da3Config | NestedConfig:
    """Return the official configuration whose network these tensors fit (shapes only)."""
    if any(k.startswith('pretrained.') for k in sd) and any(k.startswith('depth_head.')
                                                            for k in sd):
        raise CheckpointError(f'{source} is a Depth Anything V2 checkpoint, not Depth Anything '
                              '3; load it as a Depth Anything V2 model')
    if any(k.startswith('da3_metric.') for k in sd):
        return NESTED['da3nested-giant-large']
    pos = sd.get('backbone.pretrained.pos_embed')
    if pos is None or pos.dim() != 3:
        raise CheckpointError(f'{source} is not a Depth Anything 3 state dict '
                              f'(no backbone.pretrained.pos_embed; keys start with '
                              f'{sorted(sd)[:3]})')
    width = int(pos.shape[-1])
    if 'backbone.pretrained.camera_token' in sd and width in _BY_WIDTH:
        return _BY_WIDTH[width]
    if width == 1024:
        raise CheckpointError(f'{source} holds a monocular ViT-L network, which is either '
                              'da3mono-large or da3metric-large (same shapes); write '
                              f'{{"model_name": "da3metric-large"}} (or "da3mono-large") into '
                              f'{Path(source).with_name(CONFIG_FILE)}, as the published '
                              'repositories have it')
    raise CheckpointError(f'{source}: embed width {width} fits no official Depth Anything 3 '
                          f'network; name its configuration in '
                          f'{Path(source).with_name(CONFIG_FILE)}: {{"model_name": "<one of '
                          f'{", ".join((*NAMES, *EXTRA_CONFIGS))}>"}}')


def check_fits(model: nn.Module, sd: Mapping[str, Tensor], source: str, name: str) -> None:
    """Raise CheckpointError naming missing / unexpected keys and shape mismatches."""
    reading.check_state_dict(model, sd, source, fits=name,
                             fix='Pass the matching model name, or the matching file.')


def load_da3(path: str | os.PathLike, name: str | Da3Config | NestedConfig | None = None,
             ) -> nn.Module:
    """Official checkpoint file -> network (eval mode, float32, CPU), loaded strictly.

    Raises :class:`CheckpointError` for an unreadable, truncated or foreign file and for one
    that does not fit the named configuration (the message lists the keys).
    """
    sd = read_state_dict(path)
    source = str(path)
    if name is None:
        name = config_name(path)
    try:
        cfg: Any = config_for(name) if isinstance(name, str) else name
    except ValueError as exc:
        raise CheckpointError(f'{source}: {exc}') from exc
    if cfg is None:
        cfg = infer_config(sd, source)
    model = build_model(cfg, device='meta')
    check_fits(model, sd, source, cfg.name)
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()
