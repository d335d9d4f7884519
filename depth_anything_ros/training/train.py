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

"""Fine-tuning on RGB-D data (the ``depth-anything-ros train`` command).

Depth Anything V2, the official metric recipe: encoder from a relative checkpoint (or a whole
metric model), a fresh DPT head ending in sigmoid * max_depth, SiLog loss on valid pixels,
AdamW with the head at 10x the encoder learning rate and poly decay per iteration.

Depth Anything 3 (whole networks, single view): a metric network (``da3metric-large``) gives
metres as ``depth * mean(fx, fy) / 300`` with each sample's focal length at the network input,
and SiLog is applied to those metres; a relative network (``da3mono-large``, the any-view ones)
gives depth up to a scale and is trained with a per-image scale-invariant log-depth loss (plus
a confidence term where it has a confidence). See docs/training.md.

One flat loop; a run folder holds the resolved config, logs, complete checkpoints
(``--resume`` continues bit-for-bit), the val metrics before the first and after the last step
and the exported model, whose sidecar records the licence of the weights it came from.

Several GPUs: ``torchrun --nproc_per_node=N -m depth_anything_ros train ...``
(DDP, one
process per GPU, DistributedSampler order, rank 0 logs and saves).
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
import random
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from depth_anything_ros.backends.devices import amp_dtype
from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.model import build_model, load_model, read_checkpoint, read_sidecar
from depth_anything_ros.models.da2.checkpoint import check_state_dict
from depth_anything_ros.models.files import CheckpointError
from depth_anything_ros.models.hub import checkpoint_info, resolve_checkpoint
from depth_anything_ros.models.registry import (
    family,
    family_for_encoder,
    keys_family,
    split_untrained,
)
from depth_anything_ros.training import distributed as dist_utils
from depth_anything_ros.training import loop
from depth_anything_ros.training.config import dataclass_to_dict, TrainConfig
from depth_anything_ros.training.datasets import build_dataset, DepthDataset
from depth_anything_ros.training.evaluate import evaluate_model
from depth_anything_ros.training.loop import (
    get_lr,
    model_module,
    network_output,
    param_groups,
    SCRATCH_LICENCE,
    weights_licence,
)
from depth_anything_ros.training.losses import (
    confidence_loss,
    scale_invariant_depth_loss,
    silog_loss,
)
from depth_anything_ros.training.runs import (
    load_checkpoint,
    rng_state,
    RunLogger,
    save_checkpoint,
    set_rng_state,
    write_json,
)
from depth_anything_ros.training.transforms import EvalTransform, TrainTransform

LOG = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 'depth_anything_ros.train/1'
PRESETS = 'debug, indoor, outdoor'


# ---------------------------------------------------------------------------------------------
# model


def _init_head_kind(path: Path, meta: dict[str, Any], requested: str) -> str:
    """Return what the init checkpoint holds: config, else sidecar, metadata or file name."""
    if requested != 'auto':
        return requested
    side = read_sidecar(path, required=False)
    model_cfg = meta.get('model_config') if isinstance(meta.get('model_config'), dict) else {}
    info = checkpoint_info(path)
    return (side.get('head') or model_cfg.get('head') or (info.head if info else None) or
            ('metric' if 'metric' in path.name else 'relative'))


def _known_max_depth(path: Path, meta: dict[str, Any]) -> float | None:
    """Return the max_depth (metres) a metric checkpoint was trained with, if recorded."""
    side = read_sidecar(path, required=False)
    model_cfg = meta.get('model_config') if isinstance(meta.get('model_config'), dict) else {}
    info = checkpoint_info(path)
    value = side.get('max_depth') or model_cfg.get('max_depth') or (info and info.max_depth)
    return float(value) if value else None


def training_target(cfg: TrainConfig) -> str:
    """``'metric'`` or ``'relative'``: what the run teaches (``target``, checked against it).

    Raises InvalidInputError (one line) for a target the network cannot learn.
    """
    out = network_output(cfg.encoder)
    if out is None:
        if cfg.target == 'relative':
            raise InvalidInputError(f'target=relative: train fine-tunes {cfg.encoder} to metric '
                                    'depth only (a metric head); relative students are trained '
                                    'with "depth-anything-ros distill"')
        return 'metric'
    if out == 'metres':
        raise InvalidInputError(f'encoder={cfg.encoder}: its metres come from two networks '
                                'joined by a least-squares scale, which train does not '
                                'fine-tune; train its metric network (encoder=da3metric-large) '
                                'or its any-view one instead')
    if out == 'depth' and cfg.target == 'metric':
        raise InvalidInputError(f'target=metric: {cfg.encoder} gives relative depth (known up '
                                'to a scale), not metres; metric fine-tuning needs a metric '
                                'network such as encoder=da3metric-large, or use '
                                'target=relative')
    if out == 'focal' and cfg.target == 'relative':
        raise InvalidInputError(f'target=relative: {cfg.encoder} is a metric network (metres '
                                'from the focal length); train it with target=metric, or train '
                                'a relative network such as encoder=da3mono-large')
    return 'metric' if out == 'focal' else 'relative'


def _check_init_family(path: Path, sd: dict[str, Any], encoder: str) -> None:
    """One line when the init file's weights belong to another family than ``encoder``."""
    own, want = keys_family(sd), family_for_encoder(encoder)
    if own is not None and want is not None and own is not want:
        raise InvalidInputError(f'init={path} holds {own.title} weights but encoder={encoder} is '
                                f"a {want.title} network; set encoder= to the checkpoint's "
                                'network or init= to a checkpoint of this one')


def _build_fixed_output(cfg: TrainConfig) -> nn.Module:
    """Build a network whose configuration fixes its output (Depth Anything 3), with weights.

    ``init``: ``untrained`` (default initialisation), ``untrained:NAME`` (deterministic test
    weights), or a checkpoint of the same configuration, loaded whole and strictly.
    """
    if cfg.init == 'untrained':
        model = build_model(cfg.encoder)
        model.licence = SCRATCH_LICENCE
        LOG.info('model: %s, default init', cfg.encoder)
        return model
    untrained, name = split_untrained(cfg.init)
    if untrained:
        if name not in (None, cfg.encoder):
            raise InvalidInputError(f'init={cfg.init} names another network than '
                                    f'encoder={cfg.encoder}; use init=untrained:{cfg.encoder}')
        return load_model(cfg.init, encoder=cfg.encoder, allow_untrained=True)
    path = resolve_checkpoint(cfg.init)
    try:
        model = load_model(path)   # the family and configuration the file itself names
    except CheckpointError:
        model = None   # e.g. a bare file whose shapes fit two configurations: the config's
    want = family_for_encoder(cfg.encoder)
    if model is not None and want is not None and model.family != want.name:
        raise InvalidInputError(f'init={path} holds {family(model.family).title} weights but '
                                f'encoder={cfg.encoder} is a {want.title} network; set '
                                "encoder= to the checkpoint's network or init= to a checkpoint "
                                'of this one')
    if model is not None and model.config.encoder != cfg.encoder:
        own = model.config
        raise InvalidInputError(
            f'init={cfg.init} holds {own.encoder} ({"metric" if own.is_metric else "relative"}'
            f' depth) but encoder={cfg.encoder} ({_kind_words(cfg.encoder)}): a Depth Anything '
            f'3 network is fine-tuned from its own weights; set encoder={own.encoder} or give '
            f'a {cfg.encoder} checkpoint')
    if model is None:
        model = load_model(path, encoder=cfg.encoder)
    LOG.info('model: %s from %s (whole network)', cfg.encoder, path)
    return model


def _kind_words(encoder: str) -> str:
    return {'depth': 'relative depth', 'focal': 'metric depth'}.get(
        network_output(encoder) or '', 'metric depth')


def build_training_model(cfg: TrainConfig) -> nn.Module:
    """Build the network ``cfg`` trains, with its weights and their licence (``licence``).

    Depth Anything V2: a metric-head model, untrained, encoder-from-relative, or a whole
    metric model. From a relative checkpoint only ``pretrained.*`` (encoder) weights are taken
    and the DPT head keeps PyTorch's default init, as in the official recipe; a metric
    checkpoint is loaded whole (strict). A family whose configurations fix their output (Depth
    Anything 3) is loaded whole from a checkpoint of the same configuration; single-view
    training leaves the parts it gives no signal to frozen (``freeze_unsupervised``).
    """
    training_target(cfg)   # refuses a target the network cannot learn
    if network_output(cfg.encoder) is not None:
        model = _build_fixed_output(cfg)
        frozen = model_module(model).freeze_unsupervised(model)
        LOG.info('frozen (no signal in single-view depth training): %d tensors (camera '
                 'encoder/decoder, sky output, unused branches)', len(frozen))
        return model
    model = build_model(cfg.encoder, head='metric', max_depth=cfg.max_depth)
    if cfg.init == 'untrained':
        LOG.info('model: %s encoder, metric head (max_depth %.1f m), default init',
                 cfg.encoder, cfg.max_depth)
        model.licence = SCRATCH_LICENCE
        return model
    path = resolve_checkpoint(cfg.init)
    sd, meta = read_checkpoint(path)
    _check_init_family(path, sd, cfg.encoder)
    model.licence = weights_licence(path)
    kind = _init_head_kind(path, meta, cfg.init_head)
    if kind == 'relative':
        encoder_sd = {k: v for k, v in sd.items() if k.startswith('pretrained.')}
        try:
            missing, unexpected = model.load_state_dict(encoder_sd, strict=False)
        except RuntimeError as exc:  # shape mismatch
            raise InvalidInputError(f'{path}: encoder weights do not fit encoder={cfg.encoder!r} '
                                    f'({str(exc)[:300]}); set encoder= to the '
                                    "checkpoint's") from exc
        missing = [k for k in missing if k.startswith('pretrained.')]
        if missing or unexpected:
            raise InvalidInputError(f'{path}: encoder keys do not match encoder={cfg.encoder!r} '
                                    f'(missing {missing[:4]}, unexpected {unexpected[:4]}); set '
                                    "encoder= to the checkpoint's")
        LOG.info('model: encoder from relative checkpoint %s (%d tensors), fresh metric head '
                 '(max_depth %.1f m)', path, len(encoder_sd), cfg.max_depth)
    else:
        check_state_dict(model, sd, str(path))
        model.load_state_dict(sd, strict=True)
        trained_max = _known_max_depth(path, meta)
        if trained_max is not None and abs(trained_max - cfg.max_depth) > 1e-6:
            LOG.warning('%s was trained with max_depth %.1f m but the config says %.1f m: its '
                        'outputs are rescaled by %.3f until fine-tuning adapts them; set '
                        'max_depth=%g to keep them', path, trained_max, cfg.max_depth,
                        cfg.max_depth / trained_max, trained_max)
        LOG.info('model: whole metric checkpoint %s (max_depth %.1f m)', path, cfg.max_depth)
    return model


# ---------------------------------------------------------------------------------------------
# data


class BatchStream:
    """Endless, resumable stream of training micro-batches.

    Epoch ``e`` visits the samples in ``DistributedSampler(seed, epoch=e)`` order (each rank its
    share); every sample's augmentation is seeded by ``(seed, epoch, position)``. So the
    stream depends only on the micro-batch counter: resuming at counter ``m`` replays exactly
    what an uninterrupted run would see, with any number of workers.
    """

    def __init__(self, dataset: DepthDataset, batch_size: int, seed: int,
                 dist: dist_utils.DistInfo, num_workers: int = 0, start: int = 0,
                 pin_memory: bool = False) -> None:
        self.dataset, self.batch_size, self.seed, self.dist = dataset, batch_size, seed, dist
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.per_epoch = len(dataset) // dist.world_size // batch_size
        if self.per_epoch == 0:
            raise InvalidInputError(f'the training split has {len(dataset)} samples, fewer '
                                    f'than batch_size {batch_size} x {dist.world_size} '
                                    'process(es); lower batch_size or add data')
        self.counter = start

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, tuple[int, ...]]]]:
        """Keys ``(index, augmentation seed)`` of every batch of ``epoch`` for this rank."""
        sampler = DistributedSampler(self.dataset, num_replicas=self.dist.world_size,
                                     rank=self.dist.rank, shuffle=True, seed=self.seed,
                                     drop_last=True)
        sampler.set_epoch(epoch)
        order = list(sampler)
        world, rank = self.dist.world_size, self.dist.rank
        # seed by the position in the epoch's global order (DistributedSampler gives rank r
        # the positions r, r + world, ...): the same sample gets the same augmentation for
        # any number of processes
        return [[(order[b * self.batch_size + j],
                  (self.seed, epoch, (b * self.batch_size + j) * world + rank))
                 for j in range(self.batch_size)] for b in range(self.per_epoch)]

    def __iter__(self):
        while True:
            epoch, first = divmod(self.counter, self.per_epoch)
            loader = DataLoader(self.dataset, batch_sampler=self.epoch_batches(epoch)[first:],
                                num_workers=self.num_workers, pin_memory=self.pin_memory,
                                multiprocessing_context=dist_utils.loader_context(
                                    self.num_workers),
                                persistent_workers=False)
            for batch in loader:
                self.counter += 1
                yield batch


def require_intrinsics(dataset: DepthDataset, split: str, encoder: str) -> None:
    """One line when a sample of ``dataset`` has no intrinsics (a focal-scaled network).

    Samples whose reference carries none are looked at through the first of them: a loader
    that adds intrinsics when it reads a sample (Hypersim) does so for all of its samples.
    """
    missing = next((i for i, ref in enumerate(dataset.refs) if ref.intrinsics is None), None)
    if missing is not None and 'intrinsics' not in dataset.load(missing):
        raise InvalidInputError(
            f'{dataset.refs[missing].rgb} ({split} split) has no intrinsics, and {encoder} '
            "gives metres only with each image's focal length; add camera: {fx, fy, cx, cy} "
            "to the dataset's dataset.yaml or fx fy cx cy to each line of its split file")


def batch_focal(batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """(fx, fy) [B, 2] in pixels of the network input, from the batch's intrinsics."""
    k = batch.get('intrinsics')
    if k is None:
        raise InvalidInputError('a training batch has no intrinsics; the network gives metres '
                                "only with each image's focal length")
    focal = torch.stack([k[:, 0, 0], k[:, 1, 1]], 1).to(device, torch.float32)  # (B, 2)
    if not bool(torch.isfinite(focal).all()) or bool((focal <= 0).any()):
        raise InvalidInputError(f'a training sample has focal length {focal.tolist()}; fix '
                                "the dataset's intrinsics (fx, fy > 0 pixels)")
    return focal


def fixed_output_loss(out: dict[str, torch.Tensor], depth: torch.Tensor, mask: torch.Tensor,
                      target: str, cfg: TrainConfig) -> torch.Tensor:
    """Loss of a network whose output its configuration fixes (Depth Anything 3).

    ``out['depth']`` (B, S, S) is the head's depth before sky pixels get the far value:
    metres (focal-scaled) for ``target='metric'``, scored by SiLog as the metric recipe does;
    depth up to a scale for ``'relative'``, scored per image by
    :func:`scale_invariant_depth_loss`, plus ``conf_weight`` x :func:`confidence_loss` where
    the network gives a confidence.
    """
    pred = out['depth'].float()
    if target == 'metric':
        return silog_loss(pred, depth, mask, cfg.silog_lambda)
    loss = scale_invariant_depth_loss(pred, depth, mask)
    if 'confidence' in out and cfg.conf_weight > 0:
        loss = loss + cfg.conf_weight * confidence_loss(out['confidence'].float(), pred, depth,
                                                        mask)
    return loss


# ---------------------------------------------------------------------------------------------
# the loop


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, stop_at: int | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a fine-tuning run into ``out``; return a summary dict.

    ``stop_at``: save ``last.pt`` and return after that many optimiser steps (to split a run
    over job time limits; continue with ``resume=True``).
    """
    cfg.validate()
    if not cfg.data:
        raise InvalidInputError('no dataset: pass --data DIR (or data=DIR)')
    target = training_target(cfg)   # before the run folder: a refused run leaves nothing
    run, info, device = loop.start_run(out, cfg, resume=resume, command='train')
    _seed_everything(cfg.seed + info.rank)

    model = build_training_model(cfg).to(device)
    licence = getattr(model, 'licence', None)
    # a network whose output is fixed by its configuration gives a dict (depth, sky, ...)
    fixed = network_output(cfg.encoder) is not None
    needs_focal = bool(getattr(model.config, 'needs_intrinsics', False))
    if cfg.freeze_encoder:
        for name, p in model.named_parameters():
            if 'pretrained' in name.split('.'):
                p.requires_grad_(False)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.head_lr_mult), lr=cfg.lr,
                                  betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    amp = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    step, best, best_step = 0, math.inf, -1
    if resume:
        ck = load_checkpoint(run / 'last.pt')
        if ck.get('format') != CHECKPOINT_FORMAT:
            raise InvalidInputError(f'{run / "last.pt"} is not a training checkpoint of this tool')
        model.load_state_dict(ck['model'])
        optimizer.load_state_dict(ck['optimizer'])
        scaler.load_state_dict(ck['scaler'])
        step, best, best_step = ck['step'], ck['best_metric'], ck['best_step']
        set_rng_state(ck['rng'])
        LOG.info('resumed %s at step %d (best val abs_rel %.4f)', run, step, best)
    base = model
    if info.enabled:
        model = loop.data_parallel(model, device)

    train_ds = build_dataset(cfg.dataset, cfg.data, cfg.train_split,
                             TrainTransform(cfg.input_size, hflip=cfg.hflip,
                                            jitter=cfg.color_jitter),
                             min_depth=cfg.min_depth, max_depth=cfg.max_depth)
    val_ds = build_dataset(cfg.dataset, cfg.data, cfg.val_split, EvalTransform(cfg.input_size),
                           min_depth=cfg.min_depth, max_depth=cfg.max_depth
                           ).limit(cfg.max_val_images)
    if needs_focal:
        for ds, split in ((train_ds, cfg.train_split), (val_ds, cfg.val_split)):
            require_intrinsics(ds, split, cfg.encoder)
    logger = RunLogger(run, tensorboard=cfg.tensorboard, enabled=info.is_main)
    LOG.info('data: %d train / %d val samples from %s (%s); target: %s depth', len(train_ds),
             len(val_ds), cfg.data, cfg.dataset, target)

    def validate(at_step: int) -> dict[str, float]:
        # relative depth is scored as eval scores relative models: scale-and-shift fitted
        result = evaluate_model(model, val_ds, min_depth=cfg.min_depth, max_depth=cfg.max_depth,
                                align=None if target == 'metric' else 'scale_shift',
                                autocast_dtype=amp, progress=progress, dist=info)
        logger.log(at_step, {k: v for k, v in result.items() if not k.startswith('n_')},
                   prefix='val/')
        LOG.info('step %d val: abs_rel %.4f rmse %.3f delta1 %.3f (%d images)', at_step,
                 result['abs_rel'], result['rmse'], result['delta1'], result['n_images'])
        return result

    def checkpoint(path: Path, at_step: int) -> None:
        if info.is_main:
            save_checkpoint(path, {
                'format': CHECKPOINT_FORMAT, 'model': base.state_dict(),
                'model_config': base.config.to_dict(), 'optimizer': optimizer.state_dict(),
                'scaler': scaler.state_dict(), 'step': at_step, 'best_metric': best,
                'best_step': best_step, 'config': dataclass_to_dict(cfg), 'rng': rng_state()})

    summary: dict[str, Any] = {'run': str(run)}
    if not resume:
        summary['val_start'] = validate(0)
        if info.is_main:
            write_json(run / 'val_start.json', summary['val_start'])

    end = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    stream = iter(BatchStream(train_ds, cfg.batch_size, cfg.seed, info, cfg.num_workers,
                              start=step * cfg.grad_accum, pin_memory=device.type == 'cuda'))
    model.train()
    losses: list[float] = []
    t_last = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, desc='train', unit='step',
               disable=not (progress and info.is_main))
    while step < end:
        lr = get_lr(step, cfg.lr, cfg.max_steps, cfg.lr_power, cfg.warmup_steps)
        loop.set_lr(optimizer, lr)
        loss_value = 0.0
        for micro in range(cfg.grad_accum):
            batch = next(stream)
            image = batch['image'].to(device, non_blocking=True)      # (B, 3, S, S)
            depth = batch['depth'].to(device, non_blocking=True)      # (B, S, S) metres
            mask = batch['valid_mask'].to(device) & (depth >= cfg.min_depth) & \
                (depth <= cfg.max_depth)                               # (B, S, S)
            last_micro = micro == cfg.grad_accum - 1
            # DDP: all-reduce gradients only on the last micro-step of an accumulation
            sync = contextlib.nullcontext() if (last_micro or not info.enabled) \
                else model.no_sync()
            with sync:
                with torch.autocast(device.type, dtype=amp or torch.float32,
                                    enabled=amp is not None):
                    if fixed:
                        focal = batch_focal(batch, device) if needs_focal else None
                        out = model(image, focal=focal, sky_to_far=False)
                    else:
                        out = {'depth': model(image)}                 # (B, S, S) metres
                loss = fixed_output_loss(out, depth, mask, target, cfg) if fixed else \
                    silog_loss(out['depth'].float(), depth, mask, cfg.silog_lambda)
                scaler.scale(loss / cfg.grad_accum).backward()
            loss_value += float(loss.detach()) / cfg.grad_accum
        loop.optimizer_step(optimizer, scaler, model.parameters(), cfg.grad_clip)
        step += 1
        losses.append(loss_value)
        bar.update(1)
        bar.set_postfix(loss=f'{loss_value:.4f}', lr=f'{lr:.2e}')
        if step % cfg.log_every == 0 or step == end:
            now = time.perf_counter()
            logger.log(step, {'loss': loss_value, 'lr': lr,
                              'sec_per_step': (now - t_last) / cfg.log_every}, prefix='train/')
            t_last = now
        if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.max_steps:
            result = validate(step)
            if result['abs_rel'] < best:
                best, best_step = result['abs_rel'], step
                checkpoint(run / 'best.pt', step)
            model.train()
        if step % cfg.save_every == 0 or step == end:
            checkpoint(run / 'last.pt', step)
    bar.close()
    summary.update({'step': step, 'losses': losses})
    if loop.stopped_early(step, cfg.max_steps, logger):
        return summary

    summary['val_end'] = validate(step)
    if summary['val_end']['abs_rel'] < best or best_step < 0:
        best, best_step = summary['val_end']['abs_rel'], step
        checkpoint(run / 'best.pt', step)
    checkpoint(run / 'last.pt', step)
    base.licence = licence
    return loop.finish_run(run, summary, info, logger, base if cfg.export else None,
                           'exported %s (load with load_model / DepthEstimator / the node)',
                           derived_from=[{'role': 'init', 'weights': cfg.init,
                                          'licence': licence}])
