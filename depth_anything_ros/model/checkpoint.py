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

"""Read and write Depth Anything V2 checkpoints; build a ready model from any of them.

Accepted files: official bare state dicts (``.pth``), ``.safetensors``, training checkpoints
(``{'model': state_dict, ...}``, ``module.`` / ``_orig_mod.`` prefixes stripped) and
transformers-format weights (``Depth-Anything-V2-*-hf``). The architecture comes from, in
order: a sidecar ``<file>.json`` written by :func:`export_model`, the checkpoint's own
``model_config`` entry, the official file name, and finally the tensor shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import logging
import math
import os
from pathlib import Path
import re
from typing import Any

import torch
from torch import nn, Tensor

from depth_anything_ros.errors import InvalidInputError
from .config import config_for, ENCODERS, HEADS, ModelConfig
from .files import CheckpointError, open_regular, read_json_file, sniff_format
from .hf_keys import hf_to_official, is_hf_state_dict
from .hub import checkpoint_info, resolve_checkpoint
from .network import build_model, DepthAnythingV2
from .weights import untrained_model

log = logging.getLogger(__name__)

SIDECAR_FORMAT = 'depth_anything_ros.checkpoint/1'
_PREFIXES = ('module.', '_orig_mod.', 'model.')
# Keys under which training checkpoints keep the network's state dict.
_WRAPPER_KEYS = ('model', 'state_dict', 'model_state_dict')

__all__ = ['CheckpointError', 'check_state_dict', 'config_from_state_dict', 'export_model',
           'load_model', 'load_torch_file', 'read_checkpoint', 'read_sidecar', 'sidecar_dict',
           'sidecar_path', 'unwrap_state_dict']


# Compiled engines keep their whole name: x.engine beside x.onnx must not share x.json.
_FULL_NAME_SIDECARS = ('.engine', '.plan')


def sidecar_path(path: str | os.PathLike) -> Path:
    """``model.pth`` -> ``model.json`` (metadata written by :func:`export_model`).

    A TensorRT engine's is ``x.engine.json`` (``x.plan.json``): the ``x.onnx`` it was built
    from often sits beside it with its own ``x.json``.
    """
    path = Path(path)
    if path.suffix.lower() in _FULL_NAME_SIDECARS:
        return path.with_name(path.name + '.json')
    return path.with_suffix('.json')


def read_sidecar(path: str | os.PathLike, *, required: bool = False) -> dict[str, Any] | None:
    """Return the checked metadata sidecar next to ``path`` (the one reader of sidecars).

    Without a sidecar: None, or with ``required`` (exported engines need theirs)
    FileNotFoundError. A JSON file of another program is ignored with a warning, or refused
    when ``required``. Raises :class:`CheckpointError` when the sidecar is unreadable or its
    values have the wrong types (the message names the field and says to fix or delete it).
    """
    side = sidecar_path(path)
    if side == Path(path) or not (side.exists() or side.is_symlink()):
        if required:
            raise FileNotFoundError(
                f'{side} is missing: exported model {Path(path).name} needs its metadata '
                'sidecar (encoder, head, max_depth); re-export with "depth-anything-ros '
                'export", which writes both')
        return None
    meta = read_json_file(side, 'metadata sidecar')
    if not isinstance(meta, dict) or meta.get('format') != SIDECAR_FORMAT:
        found = meta.get('format') if isinstance(meta, dict) else type(meta).__name__
        if required:
            raise CheckpointError(f'{side} has format {found!r}, expected {SIDECAR_FORMAT!r}; '
                                  're-export the model')
        log.warning('ignoring %s: not a %s sidecar', side, SIDECAR_FORMAT)
        return None
    try:
        _find_model_meta(meta)
    except CheckpointError as exc:
        raise CheckpointError(f'metadata sidecar {side}: {exc}; fix or delete it (export_model '
                              'writes a correct one)') from exc
    return meta


def _strip_prefixes(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop DDP ``module.``, torch.compile ``_orig_mod.`` and wrapper ``model.`` prefixes."""
    out = {}
    for key, t in sd.items():
        while True:
            p = next((p for p in _PREFIXES if key.startswith(p)), None)
            if p is None:
                break
            key = key[len(p):]
        out[key] = t
    return out


def unwrap_state_dict(obj: Mapping[str, Any]) -> dict[str, Tensor]:
    """Return the bare state dict of a bare dict, a training checkpoint or a DDP save.

    ``{'model' | 'state_dict' | 'model_state_dict': sd}`` wrappers are opened; ``module.``
    (DDP), ``_orig_mod.`` (torch.compile) and ``model.`` prefixes are stripped.
    """
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    return _strip_prefixes({k: v for k, v in obj.items() if isinstance(v, Tensor)})


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(
        f'cannot read checkpoint {path}: {type(exc).__name__}: {str(exc)[:300]}. The file is '
        'corrupt, truncated (interrupted download?) or not a weights_only-loadable '
        'PyTorch/safetensors file; download it again.')


def load_torch_file(path: str | os.PathLike, map_location: str | torch.device = 'cpu') -> Any:
    """``torch.load(weights_only=True)`` of a checked regular file; CheckpointError explains."""
    path = Path(path)
    with open_regular(path) as f:
        if sniff_format(f, path) != 'torch':
            raise CheckpointError(f'{path} is a safetensors file, not a torch.save checkpoint')
        try:
            return torch.load(f, map_location=map_location, weights_only=True)
        # The unpickler raises almost any type on damaged bytes (KeyError, IndexError,
        # struct.error, RuntimeError, ...): every one of them means the same thing here.
        except Exception as exc:  # noqa: BLE001 - re-raised as CheckpointError naming the file
            raise _unreadable(path, exc) from exc


def _load_file(path: Path) -> tuple[Any, dict[str, Any]]:
    """Raw file contents and metadata embedded in it (safetensors header).

    The format comes from the file's first bytes, not its name.
    """
    with open_regular(path) as f:
        kind = sniff_format(f, path)
    if kind == 'torch':
        return load_torch_file(path), {}
    from safetensors import safe_open
    with safe_open(str(path), framework='pt', device='cpu') as st:
        obj = {k: st.get_tensor(k) for k in st.keys()}  # noqa: SIM118 - not a dict
        file_meta = st.metadata() or {}
    if 'depth_anything_ros' in file_meta:
        try:
            return obj, {'sidecar': json.loads(file_meta['depth_anything_ros'])}
        except json.JSONDecodeError as exc:
            raise CheckpointError(f'{path}: the depth_anything_ros metadata in its header is '
                                  f'not valid JSON ({exc}); re-export the model') from exc
    return obj, {}


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Load ``path`` -> (official-layout state dict, metadata of a training checkpoint).

    Raises :class:`CheckpointError` naming the file when it is corrupt, truncated or not a
    Depth Anything checkpoint.
    """
    path = Path(path)
    try:
        obj, meta = _load_file(path)
    except (FileNotFoundError, CheckpointError):
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors' parser, as in load_torch_file
        raise _unreadable(path, exc) from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f'{path} holds a {type(obj).__name__}, not a state dict; pass a '
                              'Depth Anything V2 checkpoint')
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), Mapping):
            meta.update({k: v for k, v in obj.items() if k != key and not isinstance(v, Tensor)})
            obj = obj[key]
            break
    bad_keys = [k for k in obj if not isinstance(k, str)]
    if bad_keys:
        raise CheckpointError(f'{path} is not a state dict: its keys must be parameter names '
                              f'(strings), found {bad_keys[:4]!r}; pass a Depth Anything V2 '
                              'checkpoint')
    sd = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not sd:
        raise CheckpointError(f'{path} contains no tensors (keys: {list(obj)[:8]}); pass a '
                              'Depth Anything V2 checkpoint')
    not_float = [k for k, v in sd.items() if not v.is_floating_point()]
    if not_float:
        raise CheckpointError(f'{path}: {len(not_float)} tensors are not floating point '
                              f'({not_float[0]}: {sd[not_float[0]].dtype}); Depth Anything '
                              'weights are float32/float16/bfloat16')
    sd = _strip_prefixes(sd)
    if is_hf_state_dict(sd):
        try:
            sd = hf_to_official(sd)
        except KeyError as exc:
            raise CheckpointError(f'{path}: {exc.args[0]}') from exc
    return sd, meta


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
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [f'{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}'
             for k in expected if k in sd and sd[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        def fmt(items: list[str]) -> str:
            return ', '.join(items[:6]) + (f' ... (+{len(items) - 6})' if len(items) > 6 else '')
        parts = [f'{len(x)} {name}: {fmt(x)}' for name, x in
                 (('missing keys', missing), ('unexpected keys', unexpected),
                  ('shape mismatches', wrong)) if x]
        raise CheckpointError(f'{source} does not fit {model.config.encoder} '
                              f'(embed_dim {model.config.embed_dim}): ' + '; '.join(parts) +
                              '. Pass the right --encoder, or a matching checkpoint.')


def _untrained(spec: str, encoder: str | ModelConfig | None, head: str | None,
               max_depth: float | None) -> DepthAnythingV2:
    enc = spec.partition(':')[2] or encoder or 'vits'
    return untrained_model(enc, head or 'relative', max_depth if head == 'metric' else None)


def load_model(path_or_name: str | os.PathLike, *, encoder: str | ModelConfig | None = None,
               head: str | None = None, max_depth: float | None = None,
               weights_dir: str | os.PathLike | None = None,
               allow_untrained: bool = False,
               default_max_depth: float | None = None) -> DepthAnythingV2:
    """Load a checkpoint file or official name into a model (eval mode, float32, CPU).

    ``'untrained'`` / ``'untrained:<encoder>'`` gives deterministic test weights, only with
    ``allow_untrained=True``. ``encoder``/``head``/``max_depth`` override what the file says;
    asking for a metric model from a relative checkpoint (or the reverse) is refused.
    ``default_max_depth`` (metres) applies to a metric head only when neither ``max_depth`` nor
    the checkpoint (sidecar, metadata, official file name) gives one.
    """
    spec = os.fspath(path_or_name)
    if spec == 'untrained' or spec.startswith('untrained:'):
        if not allow_untrained:
            raise InvalidInputError(f'{spec!r} means deterministic test weights with '
                                    'meaningless output; pass allow_untrained=True (CLI: '
                                    '--allow-untrained) if that is really wanted, or give a '
                                    'real checkpoint')
        return _untrained(spec, encoder, head,
                          max_depth if max_depth is not None else default_max_depth)
    if head is not None and head not in HEADS:
        raise InvalidInputError(f'head must be one of {HEADS}, got {head!r}')
    path = resolve_checkpoint(spec, weights_dir)
    sd, meta = read_checkpoint(path)
    sidecar = read_sidecar(path)
    if sidecar is not None:
        meta = {**meta, 'sidecar': sidecar}
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
    # Engine caches key exports by this file's content hash (backends.common).
    model.checkpoint_file = path
    return model.eval()


def sidecar_dict(config: ModelConfig) -> dict[str, Any]:
    """Return the JSON metadata :func:`export_model` writes next to a checkpoint."""
    return {'format': SIDECAR_FORMAT, 'encoder': config.encoder, 'head': config.head,
            'max_depth': config.max_depth, 'config': config.to_dict()}


def export_model(model: DepthAnythingV2, path: str | os.PathLike) -> Path:
    """Write the official-layout state dict (``.pth``, or ``.safetensors``) + JSON sidecar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to('cpu', torch.float32).contiguous()
          for k, v in model.state_dict().items()}
    meta = sidecar_dict(model.config)
    if path.suffix == '.safetensors':
        from safetensors.torch import save_file
        save_file(sd, str(path), metadata={'depth_anything_ros': json.dumps(meta)})
    else:
        torch.save(sd, path)
    sidecar_path(path).write_text(json.dumps(meta, indent=2) + '\n')
    return path
