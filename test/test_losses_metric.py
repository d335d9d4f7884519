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

"""Metric-depth losses: hand-computed SiLog values, masks and degenerate batches."""

import math

import pytest
import torch

from depth_anything_ros.training.losses import abs_rel_loss, masked_l1_loss, silog_loss


def test_silog_constant_log_error() -> None:
    pred = torch.ones(2, 3, 4)
    target = torch.full((2, 3, 4), math.e)         # d = 1 everywhere
    loss = silog_loss(pred, target, torch.ones_like(pred, dtype=torch.bool))
    assert float(loss) == pytest.approx(math.sqrt(1 - 0.5))
    # lambda = 1 is fully scale invariant: a global scale error costs nothing
    assert float(silog_loss(pred, target, target > 0, lambd=1.0)) < 1e-5


def test_silog_uses_only_masked_pixels_jointly_over_the_batch() -> None:
    pred = torch.tensor([[[1.0, 1.0, 5.0]], [[1.0, 1.0, 5.0]]])      # (2, 1, 3)
    target = torch.tensor([[[1.0, 2.0, 0.0]], [[2.0, 1.0, 0.0]]])
    mask = target > 0                                                 # drops the 5.0 pixels
    ln2 = math.log(2)
    # d = {0, ln2, ln2, 0}: mean d^2 = ln2^2 / 2, mean d = ln2 / 2
    expected = math.sqrt(ln2 ** 2 / 2 - 0.5 * (ln2 / 2) ** 2)
    assert float(silog_loss(pred, target, mask)) == pytest.approx(expected)


def test_silog_gradients_are_finite_at_perfect_and_empty() -> None:
    target = torch.rand(1, 4, 4) + 0.5
    pred = target.clone().requires_grad_(True)
    silog_loss(pred, target, torch.ones_like(target, dtype=torch.bool)).backward()
    assert torch.isfinite(pred.grad).all()
    pred = torch.rand(1, 4, 4, requires_grad=True)
    empty = silog_loss(pred, target, torch.zeros_like(target, dtype=torch.bool))
    assert float(empty.detach()) == 0.0
    empty.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    with pytest.raises(ValueError, match='shapes differ'):
        silog_loss(pred, target[:, :3], torch.ones(1, 3, 4, dtype=torch.bool))


def test_silog_gradient_points_towards_target() -> None:
    target = torch.tensor([[[2.0, 4.0]]])
    pred = torch.tensor([[[1.0, 4.0]]], requires_grad=True)
    silog_loss(pred, target, target > 0).backward()
    assert pred.grad[0, 0, 0] < 0          # increasing the too-small depth lowers the loss


def test_l1_and_abs_rel() -> None:
    pred = torch.tensor([[[1.0, 3.0, 9.0]]])
    target = torch.tensor([[[2.0, 3.0, 0.0]]])
    mask = target > 0
    assert float(masked_l1_loss(pred, target, mask)) == pytest.approx(0.5)
    assert float(abs_rel_loss(pred, target, mask)) == pytest.approx(0.25)
    assert float(masked_l1_loss(pred, target, torch.zeros_like(mask))) == 0.0
