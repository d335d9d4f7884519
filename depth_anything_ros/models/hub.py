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

"""Official checkpoint names, where to find them on disk, and how to download them.

Search order for a name such as ``vits`` or ``metric_indoor_vitl``: ``weights_dir`` (argument),
``$DEPTH_ANYTHING_WEIGHTS``, ``~/.cache/depth_anything_ros``, then the checkpoints that ship
with the package (:data:`BUNDLED_DIR`). ``depth-anything-ros download NAME`` fetches the
official file from Hugging Face into the first of those directories.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from depth_anything_ros.errors import InvalidInputError, MissingInputError
from depth_anything_ros.models.files import CheckpointError
from depth_anything_ros.models.registry import (
    Checkpoint,
    CHECKPOINT_SUFFIXES,
    checkpoints,
    find_checkpoint,
)

log = logging.getLogger(__name__)

WEIGHTS_ENV = 'DEPTH_ANYTHING_WEIGHTS'
DEFAULT_WEIGHTS_DIR = Path('~/.cache/depth_anything_ros')
#: Where the checkpoints that ship with the package live (searched last).
BUNDLED_DIR = Path(__file__).resolve().parents[1] / 'data' / 'models'

__all__ = ['BUNDLED_DIR', 'CHECKPOINT_SUFFIXES', 'DEFAULT_WEIGHTS_DIR', 'WEIGHTS_ENV',
           'checkpoint_info', 'download', 'how_to_get', 'known_names', 'resolve_checkpoint',
           'weights_dirs']


def known_names() -> dict[str, Checkpoint]:
    """Every published checkpoint name of every family (aliases included) -> its checkpoint."""
    return {n: c for _, c in checkpoints() for n in (c.name, *c.aliases)}


def checkpoint_info(name_or_path: str | os.PathLike) -> Checkpoint | None:
    """Recognise a published name, alias or file name (``depth_anything_v2_vits.pth`` ...)."""
    return find_checkpoint(name_or_path)[1]


def weights_dirs(weights_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for checkpoints, in order."""
    dirs = []
    if weights_dir:
        dirs.append(Path(weights_dir).expanduser())
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    dirs.append(DEFAULT_WEIGHTS_DIR.expanduser())
    dirs.append(BUNDLED_DIR)
    return dirs


def how_to_get(info: Checkpoint, target: Path) -> str:
    """Human instructions for obtaining a missing official checkpoint."""
    if info.url is None:
        published = [c.name for fam, c in checkpoints() if c.url and c.output == info.output
                     and fam.checkpoint(info.name) is not None]
        return (f'{info.filename} ({info.name}) has not been published by its authors; use one '
                f'of {", ".join(published)} instead.')
    return (f'Get {info.filename} from https://huggingface.co/{info.repo} (licence '
            f'{info.licence}; direct URL {info.url}) and put it in {target / info.subdir}/, or '
            'run:\n'
            f'    depth-anything-ros download {info.name} --weights-dir {target}')


def resolve_checkpoint(name_or_path: str | os.PathLike,
                       weights_dir: str | os.PathLike | None = None) -> Path:
    """Return the file for a checkpoint path or official name; FileNotFoundError explains.

    A path that exists is returned as it is (a FIFO or device too: the reader refuses it with
    a :class:`~depth_anything_ros.models.files.CheckpointError` that says what it is).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():  # a Hugging Face snapshot folder (transformers layout)
        for name in ('model.safetensors', 'pytorch_model.bin'):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f'{path} is a directory without model.safetensors or '
                              'pytorch_model.bin; pass the checkpoint file itself')
    if path.exists():
        return path
    info = checkpoint_info(name_or_path)
    dirs = weights_dirs(weights_dir)
    looks_like_path = path.suffix in CHECKPOINT_SUFFIXES or len(path.parts) > 1
    if info is None:
        if looks_like_path:
            raise MissingInputError(f'checkpoint file {path} does not exist')
        known = ', '.join(sorted(known_names()))
        raise MissingInputError(f'{str(name_or_path)!r} is neither an existing checkpoint file '
                                f'nor a known model name. Known names: {known}')
    if looks_like_path:
        dirs.insert(0, path.parent)
    for d in dirs:
        local = d / info.local_name
        for candidate in (local, local.with_name(local.stem + '.safetensors')):
            if candidate.is_file():
                return candidate
    searched = ', '.join(str(d) for d in dirs)
    raise MissingInputError(f'checkpoint {info.name!r} ({info.local_name}) not found in: '
                            f'{searched}. {how_to_get(info, dirs[0])}')


def download(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Download an official checkpoint with ``huggingface_hub``; returns the local file."""
    info = checkpoint_info(name)
    if info is None:
        raise InvalidInputError(f'unknown model name {name!r}; choose from '
                                f'{", ".join(sorted(known_names()))}')
    target = weights_dirs(weights_dir)[0]
    if info.bundled:
        log.info('%s ships with the package (%s): nothing to download', info.name,
                 BUNDLED_DIR / info.local_name)
        return resolve_checkpoint(info.name, weights_dir)
    if info.url is None:
        raise RuntimeError(how_to_get(info, target))
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise RuntimeError(
            f'downloading needs the huggingface_hub package: pip install huggingface_hub. '
            f'Or fetch {info.url} manually into {target}/') from exc
    target.mkdir(parents=True, exist_ok=True)
    log.info('downloading %s from %s into %s (licence %s)', info.filename, info.repo, target,
             info.licence)
    got = []
    for filename in (info.filename, *info.extra_files):   # the weights, then e.g. a config
        try:
            got.append(hf_hub_download(repo_id=info.repo, filename=filename,
                                       local_dir=str(target / info.subdir)))
        except Exception as exc:  # noqa: BLE001 - network/hub errors have many types
            raise RuntimeError(f'could not download {filename} from '
                               f'https://huggingface.co/{info.repo} into {target}: {exc}. If '
                               'this machine is offline, copy the file there by hand.') from exc
    return Path(got[0])

