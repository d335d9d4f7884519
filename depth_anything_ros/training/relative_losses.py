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

"""Losses for training a relative (affine-invariant disparity) student on pseudo-labels.

The recipe of Depth Anything V2 for pseudo-labelled images:

* a scale-and-shift-invariant (SSI) loss on disparity,
* a multi-scale gradient-matching loss (4 scales) on the same aligned residual,
  weighted 1:2 (``L = L_ssi + 2 L_gm``),
* per sample, the 10 % of pixels with the largest SSI residual are ignored (pseudo-labels are
  wrong in places; the largest residuals are the likeliest label errors). The residuals for
  this choice come from an alignment over all valid pixels; the loss then re-aligns over the
  kept pixels, so ignored pixels shift neither the loss nor the normalisation,
* optionally (Depth Anything V1) a feature-alignment loss that keeps the student's encoder
  features close to a frozen teacher's, with a tolerance margin.

Alignment. By default both prediction and target are normalised the MiDaS way: minus their
median, divided by their mean absolute deviation from the median (``alignment='median'``).
``alignment='lstsq'`` instead normalises the target the same way and then fits the prediction
to it with the closed-form least-squares scale and shift. Either makes the loss invariant to a
positive scale and any shift of the prediction (least squares also to a negative scale).

All functions take disparity maps shaped (B, H, W) and an optional boolean validity mask of the
same shape; they are pure (no state) and differentiable with respect to the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

ALIGNMENTS = ('median', 'lstsq')
_EPS = 1e-6


def _check(pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    """Check shapes; return the boolean validity (B, H, W), non-finite targets excluded."""
    if pred.dim() != 3 or pred.shape != target.shape:
        raise ValueError(f'pred and target must both be (B, H, W) disparity maps; got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')
    valid = torch.isfinite(target)
    if mask is not None:
        if mask.shape != pred.shape:
            raise ValueError(f'mask must have the shape of pred {tuple(pred.shape)}; got '
                             f'{tuple(mask.shape)}')
        valid = valid & mask.bool()
    return valid


def median_mad_normalize(d: Tensor, mask: Tensor) -> Tensor:
    """Return ``(d - median) / mean|d - median|`` per sample over the valid pixels.

    Args:
        d: disparity (B, H, W), any affine scale.
        mask: boolean validity (B, H, W).

    Returns:
        (B, H, W) normalised disparity, unitless; invalid pixels are 0. Samples with no valid
        pixel come back as zeros.
    """
    flat = d.flatten(1)  # (B, N)
    m = mask.flatten(1)  # (B, N)
    count = m.sum(1).clamp(min=1)  # (B,)
    # nanmedian ignores the masked pixels; the lower median for an even count, as torch does.
    med = torch.nanmedian(flat.masked_fill(~m, float('nan')), dim=1).values  # (B,)
    med = torch.nan_to_num(med, nan=0.0)
    dev = ((flat - med[:, None]).abs() * m).sum(1) / count  # (B,)
    out = (flat - med[:, None]) / dev.clamp(min=_EPS)[:, None]
    return (out * m).view_as(d)


def least_squares_align(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Return ``s * pred + t`` with the per-sample (s, t) minimising the masked squared error.

    Closed form on mean-centred values (s = cov(pred, target) / var(pred), t from the means),
    which avoids the cancellation of the raw normal equations for predictions with a large
    offset; a constant prediction gets s = 0 and t = mean(target).

    Args:
        pred: (B, H, W) prediction.
        target: (B, H, W) target in the units the result should have.
        mask: boolean validity (B, H, W).
    """
    m = mask.to(pred.dtype)
    count = m.sum((1, 2)).clamp(min=1)  # (B,)
    g = torch.where(mask, target, torch.zeros_like(target))
    p_mean = (pred * m).sum((1, 2)) / count  # (B,)
    g_mean = g.sum((1, 2)) / count
    pc = (pred - p_mean[:, None, None]) * m  # (B, H, W) centred, 0 where invalid
    gc = (g - g_mean[:, None, None]) * m
    var = (pc * pc).sum((1, 2))
    cov = (pc * gc).sum((1, 2))
    ok = var > _EPS * _EPS * count
    s = torch.where(ok, cov / torch.where(ok, var, torch.ones_like(var)), torch.zeros_like(var))
    t = g_mean - s * p_mean
    return s[:, None, None] * pred + t[:, None, None]


def align(pred: Tensor, target: Tensor, mask: Tensor,
          alignment: str = 'median') -> tuple[Tensor, Tensor]:
    """Return (pred_hat, target_hat), both (B, H, W), in one common normalised frame."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f'alignment must be one of {ALIGNMENTS}; got {alignment!r}')
    target_hat = median_mad_normalize(target, mask)
    if alignment == 'median':
        pred_hat = median_mad_normalize(pred, mask)
    else:
        pred_hat = least_squares_align(pred, target_hat, mask)
    return pred_hat, target_hat


def trim_mask(residual: Tensor, mask: Tensor, trim: float) -> Tensor:
    """Drop, per sample, the fraction ``trim`` of valid pixels with the largest residual.

    Args:
        residual: (B, H, W) non-negative per-pixel loss.
        mask: boolean validity (B, H, W).
        trim: fraction in [0, 1) of each sample's valid pixels to ignore (0.1 in DA-V2).

    Returns:
        boolean (B, H, W): valid and kept. Keeps floor((1 - trim) * n_valid) pixels; ties are
        broken by pixel order, so the count is exact.
    """
    if not 0.0 <= trim < 1.0:
        raise ValueError(f'trim must be in [0, 1); got {trim}')
    if trim == 0.0:
        return mask
    flat = residual.detach().flatten(1).masked_fill(~mask.flatten(1), float('inf'))  # (B, N)
    n_keep = torch.floor(mask.flatten(1).sum(1) * (1.0 - trim)).long()  # (B,)
    order = flat.argsort(dim=1, stable=True)  # smallest residual first
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    keep = rank < n_keep[:, None]  # (B, N)
    return keep.view_as(mask) & mask


def _masked_sample_mean(value: Tensor, weight: Tensor) -> Tensor:
    """Mean over samples of ``sum(value) / sum(weight)``; samples with no weight are skipped."""
    num = value.flatten(1).sum(1)
    den = weight.flatten(1).sum(1)
    has = den > 0
    if not bool(has.any()):
        return value.sum() * 0.0  # keeps the graph, gradient 0
    return (num[has] / den[has]).mean()


def ssi_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, *,
             alignment: str = 'median', trim: float = 0.1) -> Tensor:
    """Scale-and-shift-invariant L1 loss on disparity, with top-``trim`` trimming.

    Args:
        pred: (B, H, W) predicted disparity (any scale and shift).
        target: (B, H, W) target disparity (any scale and shift; non-finite = invalid).
        mask: optional boolean (B, H, W) validity.
        alignment: 'median' (MiDaS median / mean-absolute-deviation) or 'lstsq'.
        trim: fraction of each sample's valid pixels with the largest residual to ignore.

    Returns:
        scalar: mean over samples of the mean |pred_hat - target_hat| over kept pixels.
    """
    valid = _check(pred, target, mask)
    target = torch.nan_to_num(target)
    keep = _kept_pixels(pred, target, valid, alignment, trim)
    pred_hat, target_hat = align(pred, target, keep, alignment)
    return _masked_sample_mean((pred_hat - target_hat).abs() * keep, keep)


def _kept_pixels(pred: Tensor, target: Tensor, valid: Tensor, alignment: str,
                 trim: float) -> Tensor:
    """Pixels left after dropping each sample's ``trim`` largest residuals (B, H, W) bool.

    The residuals come from an alignment over all valid pixels; the loss then re-aligns over
    the kept pixels only, so the dropped ones influence neither the loss nor the alignment.
    """
    if trim == 0.0:
        return valid
    with torch.no_grad():
        pred_hat, target_hat = align(pred, target, valid, alignment)
        return trim_mask((pred_hat - target_hat).abs(), valid, trim)


def gradient_matching_loss(pred_hat: Tensor, target_hat: Tensor, mask: Tensor,
                           scales: int = 4) -> Tensor:
    """Multi-scale gradient-matching loss on aligned disparities (MiDaS).

    With R = pred_hat - target_hat, at each scale k (every 2**k-th pixel) the loss adds
    sum(|dR/dx| + |dR/dy|) over neighbour pairs that are both valid, divided by the valid
    pixel count at that scale; per-sample means are averaged over the batch, scales are summed.

    Args:
        pred_hat: (B, H, W) aligned prediction.
        target_hat: (B, H, W) aligned target.
        mask: boolean (B, H, W) pixels that may take part.
        scales: number of scales (4 in DA-V2).
    """
    if scales < 1:
        raise ValueError(f'scales must be >= 1; got {scales}')
    residual = (pred_hat - target_hat) * mask
    total = pred_hat.sum() * 0.0
    for k in range(scales):
        step = 2 ** k
        r = residual[:, ::step, ::step]  # (B, H_k, W_k)
        m = mask[:, ::step, ::step].to(r.dtype)
        gx = (r[:, :, 1:] - r[:, :, :-1]).abs() * m[:, :, 1:] * m[:, :, :-1]
        gy = (r[:, 1:, :] - r[:, :-1, :]).abs() * m[:, 1:, :] * m[:, :-1, :]
        num = gx.flatten(1).sum(1) + gy.flatten(1).sum(1)  # (B,)
        den = m.flatten(1).sum(1)
        has = den > 0
        if bool(has.any()):
            total = total + (num[has] / den[has]).mean()
    return total


@dataclass(frozen=True)
class RelativeLossConfig:
    """Weights and options of :func:`relative_loss` (the DA-V2 defaults)."""

    alignment: str = 'median'
    trim: float = 0.1
    grad_weight: float = 2.0
    grad_scales: int = 4


def relative_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None,
                  cfg: RelativeLossConfig | None = None) -> tuple[Tensor, dict[str, float]]:
    """Return ``L_ssi + grad_weight * L_gm`` and its parts (as floats, for logging).

    The trimmed pixels (largest SSI residual) are left out of both terms and of the
    alignment, so a wrong pseudo-label region pushes neither the values nor the edges of the
    student.

    Args:
        pred: (B, H, W) student disparity.
        target: (B, H, W) pseudo-label disparity (non-finite = invalid).
        mask: optional boolean (B, H, W) validity.
        cfg: loss options (the DA-V2 defaults when None).
    """
    cfg = cfg or RelativeLossConfig()
    valid = _check(pred, target, mask)
    target = torch.nan_to_num(target)
    keep = _kept_pixels(pred, target, valid, cfg.alignment, cfg.trim)
    pred_hat, target_hat = align(pred, target, keep, cfg.alignment)  # (B, H, W) each
    l_ssi = _masked_sample_mean((pred_hat - target_hat).abs() * keep, keep)
    l_gm = gradient_matching_loss(pred_hat, target_hat, keep, cfg.grad_scales)
    total = l_ssi + cfg.grad_weight * l_gm
    return total, {'loss': float(total.detach()), 'ssi': float(l_ssi.detach()),
                   'grad': float(l_gm.detach())}


def feature_alignment_loss(student: Tensor, teacher: Tensor, margin: float = 0.85) -> Tensor:
    """Cosine feature-alignment loss with a tolerance margin (Depth Anything V1).

    Tokens whose cosine similarity to the frozen teacher already exceeds ``margin`` add
    nothing, so the student is pulled towards the teacher's semantics without having to copy
    its features exactly.

    Args:
        student: (B, N, D) student patch tokens (projected to the teacher's width D).
        teacher: (B, N, D) teacher patch tokens (detached here).
        margin: similarity above which a token is left alone (0.85 in DA-V1).

    Returns:
        scalar: sum over tokens below the margin of (1 - cos), divided by B * N.
    """
    if student.shape != teacher.shape:
        raise ValueError(f'student and teacher features must have the same shape (project the '
                         f'student to the teacher width first); got {tuple(student.shape)} and '
                         f'{tuple(teacher.shape)}')
    cos = F.cosine_similarity(student, teacher.detach(), dim=-1)  # (B, N)
    active = (cos < margin).to(cos.dtype)
    return ((1.0 - cos) * active).mean()
