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

"""Train a small relative student on a teacher's pseudo-labels (``depth-anything-ros distill``).

One flat loop (nanoGPT style): the student (any encoder, or the ``tiny`` config) predicts
disparity on random crops of pseudo-labelled frames; the loss is the DA-V2 recipe from
:mod:`.relative_losses` (scale-and-shift-invariant + 2 x gradient matching, the 10 % largest
residuals of each sample ignored), optionally plus feature alignment to a frozen teacher.
A Depth Anything 3 student (``da3mono-large``, an any-view network, single view) predicts
depth up to a scale instead: each label is read as depth ``1 / disparity`` and the loss is the
per-image scale-invariant log-depth loss of :mod:`.losses` (plus its confidence term), which
needs labels without an unknown shift (a Depth Anything 3 or metric teacher). The export's
sidecar records the licence of the init weights and of each teacher (``derived_from``); a
non-commercial one among them becomes the student's licence.

Run folder, logs, checkpoints and export follow ``depth-anything-ros train``
(:mod:`.runs`): ``RUN/config.yaml``, ``run.json``, ``log.csv`` (+ ``tb/``), complete
``last.pt`` / ``best.pt`` (``--resume`` continues exactly), ``val_start.json`` /
``val_end.json`` and ``RUN/export/model.pth`` + sidecar, a relative model that the node and
``depth-anything-ros eval`` load directly. Several GPUs: ``torchrun --nproc_per_node N -m
depth_anything_ros.commands.cli distill ...`` (each rank draws its own part of every step).

Validation (relative, scale-and-shift aligned): on ``val_data`` (an RGB-D dataset with true
depth, generic format) aligned AbsRel / delta1 in depth and pairwise ordinal accuracy; on the
held-out ``val_fraction`` of the labels, agreement with the teacher (AbsRel in disparity after
alignment, ordinal agreement).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
import logging
import math
import os
from pathlib import Path
import time
from typing import Any
import zlib

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from depth_anything_ros.backends.devices import amp_dtype
from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.model import (
    build_model,
    load_model,
    ModelConfig,
    read_json_file,
    untrained_model,
)
from depth_anything_ros.models.loading import UNTRAINED_LICENCE
from depth_anything_ros.models.registry import encoder_choices, find_checkpoint
from depth_anything_ros.training import distributed as dist_utils
from depth_anything_ros.training import loop, runs
from depth_anything_ros.training.config import (
    dataclass_to_dict,
    load_dataclass,
    TrainingLoopConfig,
)
from depth_anything_ros.training.datasets import GenericDataset
from depth_anything_ros.training.distributed import loader_context
from depth_anything_ros.training.evaluate import predict
from depth_anything_ros.training.labels import LabelSet
from depth_anything_ros.training.loop import get_lr, param_groups
from depth_anything_ros.training.losses import confidence_loss, scale_invariant_depth_loss
from depth_anything_ros.training.metrics import (
    align_disparity_to_depth,
    depth_metrics,
    fit_scale_shift,
)
from depth_anything_ros.training.relative_losses import (
    ALIGNMENTS,
    feature_alignment_loss,
    relative_loss,
    RelativeLossConfig,
)
from depth_anything_ros.training.transforms import EvalTransform, TrainTransform

LOG = logging.getLogger(__name__)
STUDENTS = encoder_choices(extra=True, trainable=True)   # every architecture trained here
CHECKPOINT_FORMAT = 'depth_anything_ros.distill/1'
PRESETS = 'distill_debug, distill'


@dataclass
class DistillConfig(TrainingLoopConfig):
    """Everything a distillation run needs; saved resolved as ``RUN/config.yaml``."""

    # --- student ---
    student: str = 'vits'          # tiny | vits | vitb | vitl | vitg | path to a ModelConfig .json
    init: str = 'scratch'          # scratch | untrained | relative checkpoint path / name
    weights_dir: str = ''          # where named checkpoints live ('' = default places)
    # --- data ---
    labels: list[str] = field(default_factory=list)  # label directories (the CLI's --labels)
    val_fraction: float = 0.05     # labels held out for validation (by key hash); 0 = none
    val_data: str = ''             # optional RGB-D dataset (generic format) with true depth
    val_split: str = 'val'
    max_val_images: int = 0        # 0 = all
    input_size: int = 518          # training crop side and eval short side (multiple of 14)
    hflip: bool = True
    color_jitter: float = 0.0
    num_workers: int = 2
    # --- loss ---
    alignment: str = 'median'      # median (MiDaS median/MAD) | lstsq (closed-form fit)
    trim: float = 0.1              # per-sample share of largest-residual pixels ignored
    grad_weight: float = 2.0       # L = L_ssi + grad_weight * L_gm (DA-V2: 1:2)
    grad_scales: int = 4
    feature_teacher: str = ''      # '' = off; else frozen teacher for feature alignment
    feature_weight: float = 1.0
    feature_margin: float = 0.85   # cosine similarity above which a token is left alone
    conf_weight: float = 0.1       # confidence term of a depth student with a confidence output
    # --- optimisation (the rest: TrainingLoopConfig) ---
    batch_size: int = 8            # per process, per micro-step

    def validate(self) -> DistillConfig:
        """Raise ``ValueError`` naming every bad field and its fix; return self."""
        problems = []
        if self.student not in STUDENTS and not self.student.endswith('.json'):
            problems.append(f'student={self.student!r}: choose one of {", ".join(STUDENTS)} '
                            'or give a ModelConfig JSON file (e.g. a sidecar\'s "config")')
        if not self.labels:
            problems.append('labels: give at least one label directory (--labels DIR), made '
                            'by "depth-anything-ros pseudo-label"')
        if self.input_size <= 0 or self.input_size % 14:
            problems.append(f'input_size={self.input_size}: must be a positive multiple of 14')
        if self.alignment not in ALIGNMENTS:
            problems.append(f'alignment={self.alignment!r}: use {" or ".join(ALIGNMENTS)}')
        if not 0 <= self.trim < 1:
            problems.append(f'trim={self.trim}: must be in [0, 1)')
        if not 0 <= self.val_fraction < 1:
            problems.append(f'val_fraction={self.val_fraction}: must be in [0, 1)')
        if self.grad_scales < 1:
            problems.append(f'grad_scales={self.grad_scales}: must be >= 1')
        if self.conf_weight < 0:
            problems.append(f'conf_weight={self.conf_weight}: must be >= 0')
        problems += self.loop_problems()
        if problems:
            raise InvalidInputError('invalid distillation config:\n  ' + '\n  '.join(problems))
        return self

    def loss_config(self) -> RelativeLossConfig:
        return RelativeLossConfig(self.alignment, self.trim, self.grad_weight, self.grad_scales)


def load_distill_config(name_or_path: str | os.PathLike | None,
                        overrides: list[str] | tuple[str, ...] = ()) -> DistillConfig:
    """Load a preset (``distill_debug``, ``distill``) or YAML file, apply ``key=value``."""
    return load_dataclass(DistillConfig, name_or_path, overrides).validate()


# ---------------------------------------------------------------------------------------------
# data


def is_val_key(key: str, fraction: float) -> bool:
    """Deterministic hold-out: a key is in validation when its hash falls below ``fraction``."""
    return fraction > 0 and (zlib.crc32(key.encode('utf-8')) % 10_000) < fraction * 10_000


class LabelDataset(torch.utils.data.Dataset):
    """Pseudo-labelled frames as training samples; index with ``(i, seed)``.

    Each sample is ``{'image': (3, S, S) normalised, 'disparity': (S, S), 'valid_mask':
    (S, S) bool}`` after the train transform of ``depth-anything-ros train`` (lower-bound
    resize, random square crop, flip; nearest resize for the label).
    """

    def __init__(self, labels: LabelSet, indices: list[int], transform: Any) -> None:
        self.labels = labels
        self.indices = indices
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        i, seed = key
        j = self.indices[i]
        rgb = cv2.cvtColor(self.labels.load_image(j), cv2.COLOR_BGR2RGB)
        disp = self.labels.load_label(j)
        if disp.shape != rgb.shape[:2]:
            raise InvalidInputError(f'{self.labels.record(j).key}: label {disp.shape} and image '
                                    f'{rgb.shape[:2]} sizes differ')
        sample = {'image': rgb, 'depth': disp, 'valid_mask': np.isfinite(disp)}
        out = self.transform(sample, np.random.default_rng(seed))
        return {'image': out['image'], 'disparity': out['depth'],
                'valid_mask': out['valid_mask']}


class StepSampler(torch.utils.data.Sampler):
    """Batches of ``(index, seed)`` from a global sample position, so a resume is exact.

    Position ``p`` (counted over all ranks) maps to epoch ``p // n`` of a seeded permutation;
    each rank takes its own ``batch_size`` slice of every micro-step.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, start_micro_step: int,
                 rank: int = 0, world: int = 1) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.micro_step, self.rank, self.world = start_micro_step, rank, world
        self._perms: dict[int, np.ndarray] = {}

    def _index(self, pos: int) -> int:
        epoch, offset = divmod(pos, self.n)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return int(self._perms[epoch][offset])

    def __iter__(self):  # endless: the loop stops at max_steps
        while True:
            base = (self.micro_step * self.world + self.rank) * self.batch_size
            yield [(self._index(p), self.seed * 1_000_003 + p)
                   for p in range(base, base + self.batch_size)]
            self.micro_step += 1


# ---------------------------------------------------------------------------------------------
# model


def student_architecture(student: str) -> Any:
    """Return an encoder name, or the :class:`ModelConfig` of a ``.json`` student file.

    The JSON holds ModelConfig fields (as in an export sidecar's ``config``), so a custom,
    smaller network (fewer blocks, narrower) can be distilled and later loaded from its export.
    """
    if not student.endswith('.json'):
        return student
    data = read_json_file(student, 'student ModelConfig JSON file')
    if not isinstance(data, dict):
        raise InvalidInputError(f'student={student}: expected a JSON object of ModelConfig fields')
    return ModelConfig.from_dict(data.get('config', data)).with_head('relative')


def depth_student(student: str) -> bool:
    """Whether the student predicts depth up to a scale (Depth Anything 3), not disparity.

    Raises InvalidInputError for a network distill cannot train: one whose output is metres
    (a metric student keeps no scale from scale-free labels; fine-tune it with ``train``).
    """
    if student.endswith('.json'):
        return False
    out = loop.network_output(student)
    if out in ('focal', 'metres'):
        raise InvalidInputError(f'student={student} is a metric network, and distill trains '
                                'relative students only (pseudo-labels carry no metric scale); '
                                'distil into da3mono-large or an any-view network, or fine-tune '
                                f'{student} with "depth-anything-ros train"')
    return out == 'depth'


def check_labels_fit(labels: LabelSet, student: str) -> None:
    """One line when a depth student is given labels with an unknown shift.

    A depth student's loss reads each label as 1 / depth up to a scale; a relative disparity
    teacher's labels (Depth Anything V2) are affine-invariant, and their inverse is no depth.
    """
    for d, meta in zip(labels.dirs, labels.metas):
        output = meta.get('teacher_output') or (
            'metric' if meta.get('teacher_head') == 'metric' else 'disparity')
        if output == 'disparity':
            raise InvalidInputError(
                f'{d} holds affine-invariant disparity from teacher {meta.get("teacher")} '
                f'(unknown scale and shift), which is no depth for student={student}; label '
                'with a depth teacher (e.g. da3mono-large, a metric model) or distil into a '
                'Depth Anything V2 student')


def teacher_entries(labels: LabelSet) -> list[dict[str, Any]]:
    """``derived_from`` entries of the teachers of ``labels`` (name and licence of each)."""
    entries = []
    for meta in labels.metas:
        name = meta.get('teacher')
        licence = meta.get('teacher_licence')
        if not isinstance(licence, str) and isinstance(name, str):
            published = find_checkpoint(name)[1]
            licence = published.licence if published is not None else None
        entry = {'role': 'teacher', 'weights': name, 'licence': licence}
        if entry not in entries:
            entries.append(entry)
    return entries


def _init_licence(cfg: DistillConfig, model: nn.Module) -> str | None:
    if cfg.init == 'scratch':
        return loop.SCRATCH_LICENCE
    if cfg.init == 'untrained' or cfg.init.startswith('untrained:'):
        return UNTRAINED_LICENCE
    return getattr(model, 'licence', None)


def build_student(cfg: DistillConfig) -> nn.Module:
    """Build the student: from a relative checkpoint, deterministic weights or scratch.

    The returned network's ``licence`` is that of the weights it starts from.
    """
    if depth_student(cfg.student):
        model = _build_depth_student(cfg)
    else:
        model = _build_disparity_student(cfg)
    model.licence = _init_licence(cfg, model)
    return model


def _build_depth_student(cfg: DistillConfig) -> nn.Module:
    """Build a Depth Anything 3 student, whole; freeze what distillation gives no signal to."""
    if cfg.init == 'scratch':
        model = build_model(cfg.student)
    elif cfg.init == 'untrained' or cfg.init.startswith('untrained:'):
        if cfg.init not in ('untrained', f'untrained:{cfg.student}'):
            raise InvalidInputError(f'init={cfg.init} names another network than '
                                    f'student={cfg.student}; use init=untrained:{cfg.student}')
        model = load_model(f'untrained:{cfg.student}', allow_untrained=True)
    else:
        model = load_model(cfg.init, encoder=None, weights_dir=cfg.weights_dir or None)
        if model.config.encoder != cfg.student:
            raise InvalidInputError(f'init={cfg.init!r} holds a {model.config.encoder} network '
                                    f'but student={cfg.student!r}; set student='
                                    f'{model.config.encoder} or another init')
    loop.model_module(model).freeze_unsupervised(model)
    return model


def _build_disparity_student(cfg: DistillConfig) -> nn.Module:
    arch = student_architecture(cfg.student)
    if cfg.init == 'scratch':
        model = build_model(arch, 'relative')
        # The relative head ends in ReLU: a pixel predicted negative gets no gradient. A
        # positive bias on the last conv starts every pixel in the live part of the ReLU.
        last = [m for m in model.depth_head.modules() if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():
            last.bias.fill_(1.0)
        return model
    if cfg.init == 'untrained' or cfg.init.startswith('untrained:'):
        return untrained_model(arch, 'relative')
    model = load_model(cfg.init, head='relative', weights_dir=cfg.weights_dir or None)
    wanted = arch.encoder if not isinstance(arch, str) else arch
    if model.config.encoder != wanted:
        raise InvalidInputError(f'init={cfg.init!r} holds a {model.config.encoder} network but '
                                f'student={cfg.student!r}; set student={model.config.encoder} or '
                                'another init')
    return model


class Student(nn.Module):
    """The student network plus (with feature alignment) a linear projector to the teacher.

    ``forward(x) -> (disparity (B, H, W), projected last-level tokens (B, N, Dt) or None)``;
    a depth student (``depth=True``) gives ``({'depth': (B, H, W), ...}, None)`` instead, the
    head's depth before sky pixels get the far value.
    """

    def __init__(self, net: nn.Module, teacher_dim: int | None, *, depth: bool = False) -> None:
        super().__init__()
        self.net = net
        self.depth = depth
        self.projector = (nn.Linear(net.config.embed_dim, teacher_dim)
                          if teacher_dim is not None else None)

    def forward(self, x: torch.Tensor) -> tuple[Any, torch.Tensor | None]:
        if self.depth:
            return self.net(x, sky_to_far=False), None
        if self.projector is None:
            return self.net(x), None
        p = self.net.config.patch_size
        feats = self.net.forward_features(x)  # 4 x ((B, N, D), (B, D))
        out = self.net.depth_head(feats, x.shape[-2] // p, x.shape[-1] // p, x.shape[-2:])
        return torch.relu(out).squeeze(1), self.projector(feats[-1][0])  # (B,H,W), (B,N,Dt)


# ---------------------------------------------------------------------------------------------
# evaluation


def dense_ordinal_accuracy(pred_disp: np.ndarray, ref: np.ndarray, mask: np.ndarray, *,
                           ref_is_depth: bool, pairs: int = 2000, min_ratio: float = 1.05,
                           seed: int = 0) -> float:
    """Share of random pixel pairs whose nearer point the prediction picks (ties are wrong).

    Pairs are drawn from ``mask`` with a fixed seed; pairs whose reference values differ by
    less than ``min_ratio`` are not counted (no clear answer).

    Args:
        pred_disp: (H, W) predicted disparity (larger = nearer).
        ref: (H, W) reference: depth in metres (``ref_is_depth``) or disparity.
        mask: (H, W) bool valid reference pixels.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(ys), pairs), rng.integers(0, len(ys), pairs)
    ra, rb = ref[ys[a], xs[a]].astype(np.float64), ref[ys[b], xs[b]].astype(np.float64)
    near_a = ra < rb if ref_is_depth else ra > rb
    lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
    clear = (lo > 0) & (hi >= min_ratio * lo)
    if not clear.any():
        return math.nan
    pa, pb = pred_disp[ys[a], xs[a]], pred_disp[ys[b], xs[b]]
    right = np.where(near_a, pa > pb, pb > pa)
    return float(right[clear].mean())


def relative_scores(pred_disp: np.ndarray, ref: np.ndarray, mask: np.ndarray, *,
                    ref_is_depth: bool) -> dict[str, float] | None:
    """Aligned AbsRel (+ delta1 against depth) and ordinal accuracy of one prediction (H, W).

    Against true depth: the disparity is fitted (least squares, scale and shift) to 1/depth
    and inverted (the Depth Anything relative protocol). Against a teacher's disparity: the
    fit and AbsRel are in disparity.
    """
    if mask.sum() < 10:
        return None
    if ref_is_depth:
        max_depth = float(ref[mask].max())
        aligned = align_disparity_to_depth(pred_disp, ref, mask, max_depth).numpy()
        m = depth_metrics(aligned, ref, mask)
        if m is None:
            return None
        out = {'abs_rel': m['abs_rel'], 'delta1': m['delta1']}
    else:
        s, t = fit_scale_shift(pred_disp, ref, mask)
        aligned = s * pred_disp.astype(np.float64) + t
        good = mask & (ref > 1e-6)
        out = {'abs_rel': float(np.mean(np.abs(aligned[good] - ref[good]) / ref[good]))}
    out['ordinal_acc'] = dense_ordinal_accuracy(pred_disp, ref, mask, ref_is_depth=ref_is_depth)
    return out


@torch.no_grad()
def predict_disparity(model: nn.Module, rgb: np.ndarray, input_size: int,
                      device: torch.device) -> np.ndarray:
    """Student disparity (H, W) float32 for an RGB uint8 image, at the image's resolution.

    A depth student's depth ``z`` is given as ``1 / z``.
    """
    h, w = rgb.shape[:2]
    sample = EvalTransform(input_size)({'image': rgb, 'depth': np.zeros((h, w), np.float32),
                                        'valid_mask': np.ones((h, w), bool)})
    pred = predict(model.to(device), sample['image'], (h, w))  # (H, W)
    if getattr(model.config, 'output', None) == 'depth':
        pred = 1.0 / pred.clamp(min=1e-6)
    return pred.cpu().numpy()


# Scores evaluate() averages; a fixed order so that every rank's sums line up in all-reduce.
SCORE_KEYS = ('abs_rel', 'delta1', 'ordinal_acc')


def score_sums(model: nn.Module, cfg: DistillConfig, items: Any, device: torch.device, *,
               rank: int = 0, world: int = 1) -> torch.Tensor:
    """Return the sums and counts of the relative scores over this rank's share of ``items()``.

    Item ``i`` belongs to rank ``i % world``. Returns float64 ``[sum per SCORE_KEYS...,
    count per SCORE_KEYS...]``, so the shares of all ranks simply add up.
    """
    sums = torch.zeros(2 * len(SCORE_KEYS), dtype=torch.float64)
    for i, (rgb, ref, mask, is_depth) in enumerate(items()):
        if i % world != rank:
            continue
        scores = relative_scores(predict_disparity(model, rgb, cfg.input_size, device),
                                 ref, mask, ref_is_depth=is_depth)
        for j, key in enumerate(SCORE_KEYS):
            value = (scores or {}).get(key)
            if value is not None and not math.isnan(value):
                sums[j] += value
                sums[len(SCORE_KEYS) + j] += 1
    return sums


def evaluate(model: nn.Module, cfg: DistillConfig, val_sets: list[tuple[str, Any]],
             device: torch.device, *, rank: int = 0, world: int = 1,
             reduce: Any = None) -> dict[str, float]:
    """Mean relative scores over every validation set, prefixed ``gt_`` / ``teacher_``.

    Under torchrun every rank calls it: each scores its share of the items and ``reduce``
    (an all-reduce sum, e.g. ``distributed.all_reduce_sum``) adds the shares up, so no rank
    waits in a collective while another validates alone (NCCL would time out on a long
    validation) and all ranks get the same scores.
    """
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    n = len(SCORE_KEYS)
    for name, items in val_sets:
        sums = score_sums(model, cfg, items, device, rank=rank, world=world)
        if reduce is not None:
            sums = reduce(sums)
        out.update({f'{name}_{k}': float(sums[j] / sums[n + j])
                    for j, k in enumerate(SCORE_KEYS) if sums[n + j] > 0})
    model.train(was_training)
    return out


def build_val_sets(cfg: DistillConfig, labels: LabelSet, val_idx: list[int]
                   ) -> list[tuple[str, Any]]:
    """Return ``[(name, factory of (rgb, ref, mask, ref_is_depth) iterators)]``."""
    sets: list[tuple[str, Any]] = []
    if cfg.val_data:
        ds = GenericDataset(cfg.val_data, cfg.val_split).limit(cfg.max_val_images)

        def gt_items():
            for i in range(len(ds)):
                s = ds.load(i)
                yield s['image'], s['depth'], s['valid_mask'], True

        sets.append(('gt', gt_items))
    if val_idx:
        idx = val_idx[:cfg.max_val_images] if cfg.max_val_images > 0 else val_idx

        def teacher_items():
            for j in idx:
                rgb = cv2.cvtColor(labels.load_image(j), cv2.COLOR_BGR2RGB)
                disp = labels.load_label(j)
                yield rgb, disp, np.isfinite(disp), False

        sets.append(('teacher', teacher_items))
    return sets


# ---------------------------------------------------------------------------------------------
# the loop


def depth_student_loss(out: dict[str, torch.Tensor], disparity: torch.Tensor,
                       mask: torch.Tensor, conf_weight: float
                       ) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of a depth student on disparity labels (1 / depth up to a scale, sky 0).

    The label becomes depth ``1 / disparity`` where it is positive (sky and invalid pixels
    are left out) and the student's depth is scored by the per-image scale-invariant log-depth
    loss, plus ``conf_weight`` x the confidence term where the student has a confidence.
    """
    pred = out['depth'].float()                                          # (B, S, S)
    mask = mask & torch.isfinite(disparity) & (disparity > 0)
    target = 1.0 / torch.where(mask, disparity, torch.ones_like(disparity))
    l_si = scale_invariant_depth_loss(pred, target, mask)
    parts = {'si': float(l_si.detach())}
    loss = l_si
    if 'confidence' in out and conf_weight > 0:
        l_conf = confidence_loss(out['confidence'].float(), pred, target, mask)
        loss = loss + conf_weight * l_conf
        parts['conf'] = float(l_conf.detach())
    parts['loss'] = float(loss.detach())
    return loss, parts


def _teacher_features(cfg: DistillConfig, device: torch.device) -> nn.Module | None:
    if not cfg.feature_teacher:
        return None
    teacher = load_model(cfg.feature_teacher, weights_dir=cfg.weights_dir or None,
                         allow_untrained=cfg.feature_teacher.startswith('untrained'))
    teacher.eval().requires_grad_(False).to(device)
    return teacher


def distill(cfg: DistillConfig, out: str | os.PathLike, *, resume: bool = False,
            stop_at: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) a distillation into run folder ``out``; return a summary dict.

    ``stop_at``: save ``last.pt`` and return after that many optimiser steps (continue with
    ``resume=True``), e.g. to split a run over job time limits.
    """
    cfg.validate()
    # what the student and the labels are is checked before the run folder is made
    labels = LabelSet([Path(p) for p in cfg.labels])
    if len(labels) == 0:
        raise InvalidInputError(f'no labels in {", ".join(cfg.labels)}; run pseudo-label first')
    is_depth = depth_student(cfg.student)
    if is_depth:
        check_labels_fit(labels, cfg.student)
        if cfg.feature_teacher:
            raise InvalidInputError(f'feature_teacher: feature alignment is for Depth Anything '
                                    f'V2 students, not student={cfg.student}; set '
                                    'feature_teacher=""')
    run, info, device = loop.start_run(out, cfg, resume=resume, command='distill')
    torch.manual_seed(cfg.seed + info.rank)

    val_idx = [i for i in range(len(labels))
               if is_val_key(labels.record(i).key, cfg.val_fraction)]
    held = set(val_idx)
    train_idx = [i for i in range(len(labels)) if i not in held]
    if not train_idx:
        raise InvalidInputError(f'all {len(labels)} labels fell into validation; lower '
                                'val_fraction')
    dataset = LabelDataset(labels, train_idx, TrainTransform(cfg.input_size, hflip=cfg.hflip,
                                                             jitter=cfg.color_jitter))

    teacher = _teacher_features(cfg, device)
    net = build_student(cfg)
    derived_from = [{'role': 'init', 'weights': cfg.init, 'licence': net.licence},
                    *teacher_entries(labels)]
    student = Student(net, teacher.config.embed_dim if teacher else None, depth=is_depth)
    student.to(device).train()
    optimizer = torch.optim.AdamW(param_groups(student, cfg.head_lr_mult), lr=cfg.lr,
                                  betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    amp = amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    step, best = 0, math.inf
    if resume:
        # On the CPU, as train does: the RNG states must stay CPU tensors, and the optimizer
        # and model states are moved to the parameters' device by load_state_dict.
        ckpt = runs.load_checkpoint(run / 'last.pt', map_location='cpu')
        if ckpt.get('format') != CHECKPOINT_FORMAT:
            raise InvalidInputError(f'{run / "last.pt"} is not a distillation checkpoint; resume '
                                    'it with the command that made it')
        student.net.load_state_dict(ckpt['model'])
        if student.projector is not None:
            if ckpt.get('projector') is None:
                raise InvalidInputError(f'{run / "last.pt"} was trained without feature_teacher; '
                                        'resume without it or start a new run')
            student.projector.load_state_dict(ckpt['projector'])
        optimizer.load_state_dict(ckpt['optimizer'])
        scaler.load_state_dict(ckpt['scaler'])
        step, best = int(ckpt['step']), float(ckpt['best_metric'])
        runs.set_rng_state(ckpt['rng'])
        LOG.info('resumed %s at step %d', run, step)
    model: nn.Module = student
    if info.enabled:
        model = loop.data_parallel(student, device)
    loss_cfg = cfg.loss_config()
    sampler = StepSampler(len(dataset), cfg.batch_size, seed=cfg.seed,
                          start_micro_step=step * cfg.grad_accum, rank=info.rank,
                          world=info.world_size)
    loader = iter(torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                              num_workers=cfg.num_workers,
                                              pin_memory=device.type == 'cuda',
                                              multiprocessing_context=loader_context(
                                                  cfg.num_workers)))
    logger = runs.RunLogger(run, tensorboard=cfg.tensorboard, enabled=info.is_main)
    val_sets = build_val_sets(cfg, labels, val_idx)

    def validate(tag: str, at_step: int) -> dict[str, float]:
        # every rank validates its share (see evaluate); only rank 0 logs
        scores = evaluate(student.net, cfg, val_sets, device, rank=info.rank,
                          world=info.world_size,
                          reduce=dist_utils.all_reduce_sum if info.enabled else None
                          ) if val_sets else {}
        logger.log(at_step, scores, prefix='val/')
        LOG.info('%s step %d: %s', tag, at_step,
                 ', '.join(f'{k} {v:.4f}' for k, v in scores.items()) or 'no validation data')
        return scores

    def checkpoint(path: Path, at_step: int) -> None:
        if info.is_main:
            runs.save_checkpoint(path, {
                # 'model' holds the bare network (official keys), as train's checkpoints do,
                # so load_model / eval read RUN/last.pt and RUN/best.pt directly
                'format': CHECKPOINT_FORMAT, 'model': student.net.state_dict(),
                'projector': (student.projector.state_dict()
                              if student.projector is not None else None),
                'model_config': student.net.config.to_dict(),
                'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
                'step': at_step, 'best_metric': best, 'config': dataclass_to_dict(cfg),
                'rng': runs.rng_state()})

    summary: dict[str, Any] = {'run': str(run), 'labels': len(labels),
                               'train_items': len(train_idx), 'val_items': len(val_idx)}
    if not resume:
        summary['val_start'] = validate('val_start', 0)
        if info.is_main:
            runs.write_json(run / 'val_start.json', summary['val_start'])
    LOG.info('distilling %s (%s init) on %d pseudo-labelled frames (%d held out), %d steps, '
             'batch %d x %d x %d, %s', cfg.student, cfg.init, len(train_idx), len(val_idx),
             cfg.max_steps, cfg.batch_size, cfg.grad_accum, info.world_size, device)

    end = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)
    bar = tqdm(total=cfg.max_steps, initial=step, desc='distill', unit='step',
               disable=not (progress and info.is_main), dynamic_ncols=True)
    t_last = time.perf_counter()
    while step < end:
        lr = get_lr(step, cfg.lr, cfg.max_steps, cfg.lr_power, cfg.warmup_steps)
        loop.set_lr(optimizer, lr)
        parts_sum: dict[str, float] = {}
        for micro in range(cfg.grad_accum):
            batch = next(loader)
            x = batch['image'].to(device, non_blocking=True)            # (B, 3, S, S)
            target = batch['disparity'].to(device, non_blocking=True)   # (B, S, S)
            mask = batch['valid_mask'].to(device, non_blocking=True)    # (B, S, S)
            # DDP: all-reduce gradients only on the last micro-step of an accumulation
            last_micro = micro == cfg.grad_accum - 1
            sync = (contextlib.nullcontext() if last_micro or not info.enabled
                    else model.no_sync())
            with sync:
                with torch.autocast(device.type, dtype=amp or torch.float32,
                                    enabled=amp is not None):
                    pred, tokens = model(x)  # (B, S, S) | {'depth': ...}, (B, N, Dt) | None
                if is_depth:
                    loss, parts = depth_student_loss(pred, target, mask, cfg.conf_weight)
                else:
                    loss, parts = relative_loss(pred.float(), target, mask, loss_cfg)
                if teacher is not None:
                    with torch.no_grad(), torch.autocast(device.type,
                                                         dtype=amp or torch.float32,
                                                         enabled=amp is not None):
                        t_tokens = teacher.forward_features(x)[-1][0]  # (B, N, Dt)
                    l_feat = feature_alignment_loss(tokens.float(), t_tokens.float(),
                                                    cfg.feature_margin)
                    loss = loss + cfg.feature_weight * l_feat
                    parts['feat'] = float(l_feat.detach())
                    parts['loss'] = float(loss.detach())
                scaler.scale(loss / cfg.grad_accum).backward()
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v / cfg.grad_accum
        if not math.isfinite(parts_sum['loss']):
            raise FloatingPointError(f'loss is {parts_sum["loss"]} at step {step}; lower lr '
                                     'or check the labels')
        loop.optimizer_step(optimizer, scaler, student.parameters(), cfg.grad_clip)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f'{parts_sum["loss"]:.4f}', lr=f'{lr:.2e}')
        if step % cfg.log_every == 0 or step == end:
            now = time.perf_counter()
            logger.log(step, {**parts_sum, 'lr': lr,
                              'sec_per_step': (now - t_last) / cfg.log_every}, prefix='train/')
            t_last = now
        if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.max_steps:
            scores = validate('val', step)
            key = 'gt_abs_rel' if 'gt_abs_rel' in scores else 'teacher_abs_rel'
            if key in scores and scores[key] < best:
                best = scores[key]
                checkpoint(run / 'best.pt', step)
        if step % cfg.save_every == 0 or step == end:
            checkpoint(run / 'last.pt', step)
    bar.close()
    summary['step'] = step
    if loop.stopped_early(step, cfg.max_steps, logger):
        return summary

    summary['val_end'] = validate('val_end', step)
    # the student's weights come from its init and from its teachers' labels
    student.net.licence = loop.derived_licence(derived_from)
    return loop.finish_run(run, summary, info, logger, student.net if cfg.export else None,
                           'exported the student to %s: a relative model for load_model, '
                           'DepthEstimator, "depth-anything-ros eval" and the node',
                           derived_from=derived_from)

