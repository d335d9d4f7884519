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

"""The parts of a training loop that ``train`` and ``distill`` share.

Each command keeps its own flat loop (model, data, loss, validation); this module holds what
is the same in both: the config of a run (preset + overrides, or the saved one on resume),
joining the process group and preparing the run folder, the optimiser step with clipping and
the AMP scaler, and the end of a run (stop for a later ``--resume``, or write
``val_end.json``, export and wait for every rank).
"""

from __future__ import annotations

from collections.abc import Iterable
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from depth_anything_ros.errors import InvalidInputError, MissingInputError
from depth_anything_ros.model import build_model, export_model, read_sidecar
from depth_anything_ros.models.registry import family, find_checkpoint
from depth_anything_ros.models.sidecar import write_sidecar
from depth_anything_ros.training import distributed as dist_utils
from depth_anything_ros.training.config import load_dataclass, TrainingLoopConfig
from depth_anything_ros.training.runs import prepare_run_dir, RunLogger, write_json

LOG = logging.getLogger(__name__)
C = TypeVar('C', bound=TrainingLoopConfig)
#: The licence a network trained from default initialisation records (no weights came in).
SCRATCH_LICENCE = 'none (default initialisation, no pretrained weights)'
#: A licence that a network made from weights or labels under it keeps (non-commercial).
RESTRICTIVE_LICENCES = ('CC-BY-NC-4.0',)


def model_module(model: nn.Module) -> Any:
    """Return the implementation module of the family ``model`` belongs to (``family``)."""
    return family(model.family).module()


def derived_licence(entries: list[dict[str, Any]]) -> str | None:
    """Licence of weights made from ``entries`` (``derived_from``: ``role``, ``licence``).

    A non-commercial licence among them (:data:`RESTRICTIVE_LICENCES`: the weights of a
    teacher, or the init) is kept, so that nothing made from them shows as freely usable;
    otherwise the init's licence.
    """
    for entry in entries:
        if entry.get('licence') in RESTRICTIVE_LICENCES:
            return entry['licence']
    return next((e.get('licence') for e in entries if e.get('role') == 'init'), None)


def weights_licence(path: Path) -> str | None:
    """Licence of the weights in ``path``: its sidecar's, else its published checkpoint's."""
    side = read_sidecar(path, required=False)
    if isinstance(side.get('licence'), str):
        return side['licence']
    published = find_checkpoint(path)[1]
    return published.licence if published is not None else None


def network_output(encoder: str) -> str | None:
    """Return what a configuration's network gives whatever its head (None: train picks it).

    ``'depth'`` (depth up to a scale), ``'focal'`` (metres once scaled by the focal length)
    or ``'metres'`` for a family whose configurations fix their output (Depth Anything 3);
    None for one whose metric head ``train`` builds (Depth Anything V2). Built on the meta
    device: nothing is allocated.
    """
    net = build_model(encoder, device='meta')
    unit = getattr(getattr(net, 'model', None), 'depth_unit', None)
    return {'relative': 'depth', 'focal': 'focal', 'metres': 'metres'}.get(unit)


def resolve_run_config(cls: type[C], *, config: str | None, out: str | os.PathLike,
                       resume: bool, overrides: list[str], presets: str) -> C:
    """Return the validated config: preset + overrides, or the run's saved one on resume.

    ``config`` is a preset name or a YAML file (None only with ``resume``); ``overrides`` are
    ``key=value`` strings; ``presets`` names the presets in the error for a new run without a
    config.
    """
    if resume:
        saved = Path(out) / 'config.yaml'
        if not saved.is_file():
            raise MissingInputError(f'--resume: {saved} not found; is {out} a run folder?')
        cfg = load_dataclass(cls, saved, overrides)
    elif config is None:
        raise InvalidInputError(f'--config is required for a new run ({presets} or a YAML file)')
    else:
        cfg = load_dataclass(cls, config, overrides)
    cfg.validate()
    return cfg


# ---------------------------------------------------------------------------------------------
# the loop


def start_run(out: str | os.PathLike, cfg: TrainingLoopConfig, *, resume: bool, command: str
              ) -> tuple[Path, dist_utils.DistInfo, torch.device]:
    """Join the process group (under torchrun) and prepare the run folder on rank 0.

    Returns ``(run folder, this process's place in the job, its device)`` once rank 0 has
    written ``config.yaml`` and ``run.json``.
    """
    info, device = dist_utils.init_distributed(cfg.device)
    run = Path(out)
    if info.is_main:
        prepare_run_dir(run, cfg, resume=resume, command=command,
                        extra={'world_size': info.world_size, 'device': str(device)})
    dist_utils.barrier()
    return run, info, device


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DistributedDataParallel on ``device`` (one process per device)."""
    # find_unused_parameters: the encoder's mask_token and refinenet4's first residual unit
    # exist in the checkpoint layout but take no part in the forward pass
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == 'cuda' else None,
        find_unused_parameters=True)


def get_lr(step: int, base_lr: float, max_steps: int, power: float = 0.9,
           warmup_steps: int = 0) -> float:
    """Learning rate for optimiser step ``step`` (0-based): linear warm-up, then poly decay.

    Warm-up rises to ``base_lr`` over ``warmup_steps``; then ``base_lr * (1 - p) ** power``
    where ``p`` runs from 0 to 1 over the remaining steps (the official per-iteration poly
    schedule when there is no warm-up).
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    return base_lr * max(0.0, 1.0 - progress) ** power


def param_groups(model: nn.Module, head_lr_mult: float) -> list[dict[str, Any]]:
    """Trainable parameters in groups: the encoder at ``lr``, the rest at ``lr * head_lr_mult``.

    Encoder parameters are those under a ``pretrained`` module (also inside a wrapper such as
    the distillation student's ``net.``). Each group has a ``name`` and its ``lr_mult`` (see
    :func:`set_lr`); a frozen encoder gives no encoder group.
    """
    encoder, head = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (encoder if 'pretrained' in name.split('.') else head).append(p)
    groups = [{'params': head, 'lr_mult': head_lr_mult, 'name': 'head'}]
    if encoder:
        groups.insert(0, {'params': encoder, 'lr_mult': 1.0, 'name': 'encoder'})
    return groups


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group to ``lr`` times its ``lr_mult``."""
    for group in optimizer.param_groups:
        group['lr'] = lr * group['lr_mult']


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   parameters: Iterable[nn.Parameter], grad_clip: float) -> None:
    """Step on the accumulated (scaled) gradients, clipped to ``grad_clip`` when > 0; zero them."""
    if grad_clip > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(parameters, grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def stopped_early(step: int, max_steps: int, logger: RunLogger) -> bool:
    """Return True (and close the log) when the run stopped before ``max_steps`` (``stop_at``)."""
    if step >= max_steps:
        return False
    LOG.info('stopped at step %d of %d; continue with --resume', step, max_steps)
    logger.close()
    return True


def finish_run(run: Path, summary: dict[str, Any], info: dist_utils.DistInfo,
               logger: RunLogger, export: nn.Module | None, export_note: str, *,
               derived_from: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """End a completed run: rank 0 writes ``val_end.json`` and exports; every rank waits.

    ``summary['val_end']`` holds the final scores; with ``export`` (the bare network) rank 0
    writes ``RUN/export/model.pth``, stores its path as ``summary['export']`` and logs
    ``export_note % path``. The export's sidecar records ``export.licence`` (the licence of
    the weights the run came from) and ``derived_from``: what went into the weights (``role``:
    ``init`` or ``teacher``, ``weights``, ``licence``). Returns ``summary``.
    """
    if info.is_main:
        write_json(run / 'val_end.json', summary['val_end'])
        if export is not None:
            path = export_model(export, run / 'export' / 'model.pth')
            if derived_from is not None:
                write_sidecar(path, {**read_sidecar(path, required=True),
                                     'derived_from': derived_from})
            summary['export'] = str(path)
            LOG.info(export_note, summary['export'])
    logger.close()
    dist_utils.barrier()
    return summary
