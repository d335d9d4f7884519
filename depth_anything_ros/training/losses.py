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

"""Depth losses: SiLog, masked L1, relative L1; scale-invariant losses for relative depth.

For networks whose output is relative *depth* (not disparity): a per-image scale-invariant
loss and the confidence term that goes with it.

All take ``pred`` and ``target`` depths (metres, or depth up to scale where said) of shape
(B, H, W) and a bool ``mask`` (B, H, W) of pixels to use. With no valid pixel they return a
zero that still carries a gradient path (a batch of sky-only crops must not crash or poison
the step with NaN).
"""

from __future__ import annotations

import torch

EPS = 1e-6


def _empty(pred: torch.Tensor) -> torch.Tensor:
    # zero loss connected to the graph, so backward() works and leaves zero gradients
    return pred.sum() * 0.0


def silog_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
               lambd: float = 0.5) -> torch.Tensor:
    """Scale-invariant log loss ``sqrt(mean(d^2) - lambd * mean(d)^2)``, d = log gt - log pred.

    Computed over all masked pixels of the batch jointly (as the official training does);
    no x10 factor. ``lambd`` = 0 gives the RMSE of log depth, 1 a fully scale-invariant loss.
    """
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(f'shapes differ: pred {tuple(pred.shape)}, target '
                         f'{tuple(target.shape)}, mask {tuple(mask.shape)}')
    mask = mask.detach().bool()
    if not bool(mask.any()):
        return _empty(pred)
    d = torch.log(target[mask].clamp(min=EPS)) - torch.log(pred[mask].clamp(min=EPS))  # (N,)
    # mean(d^2) - lambd * mean(d)^2 written as var(d) + (1 - lambd) * mean(d)^2: the same value
    # without float32 cancellation when d is nearly constant
    mean = d.mean()
    var = ((d - mean) ** 2).mean() + (1.0 - lambd) * mean ** 2
    # sqrt'(0) is infinite: a perfect prediction would turn the gradient into NaN
    return torch.sqrt(var.clamp(min=1e-12))


def masked_l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                   ) -> torch.Tensor:
    """Mean absolute error in metres over masked pixels."""
    mask = mask.detach().bool()
    if not bool(mask.any()):
        return _empty(pred)
    return (pred[mask] - target[mask]).abs().mean()


def abs_rel_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                 ) -> torch.Tensor:
    """Mean ``|pred - gt| / gt`` over masked pixels (the AbsRel metric as a loss)."""
    mask = mask.detach().bool() & (target > 0)
    if not bool(mask.any()):
        return _empty(pred)
    return ((pred[mask] - target[mask]).abs() / target[mask]).mean()


def log_depth_residual(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image scale-free log-depth residual of relative depth.

    ``r = (ln pred - ln gt) - mean(ln pred - ln gt)`` over each image's masked pixels: the
    prediction's error once multiplied by the scale that fits that image best (in log space).
    A shift in depth is *not* forgiven: relative depth is known up to a scale only (a shift
    would bend planes), unlike affine-invariant disparity.

    Returns ``(r (B, H, W), zero outside mask; has (B,) bool: images with a masked pixel)``.
    """
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(f'shapes differ: pred {tuple(pred.shape)}, target '
                         f'{tuple(target.shape)}, mask {tuple(mask.shape)}')
    mask = mask.detach().bool()
    d = torch.log(pred.clamp(min=EPS)) - torch.log(target.clamp(min=EPS))   # (B, H, W)
    d = torch.where(mask, d, torch.zeros_like(d))
    n = mask.flatten(1).sum(1)                                                # (B,)
    mean = d.flatten(1).sum(1) / n.clamp(min=1)                               # (B,)
    r = torch.where(mask, d - mean[:, None, None], torch.zeros_like(d))
    return r, n > 0


def scale_invariant_depth_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                               ) -> torch.Tensor:
    """Relative depth loss: mean over images of ``sqrt(mean r^2)`` (:func:`log_depth_residual`).

    Per image it is SiLog with lambda = 1 (the log RMSE after the best scale), so each image
    may have its own scale, as relative depth has; images with no masked pixel count nothing.
    """
    r, has = log_depth_residual(pred, target, mask)
    if not bool(has.any()):
        return _empty(pred)
    n = mask.detach().bool().flatten(1).sum(1).clamp(min=1)                   # (B,)
    per_image = torch.sqrt(((r ** 2).flatten(1).sum(1) / n).clamp(min=1e-12))  # (B,)
    return per_image[has].mean()


def confidence_loss(confidence: torch.Tensor, pred: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
    """Train a per-pixel confidence (>= 1) to ``1 / |r|`` of the depth's scale-free error.

    ``mean(c * |r| - ln c)`` over masked pixels with ``r`` from :func:`log_depth_residual`,
    detached: this term moves the confidence only, never the depth. Its minimum for one pixel
    is at ``c = 1 / |r|`` (clipped at 1 by the network's ``1 + exp`` output).
    """
    mask = mask.detach().bool()
    if not bool(mask.any()):
        return _empty(confidence)
    r, _ = log_depth_residual(pred.detach(), target, mask)
    c = confidence[mask]
    return (c * r[mask].abs() - torch.log(c.clamp(min=EPS))).mean()


LOSSES = {'silog': silog_loss, 'l1': masked_l1_loss, 'abs_rel': abs_rel_loss}
