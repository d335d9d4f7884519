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

"""Losses for metric depth: scale-invariant log (SiLog), masked L1 and relative L1.

All take ``pred`` and ``target`` depths in metres of shape (B, H, W) and a bool ``mask``
(B, H, W) of pixels to use. With no valid pixel they return a zero that still carries a
gradient path (a batch of sky-only crops must not crash or poison the step with NaN).
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


LOSSES = {'silog': silog_loss, 'l1': masked_l1_loss, 'abs_rel': abs_rel_loss}
