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

"""Depth evaluation metrics: metric depth, scale-and-shift aligned relative depth, ordinal pairs.

Definitions follow the Depth Anything V2 metric evaluation: metrics are computed per image on
valid pixels (ground truth in ``[min_depth, max_depth]`` and the dataset mask) and averaged over
images; images with fewer than :data:`MIN_VALID_PIXELS` valid pixels are skipped. Logs are
natural logs except ``log10``; ``silog`` has no x100 factor.

All functions take numpy arrays or torch tensors of shape (H, W) and return Python floats.
Temporal metrics (:func:`temporal_pair`, :class:`TemporalAccumulator`: TAE and flicker) need
the camera's poses and intrinsics; see docs/temporal.md.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import os
import re
from typing import Any

import numpy as np
import torch

from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.core.temporal import project_depth, relative_transform, sample_depth
from depth_anything_ros.errors import InvalidInputError, read_text_file

ArrayLike = np.ndarray | torch.Tensor

METRIC_NAMES = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog',
                'delta1', 'delta2', 'delta3')
# Larger is better for these; smaller for the rest.
HIGHER_IS_BETTER = frozenset({'delta1', 'delta2', 'delta3', 'ordinal_acc'})
MIN_VALID_PIXELS = 10


def _t(x: ArrayLike) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def valid_depth_mask(gt: ArrayLike, valid: ArrayLike | None = None, min_depth: float = 1e-3,
                     max_depth: float = float('inf')) -> torch.Tensor:
    """Bool (H, W): finite ground truth within ``[min_depth, max_depth]`` metres and ``valid``."""
    gt = _t(gt)
    mask = torch.isfinite(gt) & (gt >= min_depth) & (gt <= max_depth)
    if valid is not None:
        mask &= _t(valid).to(torch.bool)
    return mask


def depth_metrics(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike) -> dict[str, float] | None:
    """Return the nine standard metrics for one image, or None if < 10 valid pixels.

    ``pred`` and ``gt`` are depths in metres (H, W); ``mask`` (H, W) selects the pixels used.
    Predictions are not clipped (as in the official evaluation); a non-positive predicted
    depth on a valid pixel makes the log metrics undefined, so it raises ``ValueError``.
    """
    pred, gt, mask = _t(pred), _t(gt), _t(mask).to(torch.bool)
    if pred.shape != gt.shape or gt.shape != mask.shape:
        raise ValueError(f'shape mismatch: pred {tuple(pred.shape)}, gt {tuple(gt.shape)}, '
                         f'mask {tuple(mask.shape)}; resize the prediction to the ground truth')
    if int(mask.sum()) < MIN_VALID_PIXELS:
        return None
    p = pred[mask].double()  # (N,)
    g = gt[mask].double()    # (N,)
    if bool((p <= 0).any()) or not bool(torch.isfinite(p).all()):
        raise ValueError('prediction has non-positive or non-finite depth on valid pixels; '
                         'metric models output metres > 0 (clip or mask the prediction first)')
    ratio = torch.maximum(g / p, p / g)
    diff_log = torch.log(p) - torch.log(g)
    out = {
        'abs_rel': torch.mean(torch.abs(p - g) / g),
        'sq_rel': torch.mean((p - g) ** 2 / g),
        'rmse': torch.sqrt(torch.mean((p - g) ** 2)),
        'rmse_log': torch.sqrt(torch.mean(diff_log ** 2)),
        'log10': torch.mean(torch.abs(torch.log10(p) - torch.log10(g))),
        # clamp: tiny negative values from rounding when all d are equal
        'silog': torch.sqrt(torch.clamp(torch.mean(diff_log ** 2) -
                                        0.5 * torch.mean(diff_log) ** 2, min=0.0)),
        'delta1': torch.mean((ratio < 1.25).double()),
        'delta2': torch.mean((ratio < 1.25 ** 2).double()),
        'delta3': torch.mean((ratio < 1.25 ** 3).double()),
    }
    return {k: float(v) for k, v in out.items()}


def fit_scale_shift(pred: ArrayLike, target: ArrayLike, mask: ArrayLike) -> tuple[float, float]:
    """Least-squares ``(s, t)`` minimising ``sum((s * pred + t - target)^2)`` over ``mask``."""
    pred, target, mask = _t(pred), _t(target), _t(mask).to(torch.bool)
    p = pred[mask].double()
    y = target[mask].double()
    n = p.numel()
    if n < 2:
        raise ValueError(f'scale-and-shift alignment needs at least 2 valid pixels, got {n}')
    # Normal equations of the 2-parameter linear fit, solved in closed form.
    sp, sy, spp, spy = p.sum(), y.sum(), (p * p).sum(), (p * y).sum()
    det = n * spp - sp * sp
    if float(det) <= 1e-12 * max(float(n * spp), 1.0):
        # constant prediction: the best fit is the mean target with no scale
        return 0.0, float(sy / n)
    s = (n * spy - sp * sy) / det
    t = (sy - s * sp) / n
    return float(s), float(t)


def align_disparity_to_depth(pred_disp: ArrayLike, gt: ArrayLike, mask: ArrayLike,
                             max_depth: float) -> torch.Tensor:
    """Align a relative (affine-invariant disparity) prediction to metric depth (H, W).

    Fits scale and shift in disparity space against ``1 / gt`` on ``mask`` (MiDaS / Depth
    Anything protocol), then inverts; aligned disparities below ``1 / max_depth`` are clamped so
    that far or negative values become ``max_depth`` metres.
    """
    pred_disp, gt, mask = _t(pred_disp).double(), _t(gt).double(), _t(mask).to(torch.bool)
    gt_disp = torch.zeros_like(gt)
    gt_disp[mask] = 1.0 / gt[mask]
    s, t = fit_scale_shift(pred_disp, gt_disp, mask)
    aligned = (s * pred_disp + t).clamp(min=1.0 / max_depth)  # (H, W) disparity, 1/m
    return (1.0 / aligned).float()


def crop_mask(height: int, width: int, crop: str | None) -> torch.Tensor:
    """Bool (H, W) evaluation region: ``garg`` / ``eigen`` (KITTI fractions), ``nyu`` or None.

    KITTI crops as fractions of the image; ``nyu`` is the Eigen NYU border (rows 45:471,
    cols 41:601 of 480x640), scaled to the image size.
    """
    mask = torch.zeros(height, width, dtype=torch.bool)
    if crop is None or crop == 'none':
        mask[:] = True
        return mask
    if crop == 'garg':
        r0, r1, c0, c1 = 0.40810811, 0.99189189, 0.03594771, 0.96405229
    elif crop == 'eigen':
        r0, r1, c0, c1 = 0.3324324, 0.91351351, 0.03594771, 0.96405229
    elif crop == 'nyu':
        r0, r1, c0, c1 = 45 / 480, 471 / 480, 41 / 640, 601 / 640
    else:
        raise InvalidInputError(f'unknown crop {crop!r}; use none, garg, eigen or nyu')
    mask[int(r0 * height):int(r1 * height), int(c0 * width):int(c1 * width)] = True
    return mask


class MetricAccumulator:
    """Average per-image metric dicts; counts skipped images (None entries)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.n_images = 0
        self.n_skipped = 0
        self.per_image: list[dict[str, float] | None] = []

    def add(self, metrics: dict[str, float] | None) -> None:
        self.per_image.append(metrics)
        if metrics is None:
            self.n_skipped += 1
            return
        self.n_images += 1
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def merge_sums(self, sums: dict[str, float], n_images: int, n_skipped: int) -> None:
        """Add partial sums from another process (distributed evaluation)."""
        for k, v in sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n_images += n_images
        self.n_skipped += n_skipped

    def result(self) -> dict[str, float]:
        """Mean of each metric over images plus ``n_images`` / ``n_skipped``; NaN if empty."""
        keys = list(self.sums) or list(METRIC_NAMES)
        out: dict[str, float] = {k: (self.sums.get(k, 0.0) / self.n_images if self.n_images
                                     else math.nan) for k in keys}
        out['n_images'] = self.n_images
        out['n_skipped'] = self.n_skipped
        return out


# ---------------------------------------------------------------------------------------------
# ordinal (pairwise) accuracy, DA-2K style


@dataclass(frozen=True)
class PointPair:
    """Two pixels of one image and which one is closer to the camera (1 or 2)."""

    image: str
    p1: tuple[int, int]   # (x, y) pixel column, row
    p2: tuple[int, int]
    closer: int


_PAIR_RE = re.compile(
    r'^\s*(?P<image>[^,]+?)\s*,\s*\(?\s*(?P<x1>-?\d+)\s*,\s*(?P<y1>-?\d+)\s*\)?\s*,'
    r'\s*\(?\s*(?P<x2>-?\d+)\s*,\s*(?P<y2>-?\d+)\s*\)?\s*,\s*(?P<closer>\w+)\s*$')


def read_pairs(path: str | os.PathLike) -> list[PointPair]:
    """Read a pairs file: one ``image, (x1,y1), (x2,y2), closer`` per line.

    ``closer`` is ``1``/``2`` (or ``first``/``second``, ``point1``/``point2``); ``#`` starts a
    comment. Coordinates are pixel column ``x`` and row ``y`` in the original image.
    """
    pairs = []
    for lineno, line in enumerate(read_text_file(path, 'pairs file').splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        m = _PAIR_RE.match(line)
        if not m:
            raise InvalidInputError(f'{path}:{lineno}: cannot parse {line!r}; expected '
                                    '"image.png, (x1,y1), (x2,y2), closer" with closer 1 or 2')
        closer = m['closer'].lower()
        closer_id = {'1': 1, '2': 2, 'first': 1, 'second': 2, 'point1': 1, 'point2': 2}.get(closer)
        if closer_id is None:
            raise InvalidInputError(f'{path}:{lineno}: closer must be 1 or 2, got {m["closer"]!r}')
        pairs.append(PointPair(m['image'].strip(), (int(m['x1']), int(m['y1'])),
                               (int(m['x2']), int(m['y2'])), closer_id))
    return pairs


def ordinal_accuracy(pred: ArrayLike, pairs: list[PointPair], *, disparity: bool) -> float:
    """Share of pairs whose closer point the prediction (H, W) orders correctly.

    ``disparity=True`` for relative models (larger = closer), False for metric depth (smaller =
    closer). A tie counts as wrong. Points outside the image raise ``ValueError``.
    """
    pred = _t(pred)
    h, w = pred.shape[-2:]
    if not pairs:
        raise InvalidInputError('no point pairs to evaluate')
    correct = 0
    for pair in pairs:
        for x, y in (pair.p1, pair.p2):
            if not (0 <= x < w and 0 <= y < h):
                raise InvalidInputError(f'{pair.image}: point ({x},{y}) is outside the {w}x{h} '
                                        'image')
        v1 = float(pred[pair.p1[1], pair.p1[0]])
        v2 = float(pred[pair.p2[1], pair.p2[0]])
        first_closer = v1 > v2 if disparity else v1 < v2
        second_closer = v2 > v1 if disparity else v2 < v1
        correct += (first_closer and pair.closer == 1) or (second_closer and pair.closer == 2)
    return correct / len(pairs)


# ---------------------------------------------------------------------------------------------
# temporal consistency: TAE and flicker over consecutive frames with known poses

#: A reprojected ground-truth point counts as seen by the next frame when that frame's ground
#: truth (bilinear in inverse depth at the point's pixel) is within this relative distance.
VISIBILITY_TOLERANCE = 0.01


def _as_numpy(x: ArrayLike | None) -> np.ndarray | None:
    if x is None:
        return None
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _invalid_to_nan(depth: ArrayLike, mask: ArrayLike | None = None) -> np.ndarray:
    d = _as_numpy(depth).astype(np.float32)
    ok = np.isfinite(d) & (d > 0)
    if mask is not None:
        ok &= _as_numpy(mask).astype(bool)
    return np.where(ok, d, np.nan).astype(np.float32)


def temporal_pair(pred_a: ArrayLike, pred_b: ArrayLike, gt_a: ArrayLike, gt_b: ArrayLike,
                  intr_a: Intrinsics, intr_b: Intrinsics, transform: np.ndarray, *,
                  static_a: ArrayLike | None = None, static_b: ArrayLike | None = None
                  ) -> dict[str, float]:
    """Temporal errors of frame ``a`` carried into frame ``b`` (one direction).

    ``pred_*``, ``gt_*``: depth in metres (H, W), invalid NaN or <= 0; ``transform``:
    ``T_b_a`` (points of camera ``a`` into camera ``b``); ``static_*``: bool masks of static
    scene pixels (default: all). The pixels scored are the static points of ``a`` with valid
    ground truth that ``b`` sees: ``a``'s ground-truth point, carried into ``b``, lands inside
    ``b``'s image where ``b``'s ground truth (bilinear in inverse depth) is within
    :data:`VISIBILITY_TOLERANCE` of the point's depth (so occluded, out-of-view and moving
    points are excluded) and on a static pixel of ``b``. At such a pixel ``x`` landing at ``x'``:

    * ``tae``: ``|z' - pred_b(x')| / pred_b(x')`` averaged, where ``z'`` is the depth in ``b``
      of ``a``'s *predicted* point at ``x`` (back-projected with ``pred_a``, carried by the
      pose) and ``pred_b(x')`` is ``b``'s prediction there (bilinear in inverse depth): the
      AbsRel between the prediction reprojected and the next prediction;
    * ``flicker``: ``|log(pred_b(x') / gt_b(x')) - log(pred_a(x) / gt_a(x))|`` averaged: how
      much one static point's relative error changes from one frame to the next (0 for a
      prediction that is wrong the same way in every frame).

    Returns ``{'tae', 'flicker', 'pixels'}`` (NaN means without pixels).
    """
    pa, pb = _invalid_to_nan(pred_a), _invalid_to_nan(pred_b)
    ga, gb = _invalid_to_nan(gt_a, static_a), _invalid_to_nan(gt_b, static_b)
    u, v, z_gt = project_depth(ga, intr_a, transform, intr_b)
    gt_there = sample_depth(gb, u, v)
    with np.errstate(invalid='ignore', divide='ignore'):
        seen = (z_gt > 0) & (np.abs(z_gt / gt_there - 1.0) < VISIBILITY_TOLERANCE)
    _, _, z_pred = project_depth(pa, intr_a, transform, intr_b)
    pred_there = sample_depth(pb, u, v)
    with np.errstate(invalid='ignore', divide='ignore'):
        tae = np.abs(z_pred - pred_there) / pred_there
        flicker = np.abs(np.log(pred_there / gt_there) - np.log(pa / ga))
    ok = seen & np.isfinite(tae) & np.isfinite(flicker) & (z_pred > 0)
    n = int(ok.sum())
    return {'tae': float(tae[ok].mean()) if n else math.nan,
            'flicker': float(flicker[ok].mean()) if n else math.nan, 'pixels': n}


class TemporalAccumulator:
    """TAE and flicker over sequences of frames fed in order (:meth:`add`).

    Each pair of consecutive frames of one sequence is scored with :func:`temporal_pair` in
    both directions; ``tae`` is the mean of the two directions (as Video Depth Anything reports
    it), ``flicker`` the mean of the forward direction; both are then averaged over pairs.
    """

    def __init__(self) -> None:
        self._last: tuple[Any, ...] | None = None
        self.tae: list[float] = []
        self.flicker: list[float] = []

    def add(self, sequence: str, pred: ArrayLike, gt: ArrayLike, intr: Intrinsics,
            pose: np.ndarray, static: ArrayLike | None = None) -> None:
        """Add the next frame: depth prediction and truth (metres), intrinsics, ``T_fixed_cam``."""
        frame = (sequence, _as_numpy(pred), _as_numpy(gt), intr, np.asarray(pose, np.float64),
                 _as_numpy(static))
        last, self._last = self._last, frame
        if last is None or last[0] != sequence:
            return
        _, pa, ga, ia, posea, sa = last
        _, pb, gb, ib, poseb, sb = frame
        fwd = temporal_pair(pa, pb, ga, gb, ia, ib, relative_transform(posea, poseb),
                            static_a=sa, static_b=sb)
        back = temporal_pair(pb, pa, gb, ga, ib, ia, relative_transform(poseb, posea),
                             static_a=sb, static_b=sa)
        if math.isfinite(fwd['tae']) and math.isfinite(back['tae']):
            self.tae.append(0.5 * (fwd['tae'] + back['tae']))
        if math.isfinite(fwd['flicker']):
            self.flicker.append(fwd['flicker'])

    def result(self) -> dict[str, float]:
        """Return ``{'tae', 'flicker', 'n_pairs'}`` (NaN without pairs)."""
        return {'tae': float(np.mean(self.tae)) if self.tae else math.nan,
                'flicker': float(np.mean(self.flicker)) if self.flicker else math.nan,
                'n_pairs': len(self.tae)}
