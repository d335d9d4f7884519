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

"""Relative (pseudo-label) losses: invariances, trimming, hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depth_anything_ros.training.relative_losses import (
    feature_alignment_loss,
    gradient_matching_loss,
    least_squares_align,
    median_mad_normalize,
    relative_loss,
    RelativeLossConfig,
    ssi_loss,
    trim_mask,
)


def _maps(seed: int = 0, shape: tuple[int, int, int] = (2, 16, 20)) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g, dtype=torch.float64) + 0.1
    pred = torch.rand(shape, generator=g, dtype=torch.float64)
    return pred, target


@pytest.mark.parametrize('alignment', ['median', 'lstsq'])
def test_ssi_loss_is_invariant_to_positive_scale_and_shift_of_prediction(alignment: str) -> None:
    pred, target = _maps()
    base = ssi_loss(pred, target, alignment=alignment)
    assert base > 0.1  # random maps: far from a perfect match
    for scale, shift in [(3.7, -2.0), (0.01, 5.0), (250.0, 0.0)]:
        moved = ssi_loss(scale * pred + shift, target, alignment=alignment)
        torch.testing.assert_close(moved, base, rtol=1e-9, atol=1e-9)
    # and to the target's scale and shift: labels from any teacher are interchangeable
    torch.testing.assert_close(ssi_loss(pred, 4.0 * target + 1.0, alignment=alignment), base,
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('alignment', ['median', 'lstsq'])
def test_ssi_and_gradient_losses_vanish_for_an_affine_copy_of_the_target(alignment: str) -> None:
    _, target = _maps(1)
    pred = 0.3 * target + 7.0
    mask = torch.ones_like(target, dtype=torch.bool)
    assert float(ssi_loss(pred, target, alignment=alignment, trim=0.0)) < 1e-10
    total, parts = relative_loss(pred, target, cfg=RelativeLossConfig(alignment=alignment))
    assert parts['grad'] < 1e-10 and float(total) < 1e-10
    p_hat, t_hat = median_mad_normalize(pred, mask), median_mad_normalize(target, mask)
    assert float(gradient_matching_loss(p_hat, t_hat, mask)) < 1e-10


def test_median_mad_normalisation_matches_hand_computation() -> None:
    d = torch.tensor([[[1.0, 2.0, 4.0, 9.0, 5.0]]], dtype=torch.float64)
    mask = torch.tensor([[[True, True, True, True, False]]])
    # valid values 1, 2, 4, 9: torch's (lower) median is 2; mean |d - 2| = (1+0+2+7)/4 = 2.5
    expected = torch.tensor([[[-0.4, 0.0, 0.8, 2.8, 0.0]]], dtype=torch.float64)
    torch.testing.assert_close(median_mad_normalize(d, mask), expected)


def test_ssi_loss_matches_hand_computation() -> None:
    pred = torch.tensor([[[0.0, 1.0, 2.0, 10.0]]], dtype=torch.float64)
    target = torch.tensor([[[1.0, 3.0, 4.0, 6.0]]], dtype=torch.float64)
    # pred: median 1, MAD (1+0+1+9)/4 = 2.75 -> [-1, 0, 1, 9] / 2.75
    # target: median 3, MAD (2+0+1+3)/4 = 1.5 -> [-2, 0, 1, 3] / 1.5
    p = np.array([-1, 0, 1, 9]) / 2.75
    t = np.array([-2, 0, 1, 3]) / 1.5
    r = np.abs(p - t)
    assert float(ssi_loss(pred, target, trim=0.0)) == pytest.approx(r.mean(), rel=1e-12)
    # trim 0.25 of 4 pixels drops the largest residual (pixel 3), then re-normalises the rest:
    # pred [0, 1, 2] -> median 1, MAD 2/3 -> [-1.5, 0, 1.5]; target [1, 3, 4] -> median 3,
    # MAD 1 -> [-2, 0, 1]; residuals [0.5, 0, 0.5]
    assert int(np.argmax(r)) == 3
    assert float(ssi_loss(pred, target, trim=0.25)) == pytest.approx(1 / 3, rel=1e-12)


def test_gradient_loss_matches_hand_computation() -> None:
    pred = torch.tensor([[[0.0, 1.0, 3.0], [1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]],
                        dtype=torch.float64)
    target = torch.zeros_like(pred)
    mask = torch.ones_like(pred, dtype=torch.bool)
    # scale 1 (all 9 pixels): |dx| rows: 1+2, 0+0, 2+0 = 5; |dy| cols: 1+1, 0+1, 2+1 = 6 -> 11/9
    # scale 2 (pixels [0,0],[0,2],[2,0],[2,2] = 0,3,2,0): |dx| 3+2, |dy| 2+3 -> 10/4
    expected = 11 / 9 + 10 / 4
    assert float(gradient_matching_loss(pred, target, mask, scales=2)) == pytest.approx(expected)
    # scales beyond the map size add nothing (a single pixel has no neighbour)
    assert float(gradient_matching_loss(pred, target, mask, scales=4)) == pytest.approx(expected)


def test_least_squares_alignment_recovers_scale_and_shift() -> None:
    _, target = _maps(2)
    pred = (target - 3.0) / -2.0  # a negative scale too
    mask = torch.ones_like(target, dtype=torch.bool)
    torch.testing.assert_close(least_squares_align(pred, target, mask), target)


def test_trimming_ignores_planted_outliers() -> None:
    torch.manual_seed(0)
    target = torch.rand(1, 32, 32, dtype=torch.float64) + 1.0
    pred = (2.0 * target + 1.0).requires_grad_(True)
    noisy = target.clone()
    outliers = torch.zeros_like(target, dtype=torch.bool)
    outliers.view(-1)[torch.randperm(32 * 32)[:60]] = True  # ~6 % wrong labels
    noisy[outliers] = 50.0
    keep = trim_mask((median_mad_normalize(pred, torch.ones_like(outliers)) -
                      median_mad_normalize(noisy, torch.ones_like(outliers))).abs(),
                     torch.ones_like(outliers), 0.1)
    assert not bool((keep & outliers).any())  # every outlier dropped
    assert int(keep.sum()) == int(0.9 * 32 * 32)  # and exactly 10 % dropped

    for alignment in ('median', 'lstsq'):
        cfg = RelativeLossConfig(alignment=alignment)
        loss, _ = relative_loss(pred, noisy, cfg=cfg)
        untrimmed, _ = relative_loss(pred, noisy, cfg=RelativeLossConfig(alignment, trim=0.0))
        # the kept pixels are an exact affine copy: once the outliers are out, nothing is left
        assert float(loss.detach()) < 1e-9 < 1.0 < float(untrimmed.detach())
        (grad,) = torch.autograd.grad(loss, pred)
        assert float(grad[outliers].abs().max()) == 0.0  # wrong labels push nothing directly


def test_mask_excludes_pixels_and_nan_targets() -> None:
    pred, target = _maps(3)
    mask = torch.ones_like(target, dtype=torch.bool)
    mask[:, :, :5] = False
    spoiled = target.clone()
    spoiled[:, :, :5] = float('nan')
    a = ssi_loss(pred, target, mask)
    torch.testing.assert_close(ssi_loss(pred, spoiled), a)
    torch.testing.assert_close(ssi_loss(pred[:, :, 5:], target[:, :, 5:]), a)


def test_feature_alignment_margin() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(2, 10, 8)
    assert float(feature_alignment_loss(teacher * 3.0, teacher)) == 0.0  # cos 1 > margin
    student = torch.randn(2, 10, 8)
    cos = torch.nn.functional.cosine_similarity(student, teacher, dim=-1)
    expected = float(((1 - cos) * (cos < 0.85)).sum() / 20)
    assert float(feature_alignment_loss(student, teacher)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match='project the student'):
        feature_alignment_loss(torch.zeros(1, 10, 4), teacher[:1])


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r'\(B, H, W\)'):
        ssi_loss(torch.zeros(4, 4), torch.zeros(4, 4))
    with pytest.raises(ValueError, match='alignment'):
        ssi_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), alignment='mean')
    with pytest.raises(ValueError, match='trim'):
        ssi_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4), trim=1.0)
