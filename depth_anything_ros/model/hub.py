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
``$DEPTH_ANYTHING_WEIGHTS``, ``~/.cache/depth_anything_ros``. ``depth-anything-ros download
NAME`` fetches the official file from Hugging Face into the first of those directories.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
import os
from pathlib import Path
import re

from depth_anything_ros.errors import InvalidInputError, MissingInputError
from .files import CheckpointError

log = logging.getLogger(__name__)

WEIGHTS_ENV = 'DEPTH_ANYTHING_WEIGHTS'
DEFAULT_WEIGHTS_DIR = Path('~/.cache/depth_anything_ros')
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.safetensors', '.bin', '.ckpt')
_SIZE = {'vits': 'Small', 'vitb': 'Base', 'vitl': 'Large', 'vitg': 'Giant'}
_LICENCE = {'vits': 'Apache-2.0', 'vitb': 'CC-BY-NC-4.0', 'vitl': 'CC-BY-NC-4.0',
            'vitg': 'CC-BY-NC-4.0'}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint name tells about the model: encoder, head, max depth, origin."""

    name: str
    encoder: str
    head: str
    max_depth: float | None
    filename: str
    repo: str | None  # Hugging Face repo id; None when not published
    licence: str

    @property
    def url(self) -> str | None:
        """Direct download URL (None if the model was never released)."""
        if self.repo is None:
            return None
        return f'https://huggingface.co/{self.repo}/resolve/main/{self.filename}'


def _catalogue() -> dict[str, CheckpointInfo]:
    cat: dict[str, CheckpointInfo] = {}
    for enc, size in _SIZE.items():
        # The giant relative model was announced but never published.
        repo = None if enc == 'vitg' else f'depth-anything/Depth-Anything-V2-{size}'
        cat[enc] = CheckpointInfo(enc, enc, 'relative', None, f'depth_anything_v2_{enc}.pth',
                                  repo, _LICENCE[enc])
        if enc == 'vitg':
            continue
        for dataset, alias, hf_name, max_depth in (('hypersim', 'indoor', 'Hypersim', 20.0),
                                                    ('vkitti', 'outdoor', 'VKITTI', 80.0)):
            info = CheckpointInfo(
                f'metric_{dataset}_{enc}', enc, 'metric', max_depth,
                f'depth_anything_v2_metric_{dataset}_{enc}.pth',
                f'depth-anything/Depth-Anything-V2-Metric-{hf_name}-{size}', _LICENCE[enc])
            cat[info.name] = info
            cat[f'metric_{alias}_{enc}'] = info
    return cat


#: Every known name (aliases included) -> its checkpoint.
CHECKPOINTS: dict[str, CheckpointInfo] = _catalogue()

_NAME_RE = re.compile(r'(?:depth_anything_v2_)?(?:metric_(hypersim|vkitti|indoor|outdoor)_)?'
                      r'(vits|vitb|vitl|vitg)')


def checkpoint_info(name_or_path: str | os.PathLike) -> CheckpointInfo | None:
    """Recognise an official name or file name (``depth_anything_v2_vits.pth`` ...)."""
    stem = Path(name_or_path).name
    for suffix in CHECKPOINT_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
    if stem in CHECKPOINTS:
        return CHECKPOINTS[stem]
    m = _NAME_RE.fullmatch(stem)
    if not m:
        return None
    dataset, enc = m.groups()
    return CHECKPOINTS.get(f'metric_{dataset}_{enc}' if dataset else enc)


def weights_dirs(weights_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for checkpoints, in order."""
    dirs = []
    if weights_dir:
        dirs.append(Path(weights_dir).expanduser())
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    dirs.append(DEFAULT_WEIGHTS_DIR.expanduser())
    return dirs


def how_to_get(info: CheckpointInfo, target: Path) -> str:
    """Human instructions for obtaining a missing official checkpoint."""
    if info.url is None:
        return (f'{info.filename} ({info.name}) has not been published by the Depth Anything '
                'authors; use vits, vitb or vitl (or a metric_* model) instead.')
    return (f'Get {info.filename} from https://huggingface.co/{info.repo} (licence '
            f'{info.licence}; direct URL {info.url}) and put it in {target}/, or run:\n'
            f'    depth-anything-ros download {info.name} --weights-dir {target}')


def resolve_checkpoint(name_or_path: str | os.PathLike,
                       weights_dir: str | os.PathLike | None = None) -> Path:
    """Return the file for a checkpoint path or official name; FileNotFoundError explains.

    A path that exists is returned as it is (a FIFO or device too: the reader refuses it with
    a :class:`~depth_anything_ros.model.files.CheckpointError` that says what it is).
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
        known = ', '.join(sorted(CHECKPOINTS))
        raise MissingInputError(f'{str(name_or_path)!r} is neither an existing checkpoint file '
                                f'nor a known model name. Known names: {known}')
    if looks_like_path:
        dirs.insert(0, path.parent)
    for d in dirs:
        for candidate in (d / info.filename, d / (Path(info.filename).stem + '.safetensors')):
            if candidate.is_file():
                return candidate
    searched = ', '.join(str(d) for d in dirs)
    raise MissingInputError(f'checkpoint {info.name!r} ({info.filename}) not found in: '
                            f'{searched}. {how_to_get(info, dirs[0])}')


def download(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Download an official checkpoint with ``huggingface_hub``; returns the local file."""
    info = checkpoint_info(name)
    if info is None:
        raise InvalidInputError(f'unknown model name {name!r}; choose from '
                                f'{", ".join(sorted(CHECKPOINTS))}')
    target = weights_dirs(weights_dir)[0]
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
    try:
        got = hf_hub_download(repo_id=info.repo, filename=info.filename, local_dir=str(target))
    except Exception as exc:  # noqa: BLE001 - network/hub errors have many types; re-raised
        raise RuntimeError(f'could not download {info.filename} from {info.url} into '
                           f'{target}: {exc}. If this machine is offline, copy the file there '
                           'by hand.') from exc
    return Path(got)

