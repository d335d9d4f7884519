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

"""The metadata sidecar beside a checkpoint or an exported model (``model.pth`` -> ``model.json``).

One reader and one (atomic) writer for every family and backend. A sidecar records the family,
encoder, head (``relative``/``metric``), ``max_depth``, the full architecture config and the
licence of the weights (SPDX id, None when not known); a family checks its own fields when read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from depth_anything_ros.models.files import atomic_write_bytes, CheckpointError, read_json_file
from depth_anything_ros.models.registry import family_for_checkpoint

log = logging.getLogger(__name__)

SIDECAR_FORMAT = 'depth_anything_ros.checkpoint/1'

__all__ = ['SIDECAR_FORMAT', 'read_sidecar', 'sidecar_dict', 'sidecar_path', 'write_sidecar']


# Compiled engines keep their whole name: x.engine beside x.onnx must not share x.json.
_FULL_NAME_SIDECARS = ('.engine', '.plan')


def sidecar_path(path: str | os.PathLike) -> Path:
    """``model.pth`` -> ``model.json`` (metadata written by export_model).

    A TensorRT engine's is ``x.engine.json`` (``x.plan.json``): the ``x.onnx`` it was built
    from often sits beside it with its own ``x.json``.
    """
    path = Path(path)
    if path.suffix.lower() in _FULL_NAME_SIDECARS:
        return path.with_name(path.name + '.json')
    return path.with_suffix('.json')


def read_sidecar(path: str | os.PathLike, *, required: bool) -> dict[str, Any]:
    """Return the checked sidecar next to ``path``; ``{}`` when there is none.

    ``required`` (exported engines need theirs): a missing sidecar is a FileNotFoundError and
    a JSON file of another program a CheckpointError; otherwise such a file is ignored with a
    warning. Raises :class:`CheckpointError` when the sidecar is unreadable or its values have
    the wrong types (the message names the field and says to fix or delete it).
    """
    side = sidecar_path(path)
    if side == Path(path) or not (side.exists() or side.is_symlink()):
        if required:
            raise FileNotFoundError(
                f'{side} is missing: exported model {Path(path).name} needs its metadata '
                'sidecar (encoder, head, max_depth); re-export with "depth-anything-ros '
                'export", which writes both')
        return {}
    meta = read_json_file(side, 'metadata sidecar')
    if not isinstance(meta, dict) or meta.get('format') != SIDECAR_FORMAT:
        found = meta.get('format') if isinstance(meta, dict) else type(meta).__name__
        if required:
            raise CheckpointError(f'{side} has format {found!r}, expected {SIDECAR_FORMAT!r}; '
                                  're-export the model')
        log.warning('ignoring %s: not a %s sidecar', side, SIDECAR_FORMAT)
        return {}
    try:
        fam = family_for_checkpoint(path, meta=meta)
        fam.module().check_metadata(meta)
    except (CheckpointError, ValueError) as exc:
        raise CheckpointError(f'metadata sidecar {side}: {exc}; fix or delete it (export_model '
                              'writes a correct one)') from exc
    return meta


def sidecar_dict(model: Any) -> dict[str, Any]:
    """Return the sidecar of a network: its family and its config's facts.

    Every family's network has ``family`` (its name) and ``config`` with ``encoder``,
    ``is_metric``, ``max_depth`` and ``to_dict()``; a stand-in module without them (tests)
    gets what its config gives (a dataclass or a dict), relative by default.
    """
    config = getattr(model, 'config', None)
    if hasattr(config, 'to_dict'):
        data = _jsonable(config.to_dict())
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        data = _jsonable(dataclasses.asdict(config))
    else:
        data = _jsonable(config) if isinstance(config, dict) else {}
    metric = bool(getattr(config, 'is_metric', data.get('head') == 'metric'))
    return {'format': SIDECAR_FORMAT, 'family': getattr(model, 'family', None),
            'encoder': data.get('encoder'), 'head': 'metric' if metric else 'relative',
            'max_depth': data.get('max_depth') if metric else None, 'config': data,
            'licence': getattr(model, 'licence', None)}


def _jsonable(value: Any) -> Any:
    """Turn tuples/paths leftovers into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def write_sidecar(path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write the sidecar of ``path`` atomically (readers never see half a file); its path."""
    side = sidecar_path(path)
    atomic_write_bytes(side, (json.dumps(_jsonable(metadata), indent=2, sort_keys=True)
                              + '\n').encode())
    return side
