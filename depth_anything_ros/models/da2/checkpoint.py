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

"""Depth Anything V2's implementation module for the registry: build, load and check models.

Accepted weights (read by :func:`depth_anything_ros.models.reading.read_checkpoint`): official
bare state dicts, ``.safetensors``, training checkpoints and transformers-format weights
(``Depth-Anything-V2-*-hf``, converted here). The architecture comes from, in order: the
sidecar written by export_model, the checkpoint's own ``model_config`` entry, the official file
name, and finally the tensor shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
import math
from pathlib import Path
import re
from typing import Any

import torch
from torch import nn, Tensor

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.models import reading
from depth_anything_ros.models.files import CheckpointError, read_json_file
from depth_anything_ros.models.hub import checkpoint_info

from .config import config_for, ENCODERS, HEADS, ModelConfig
from .hf_keys import hf_to_official, is_hf_state_dict
from .network import build_model, DepthAnythingV2
from .weights import untrained_model

log = logging.getLogger(__name__)

__all__ = ['build_model', 'check_metadata', 'check_state_dict', 'config_from_dict',
           'config_from_state_dict', 'load_state_dict', 'untrained_model']

# A wrapper's prefix some training frameworks add (DDP's and torch.compile's are stripped by
# the shared reader).
_MODEL_PREFIX = 'model.'


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    """Return the architecture a sidecar's ``config`` describes."""
    return ModelConfig.from_dict(data)


def check_metadata(meta: Mapping[str, Any]) -> None:
    """Raise CheckpointError when the model fields of a sidecar have wrong types or values."""
    _find_model_meta(meta)


def _official_keys(sd: Mapping[str, Tensor], path: Path) -> dict[str, Tensor]:
    """Strip ``model.`` prefixes and convert transformers keys to the official names."""
    out = {}
    for key, t in sd.items():
        while key.startswith(_MODEL_PREFIX):
            key = key[len(_MODEL_PREFIX):]
        out[key] = t
    if is_hf_state_dict(out):
        try:
            out = hf_to_official(out)
        except KeyError as exc:
            raise CheckpointError(f'{path}: {exc.args[0]}') from exc
    return out


def _shape(sd: Mapping[str, Tensor], key: str, ndim: int, source: str) -> tuple[int, ...]:
    """Shape of ``sd[key]``, which must exist with ``ndim`` dimensions, none of them empty."""
    if key not in sd:
        raise CheckpointError(f'{source} is not a Depth Anything V2 state dict: {key} is missing '
                              f'(keys start with {sorted(sd)[:4]})')
    shape = tuple(sd[key].shape)
    if len(shape) != ndim or 0 in shape:
        raise CheckpointError(f'{source}: {key} has shape {shape}, expected {ndim} non-empty '
                              'dimensions; the file is damaged or not a Depth Anything V2 '
                              'checkpoint')
    return shape


def config_from_state_dict(sd: Mapping[str, Tensor], source: str = 'the state dict',
                           ) -> ModelConfig:
    """Work out the architecture from tensor shapes (official configs when they match).

    Shapes fix widths, depth and FFN kind; the head count and the tapped blocks are not
    visible in shapes: for non-official widths they are guessed (head_dim 64, evenly spaced
    blocks) with a warning — ship a sidecar (:func:`export_model`) for custom models.
    ``source`` names the file in error messages.
    """
    _, tokens, dim = _shape(sd, 'pretrained.pos_embed', 3, source)  # (1, 1 + g*g, D)
    grid = math.isqrt(tokens - 1)
    if grid < 1 or grid * grid != tokens - 1:
        raise CheckpointError(f'{source}: pretrained.pos_embed holds {tokens} tokens; a ViT '
                              'stores 1 + g*g (a class token and a square grid), so the file is '
                              'damaged or not a Depth Anything V2 checkpoint')
    blocks = [int(m.group(1)) for k in sd if (m := re.match(r'pretrained\.blocks\.(\d+)\.', k))]
    if not blocks:
        raise CheckpointError(f'{source} is not a Depth Anything V2 state dict: no '
                              'pretrained.blocks.* keys')
    depth = 1 + max(blocks)
    swiglu = 'pretrained.blocks.0.mlp.w12.weight' in sd
    hidden = (_shape(sd, 'pretrained.blocks.0.mlp.w3.weight', 2, source)[1] if swiglu
              else _shape(sd, 'pretrained.blocks.0.mlp.fc1.weight', 2, source)[0])
    features = _shape(sd, 'depth_head.scratch.layer1_rn.weight', 4, source)[0]
    out_channels = tuple(_shape(sd, f'depth_head.projects.{i}.weight', 4, source)[0]
                         for i in range(4))
    head_hidden = _shape(sd, 'depth_head.scratch.output_conv2.0.weight', 4, source)[0]
    patch = _shape(sd, 'pretrained.patch_embed.proj.weight', 4, source)[-1]
    for cfg in ENCODERS.values():
        if (cfg.embed_dim, cfg.depth, cfg.ffn_hidden, cfg.features, cfg.out_channels) == (
                dim, depth, hidden, features, out_channels):
            return cfg
    heads = max(1, dim // 64)
    layers = tuple(sorted({max(0, depth * (i + 1) // 4 - 1) for i in range(4)}))
    if len(layers) != 4:
        layers = tuple(range(depth - 4, depth)) if depth >= 4 else (0,) * 4
    log.warning('custom architecture (embed_dim %d, depth %d) without metadata: guessing '
                'num_heads=%d and intermediate_layers=%s; save it with export_model() so a '
                'sidecar records the real values', dim, depth, heads, layers)
    try:
        return ModelConfig(encoder='custom', embed_dim=dim, depth=depth, num_heads=heads,
                           ffn='swiglu' if swiglu else 'mlp', ffn_hidden=hidden,
                           intermediate_layers=layers, features=features,
                           out_channels=out_channels, head_hidden=head_hidden, patch_size=patch,
                           pos_grid=grid)
    except ValueError as exc:
        raise CheckpointError(f'{source}: the tensor shapes give no valid architecture ({exc}); '
                              'ship a sidecar (export_model) or pass --encoder') from exc


def _positive_metres(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def _find_model_meta(meta: Mapping[str, Any]) -> tuple[ModelConfig | None, dict[str, Any]]:
    """Model facts stored in a training checkpoint / sidecar: (config, {head, max_depth}).

    Raises :class:`CheckpointError` naming the field whose value has the wrong type.
    """
    facts: dict[str, Any] = {}
    cfg = None
    stack = [meta]
    while stack:
        d = stack.pop(0)
        for key in ('model_config', 'config'):
            value = d.get(key)
            if isinstance(value, Mapping) and 'embed_dim' in value and cfg is None:
                try:
                    cfg = ModelConfig.from_dict(value)
                except (TypeError, ValueError) as exc:
                    raise CheckpointError(f'invalid {key!r}: {exc}') from exc
            elif isinstance(value, Mapping):
                stack.append(value)
        if isinstance(d.get('sidecar'), Mapping):
            stack.append(d['sidecar'])
        if isinstance(d.get('model'), Mapping):
            stack.append(d['model'])
        for key in ('head', 'max_depth', 'encoder'):
            if key in d and key not in facts and not isinstance(d[key], Mapping):
                facts[key] = d[key]
    if facts.get('head') not in (None, *HEADS):
        if isinstance(facts['head'], str):
            facts.pop('head')   # another program's "head" entry: not ours to judge
        else:
            raise CheckpointError(f'invalid \'head\': {facts["head"]!r}, expected one of '
                                  f'{HEADS}')
    if facts.get('max_depth') is not None and not _positive_metres(facts['max_depth']):
        raise CheckpointError(f'invalid \'max_depth\': {facts["max_depth"]!r}, expected a '
                              'number of metres > 0 or null')
    if cfg is not None:
        facts.setdefault('head', cfg.head)
        facts.setdefault('max_depth', cfg.max_depth)
    return cfg, facts


def _check_meta_fits(cfg: ModelConfig, sd: Mapping[str, Tensor]) -> None:
    """Raise CheckpointError when the metadata's block count or widths are not the tensors'.

    Checked before the network is built: a config with 10^6 blocks would take minutes to build
    even on the meta device, and widths of 10^9 overflow torch's storage size.
    """
    blocks = {m.group(1) for k in sd if (m := re.match(r'pretrained\.blocks\.(\d+)\.', k))}
    facts = [('depth', cfg.depth, len(blocks))]
    for name, key, dim in (('embed_dim', 'pretrained.pos_embed', -1),
                           ('features', 'depth_head.scratch.layer1_rn.weight', 0)):
        if key in sd and sd[key].ndim:
            facts.append((name, getattr(cfg, name), int(sd[key].shape[dim])))
    for name, said, found in facts:
        if said != found:
            raise CheckpointError(f'config {name} is {said} but the tensors give {found}')


def hf_config_facts(path: Path) -> dict[str, Any]:
    """Head and max_depth from a transformers ``config.json`` beside ``path`` (if any)."""
    cfg_path = path.parent / 'config.json'
    if not cfg_path.is_file():
        return {}
    try:
        cfg = read_json_file(cfg_path, 'transformers config')
    except CheckpointError as exc:
        log.warning('ignoring %s', exc)
        return {}
    if not isinstance(cfg, dict) or cfg.get('model_type') != 'depth_anything':
        return {}
    if cfg.get('depth_estimation_type') == 'metric':
        max_depth = cfg.get('max_depth') or 20.0
        if not _positive_metres(max_depth):
            raise CheckpointError(f'{cfg_path}: max_depth {max_depth!r} is not a number of '
                                  'metres > 0; fix it or download the file again')
        return {'head': 'metric', 'max_depth': float(max_depth)}
    return {'head': 'relative'}


def check_state_dict(model: nn.Module, sd: Mapping[str, Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` listing missing/unexpected keys and shape mismatches."""
    reading.check_state_dict(model, sd, source,
                             fits=f'{model.config.encoder} (embed_dim {model.config.embed_dim})',
                             fix='Pass the right --encoder, or a matching checkpoint.')


def load_state_dict(path: Path, sd: Mapping[str, Tensor], meta: Mapping[str, Any], *,
                    encoder: str | ModelConfig | None = None, head: str | None = None,
                    max_depth: float | None = None,
                    default_max_depth: float | None = None) -> DepthAnythingV2:
    """Build the network ``sd`` (read from ``path``, with its metadata) holds, strictly.

    ``encoder``/``head``/``max_depth`` override what the file says; asking for a metric model
    from a relative checkpoint (or the reverse) is refused. ``default_max_depth`` (metres)
    applies to a metric head only when neither ``max_depth`` nor the checkpoint (sidecar,
    metadata, official file name) gives one.
    """
    sd = _official_keys(sd, path)
    if head is not None and head not in HEADS:
        raise InvalidInputError(f'head must be one of {HEADS}, got {head!r}')
    try:
        cfg, facts = _find_model_meta(meta)
        if cfg is not None:
            _check_meta_fits(cfg, sd)
    except CheckpointError as exc:
        raise CheckpointError(f'{path}: its model metadata is damaged: {exc}; re-export the '
                              'model (export_model) or pass --encoder') from exc
    info = checkpoint_info(path)
    if info is not None:
        facts.setdefault('head', info.head)
        facts.setdefault('max_depth', info.max_depth)
    for key, value in hf_config_facts(path).items():
        facts.setdefault(key, value)
    if cfg is None:
        cfg = config_from_state_dict(sd, str(path))
    if encoder is not None:
        wanted = config_for(encoder)
        if isinstance(encoder, ModelConfig) or wanted.encoder != cfg.encoder:
            cfg = wanted
    known_head = facts.get('head')
    if head is not None and known_head is not None and head != known_head:
        what = {'relative': 'relative (affine-invariant disparity, no metric scale)',
                'metric': 'metric (depth in metres)'}
        raise CheckpointError(
            f'{path.name} is a {what[known_head]} checkpoint, but head={head!r} was requested. '
            f'A {known_head} network cannot produce {what[head].split(" (")[0]} output by '
            f'swapping the head: use a {head} checkpoint (e.g. '
            f'{"metric_indoor_vits" if head == "metric" else "vits"}), or fine-tune one '
            '(depth-anything-ros train).')
    head = head or known_head or 'relative'
    if head == 'metric':
        known_max = facts.get('max_depth')
        if max_depth is not None and known_max is not None and abs(max_depth - known_max) > 1e-9:
            log.warning('%s was trained with max_depth=%s m; overriding it with %s m rescales '
                        'every output', path.name, known_max, max_depth)
        max_depth = max_depth if max_depth is not None else known_max
        if max_depth is None:
            max_depth = default_max_depth
    elif max_depth is not None:
        raise CheckpointError(f'max_depth={max_depth} only applies to metric models; '
                              f'{path.name} is relative')
    cfg = cfg.with_head(head, max_depth)
    try:
        model = build_model(cfg, head, cfg.max_depth, device='meta')
    except RuntimeError as exc:   # e.g. widths whose storage size overflows
        raise CheckpointError(f'{path}: cannot build the network it describes ({exc}); '
                              're-export the model (export_model) or pass --encoder') from exc
    check_state_dict(model, sd, str(path))
    model.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=True,
                          assign=True)
    log.info('loaded %s: %s, %s head%s', path, cfg.encoder, head,
             f', max_depth {cfg.max_depth} m' if head == 'metric' else '')
    return model.eval()
