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

"""Run folders: resolved config, provenance, CSV/TensorBoard logs, complete checkpoints.

Layout of a run folder ``RUN/``::

    config.yaml      resolved config (what actually ran)
    run.json         seed, git revision, command line, library versions, start time
    log.csv          long-format log: step,name,value,time (append-only, survives --resume)
    tb/              TensorBoard events (optional)
    last.pt, best.pt complete checkpoints (model, optimizer, step, RNG states, best, config)
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
import platform
import random
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch

from depth_anything_ros.errors import make_folder, MissingInputError, OutputExistsError
from depth_anything_ros.models.files import CheckpointError
from depth_anything_ros.models.reading import load_torch_file
from depth_anything_ros.training.config import dataclass_to_dict, save_yaml

LOG = logging.getLogger(__name__)


def git_revision(path: str | os.PathLike | None = None) -> str | None:
    """Return ``<sha>`` (``<sha>-dirty`` with local changes) of the repo holding ``path``."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=cwd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout (e.g. an installed wheel) or git missing
    return f'{sha}-dirty' if dirty else sha


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (no half-written file on a crash)."""
    path = Path(path)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + '\n')
    os.replace(tmp, path)


def prepare_run_dir(out: str | os.PathLike, cfg: Any, *, resume: bool = False,
                    command: str = 'train', extra: dict[str, Any] | None = None) -> Path:
    """Create (or reopen with ``resume``) a run folder; write config.yaml and run.json.

    A fresh run refuses a folder that already holds a checkpoint, so results are never
    overwritten by accident.
    """
    run = Path(out)
    if resume:
        if not (run / 'last.pt').is_file():
            raise MissingInputError(f'--resume: {run / "last.pt"} does not exist; start a new '
                                    'run without --resume')
    elif (run / 'last.pt').exists():
        raise OutputExistsError(f'{run} already holds a run (last.pt); pass --resume to continue '
                                'it or choose another --out')
    make_folder(run)
    save_yaml(cfg, run / ('config.yaml' if not resume else 'config.resume.yaml'))
    meta = {
        'command': command,
        'argv': sys.argv,
        'seed': getattr(cfg, 'seed', None),
        'git_revision': git_revision(),
        'started': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'resumed': resume,
        'host': platform.node(),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'numpy': np.__version__,
        'cuda': torch.version.cuda if torch.cuda.is_available() else None,
        'config': dataclass_to_dict(cfg),
    }
    meta.update(extra or {})
    write_json(run / ('run.json' if not resume else 'run.resume.json'), meta)
    return run


class RunLogger:
    """Append scalars to ``RUN/log.csv`` (step,name,value,time) and optionally TensorBoard.

    Only the process with ``enabled=True`` (rank 0 under torchrun) writes anything.
    """

    def __init__(self, run_dir: str | os.PathLike, *, tensorboard: bool = True,
                 enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / 'log.csv'
        self._tb = None
        if not enabled:
            return
        new = not self.path.exists()
        self._file = self.path.open('a', newline='')
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(['step', 'name', 'value', 'time'])
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(Path(run_dir) / 'tb'))
            except ImportError:
                LOG.warning('tensorboard is not installed; logging to log.csv only')

    def log(self, step: int, scalars: dict[str, float], prefix: str = '') -> None:
        """Record ``{name: value}`` at ``step``; names get ``prefix`` (e.g. ``'val/'``)."""
        if not self.enabled:
            return
        now = round(time.time(), 3)
        for name, value in scalars.items():
            self._csv.writerow([step, prefix + name, float(value), now])
            if self._tb is not None:
                self._tb.add_scalar(prefix + name, float(value), step)
        self._file.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Read ``log.csv`` back as ``{name: [(step, value), ...]}`` in file order."""
    out: dict[str, list[tuple[int, float]]] = {}
    with Path(path).open(newline='') as f:
        for row in csv.DictReader(f):
            out.setdefault(row['name'], []).append((int(row['step']), float(row['value'])))
    return out


# ---------------------------------------------------------------------------------------------
# RNG state and checkpoints (everything stored as tensors / plain types: weights_only-loadable)


def rng_state() -> dict[str, Any]:
    """Capture python, numpy, torch (and CUDA) RNG states in a weights_only-safe form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        'python': random.getstate(),
        'numpy': {'kind': kind, 'keys': torch.from_numpy(np.asarray(keys, np.int64)),
                  'pos': int(pos), 'has_gauss': int(has_gauss), 'gauss': float(gauss)},
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`rng_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    n = state['numpy']
    # .cpu(): a checkpoint loaded with map_location='cuda' puts these tensors on the GPU
    np.random.set_state((n['kind'], n['keys'].cpu().numpy().astype(np.uint32), n['pos'],
                         n['has_gauss'], n['gauss']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (temp file + rename: a crash never leaves a torn file)."""
    path = Path(path)
    tmp = path.with_name(path.name + '.tmp')
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = 'cpu'
                    ) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises FileNotFoundError, or CheckpointError for a damaged file or one that is not a file.
    """
    obj = load_torch_file(path, map_location)
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path} holds a {type(obj).__name__}, not a training checkpoint')
    return obj
