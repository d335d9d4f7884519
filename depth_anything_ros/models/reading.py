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

"""Read any checkpoint file into a state dict and its metadata (torch; every family uses it).

Accepted: bare state dicts (``torch.load(..., weights_only=True)``, nothing else is ever
unpickled), ``.safetensors`` (with the metadata export_model stores in its header), and
training checkpoints (``{'model' | 'state_dict' | 'model_state_dict': sd, ...}``). DDP
``module.`` and torch.compile ``_orig_mod.`` prefixes are stripped. The format comes from the
file's first bytes, not its name; every problem is a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from depth_anything_ros.models.files import CheckpointError, open_regular, sniff_format

__all__ = ['check_state_dict', 'load_torch_file', 'read_checkpoint', 'split_checkpoint']

_PREFIXES = ('module.', '_orig_mod.')
# Keys under which training checkpoints keep the network's state dict.
_WRAPPER_KEYS = ('model', 'state_dict', 'model_state_dict')


def _strip_prefixes(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop DDP ``module.`` and torch.compile ``_orig_mod.`` prefixes (any order, repeated)."""
    out = {}
    for key, t in sd.items():
        while True:
            p = next((p for p in _PREFIXES if key.startswith(p)), None)
            if p is None:
                break
            key = key[len(p):]
        out[key] = t
    return out


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
    """Raw file contents and metadata embedded in it (safetensors header)."""
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


def split_checkpoint(obj: Any, source: str = 'the checkpoint'
                     ) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Return (bare state dict, metadata) of a loaded bare dict or training checkpoint.

    ``{'model' | 'state_dict' | 'model_state_dict': sd, ...}`` wrappers are opened (their other
    non-tensor entries are the metadata); wrapper prefixes are stripped. ``source`` names the
    file in errors.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f'{source} holds a {type(obj).__name__}, not a state dict; pass a '
                              'model checkpoint')
    meta: dict[str, Any] = {}
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), Mapping):
            meta.update({k: v for k, v in obj.items() if k != key and not isinstance(v, Tensor)})
            obj = obj[key]
            break
    bad_keys = [k for k in obj if not isinstance(k, str)]
    if bad_keys:
        raise CheckpointError(f'{source} is not a state dict: its keys must be parameter names '
                              f'(strings), found {bad_keys[:4]!r}; pass a model checkpoint')
    sd = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not sd:
        raise CheckpointError(f'{source} contains no tensors (keys: {list(obj)[:8]}); pass a '
                              'model checkpoint')
    not_float = [k for k, v in sd.items() if not v.is_floating_point()]
    if not_float:
        raise CheckpointError(f'{source}: {len(not_float)} tensors are not floating point '
                              f'({not_float[0]}: {sd[not_float[0]].dtype}); network weights '
                              'are float32/float16/bfloat16')
    return _strip_prefixes(sd), meta


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Load ``path`` -> (state dict, metadata of a training checkpoint or safetensors header).

    Raises :class:`CheckpointError` naming the file when it is corrupt, truncated or not a
    checkpoint.
    """
    path = Path(path)
    try:
        obj, meta = _load_file(path)
    except (FileNotFoundError, CheckpointError):
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors' parser, as in load_torch_file
        raise _unreadable(path, exc) from exc
    sd, wrapper_meta = split_checkpoint(obj, str(path))
    return sd, {**meta, **wrapper_meta}


def check_state_dict(model: torch.nn.Module, sd: Mapping[str, Tensor], source: str, *,
                     fits: str, fix: str) -> None:
    """Raise :class:`CheckpointError` naming missing / unexpected keys and shape mismatches.

    ``fits`` names what ``source`` was loaded as (``'vits (embed_dim 384)'``), ``fix`` says
    what to do; every family's strict loading goes through this one check.
    """
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
        raise CheckpointError(f'{source} does not fit {fits}: ' + '; '.join(parts) + f'. {fix}')
