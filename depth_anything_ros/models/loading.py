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

"""Build, load and save networks of any registered family (the one entry for every caller).

The registry says which family a name, file or sidecar belongs to; the family's implementation
module builds the network and loads its weights strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.models.files import CheckpointError, read_json_file
from depth_anything_ros.models.hub import resolve_checkpoint
from depth_anything_ros.models.reading import read_checkpoint
from depth_anything_ros.models.registry import (
    families,
    family,
    family_for_checkpoint,
    family_for_encoder,
    family_for_keys,
    family_for_model_type,
    find_checkpoint,
    keys_family,
    ModelFamily,
    split_untrained,
)
from depth_anything_ros.models.sidecar import read_sidecar, sidecar_dict, write_sidecar

log = logging.getLogger(__name__)

HEADS = ('relative', 'metric')

__all__ = ['HEADS', 'build_model', 'config_from_sidecar', 'describe_licence', 'export_model',
           'family_of_config', 'library_folder_family', 'load_model', 'offline_only']

#: What the licence of deterministic test weights is shown as.
UNTRAINED_LICENCE = 'none (deterministic test weights)'


def describe_licence(licence: str | None) -> str:
    """Return a model's ``licence`` attribute as shown to people (None: not recorded)."""
    return licence or 'unknown (not recorded; check where the weights came from)'


#: Weight files of a folder in a library's own format (``save_pretrained``).
LIBRARY_WEIGHTS = ('model.safetensors', 'pytorch_model.bin')
#: The file naming a pipeline folder's class and parts (diffusers' ``save_pretrained``).
PIPELINE_INDEX = 'model_index.json'


def library_folder_family(folder: Path, *, required: bool = True) -> ModelFamily | None:
    """Return the family that loads ``folder`` by its config.json's ``model_type`` (or None).

    A pipeline folder (``model_index.json`` and no ``config.json``) is its index's
    ``_class_name``'s family.

    ``required=False``: a config.json without ``model_type`` (another family's published
    folder, e.g. Depth Anything 3's) is no library folder either: None.

    Raises:
        CheckpointError: the config.json is unreadable, or (``required``) names no model_type.

    """
    index = folder / PIPELINE_INDEX
    if index.is_file() and not (folder / 'config.json').is_file():
        data = read_json_file(index, 'pipeline index')
        name = data.get('_class_name') if isinstance(data, dict) else None
        fam = family_for_model_type(name) if isinstance(name, str) else None
        if fam is None and required:
            raise CheckpointError(f'{index} names pipeline {name!r}, which no model family '
                                  'runs')
        return fam
    config = folder / 'config.json'
    if not config.is_file():
        return None
    data = read_json_file(config, 'model config')
    model_type = data.get('model_type') if isinstance(data, dict) else None
    if not isinstance(model_type, str):
        if not required:
            return None
        raise CheckpointError(f'{config} names no model_type; it is not a model folder in the '
                              'transformers format (save_pretrained writes one)')
    return family_for_model_type(model_type)


def family_of_config(config: Any) -> ModelFamily:
    """Return the family an encoder name or a config object belongs to.

    A config object belongs to the family whose implementation package defines its class.

    Raises:
        ValueError: no family builds it (the message lists the encoders).

    """
    if isinstance(config, str):
        fam = family_for_encoder(config)
    else:
        module = type(config).__module__
        fam = next((f for f in families()
                    if module.startswith(f.implementation.rpartition('.')[0] + '.')), None)
    if fam is None:
        known = ', '.join(e for f in families() for e in (*f.encoders, *f.extra_encoders))
        raise ValueError(f'unknown encoder {config!r}; choose from {known} or pass a model '
                         'config')
    return fam


def build_model(encoder: Any, head: str = 'relative', max_depth: float | None = None, *,
                device: torch.device | str | None = None) -> nn.Module:
    """Build an untrained (default-initialised) network of the family that owns ``encoder``.

    ``encoder``: an encoder name of any family (``vits``, ...) or a family's config object.
    ``head``: 'relative' (disparity) or 'metric' (metres); ``device='meta'`` allocates nothing.
    """
    return family_of_config(encoder).module().build_model(encoder, head, max_depth,
                                                         device=device)


def load_model(path_or_name: str | os.PathLike, *, encoder: Any = None,
               head: str | None = None, max_depth: float | None = None,
               weights_dir: str | os.PathLike | None = None, allow_untrained: bool = False,
               default_max_depth: float | None = None) -> nn.Module:
    """Load a checkpoint file or published name into a model (eval mode, float32, CPU).

    ``'untrained'`` / ``'untrained:<encoder>'`` gives deterministic test weights, only with
    ``allow_untrained=True`` (the encoder: the name's, else ``encoder``, else the first
    family's first). ``encoder``/``head``/``max_depth`` override what the file says;
    asking for a metric model from a relative checkpoint (or the reverse) is refused.
    ``default_max_depth`` (metres) applies to a metric head only when neither ``max_depth``
    nor the checkpoint gives one.

    Raises:
        FileNotFoundError: the checkpoint is missing (the message says where to get it).
        CheckpointError: the file is damaged or does not fit (a ValueError).
        ValueError: bad arguments.

    """
    spec = os.fspath(path_or_name)
    untrained, enc = split_untrained(spec)
    if untrained:
        if not allow_untrained:
            raise InvalidInputError(f'{spec!r} means deterministic test weights with '
                                    'meaningless output; pass allow_untrained=True (CLI: '
                                    '--allow-untrained) if that is really wanted, or give a '
                                    'real checkpoint')
        enc = enc or encoder
        fam = family_of_config(enc) if enc is not None else families()[0]
        head = head or 'relative'
        # the default is a ceiling for families whose metric heads have one (none: DA3's)
        ceiling = any(c.max_depth is not None for c in fam.checkpoints)
        scale = max_depth if max_depth is not None else (default_max_depth if ceiling
                                                         else None)
        model = fam.module().untrained_model(enc or fam.encoders[0], head,
                                             scale if head == 'metric' else None)
        model.licence = UNTRAINED_LICENCE
        return model
    if head is not None and head not in HEADS:
        raise ValueError(f'head must be one of {HEADS}, got {head!r}')
    given = Path(spec).expanduser()
    if given.is_dir():
        fam = library_folder_family(given)
        if fam is not None:   # a folder in a library's format: the family's own loader
            return fam.module().load_folder(given, head=head, max_depth=max_depth).eval()
    path = resolve_checkpoint(spec, weights_dir)
    if path.name in (*LIBRARY_WEIGHTS, PIPELINE_INDEX):   # a published folder (downloaded)
        fam = library_folder_family(path.parent, required=False)
        if fam is not None:
            return fam.module().load_folder(path.parent, head=head,
                                            max_depth=max_depth).eval()
    sd, meta = read_checkpoint(path)
    sidecar = read_sidecar(path, required=False)
    if sidecar:
        meta = {**meta, 'sidecar': sidecar}
    embedded = meta.get('sidecar') if isinstance(meta.get('sidecar'), Mapping) else None
    fam = (family_for_checkpoint(path, meta=dict(embedded) if embedded else None)
           or family_for_keys(sd, meta))
    _check_family(path, fam, keys_family(sd), 'its sidecar' if embedded else 'its name')
    model = fam.module().load_state_dict(path, sd, meta, encoder=encoder, head=head,
                                         max_depth=max_depth,
                                         default_max_depth=default_max_depth)
    # Engine caches key exports by this file's content hash (backends.common).
    model.checkpoint_file = path
    licence = embedded.get('licence') if embedded else None
    published = find_checkpoint(path)[1]
    model.licence = licence if isinstance(licence, str) else (
        published.licence if published is not None else None)
    note = embedded.get('note') if embedded else None   # e.g. the bundled toy's "a toy ..."
    model.note = note if isinstance(note, str) else (
        published.note if published is not None else '')
    return model.eval()


def _check_family(path: Path, named: ModelFamily, by_keys: ModelFamily | None,
                  why: str) -> None:
    """CheckpointError when the file's keys are another family's than its name/sidecar says."""
    if by_keys is None or by_keys is named:
        return
    fix = ('fix or delete the sidecar' if why == 'its sidecar' else
           f'give the file a name that is not a {named.title} name, or download the '
           f'{named.title} checkpoint again (depth-anything-ros download)')
    raise CheckpointError(f'{path} holds {by_keys.title} weights, but {why} says '
                          f'{named.title}: {fix}')


def config_from_sidecar(meta: Mapping[str, Any]) -> Any:
    """Return the config an exported model's sidecar records (None if it has none)."""
    data = meta.get('config')
    if not isinstance(data, Mapping):
        return None
    name = meta.get('family')
    fam = family(name) if isinstance(name, str) else families()[0]
    try:
        return fam.module().config_from_dict(data)
    except (TypeError, ValueError) as exc:   # written by a newer/older version
        log.warning('ignoring the sidecar config (%s)', exc)
        return None


def export_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the model's state dict (``.pth``, or ``.safetensors``) plus its JSON sidecar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to('cpu', torch.float32).contiguous()
          for k, v in model.state_dict().items()}
    meta = sidecar_dict(model)
    if path.suffix == '.safetensors':
        import json

        from safetensors.torch import save_file
        save_file(sd, str(path), metadata={'depth_anything_ros': json.dumps(meta)})
    else:
        torch.save(sd, path)
    write_sidecar(path, meta)
    return path


def offline_only(spec: str | os.PathLike, *, encoder: str | None = None) -> str:
    """Why the family of checkpoint ``spec`` does not run live ('' when it does or is unknown).

    Read from the name alone (``untrained:ENC``, a published name, a library folder), before
    anything loads: :attr:`ModelFamily.offline`.
    """
    name = os.fspath(spec)
    given = Path(name).expanduser()
    try:
        if given.is_dir():
            fam = library_folder_family(given, required=False)
        else:
            fam = family_for_checkpoint(name, encoder=None if encoder == 'auto' else encoder)
    except (ValueError, OSError):   # the loader names what is wrong
        return ''
    return fam.offline if fam is not None else ''
