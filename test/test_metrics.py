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

"""Evaluation metrics: hand-computed values, masks, alignment, crops and ordinal pairs."""

import math

import numpy as np
import pytest
import torch

from depth_anything_ros.training.metrics import (
    align_disparity_to_depth,
    crop_mask,
    depth_metrics,
    fit_scale_shift,
    MetricAccumulator,
    ordinal_accuracy,
    read_pairs,
    valid_depth_mask,
)


def test_constant_factor_overestimate() -> None:
    gt = np.ones((4, 5))
    pred = 1.5 * gt
    m = depth_metrics(pred, gt, np.ones_like(gt, bool))
    ln15 = math.log(1.5)
    assert m['abs_rel'] == pytest.approx(0.5)
    assert m['sq_rel'] == pytest.approx(0.25)
    assert m['rmse'] == pytest.approx(0.5)
    assert m['rmse_log'] == pytest.approx(ln15)
    assert m['log10'] == pytest.approx(math.log10(1.5))
    # constant log error: sqrt(ln1.5^2 - 0.5 ln1.5^2)
    assert m['silog'] == pytest.approx(ln15 / math.sqrt(2))
    # ratio 1.5: fails 1.25, passes 1.5625 and 1.953125
    assert (m['delta1'], m['delta2'], m['delta3']) == (0.0, 1.0, 1.0)
    m2 = depth_metrics(gt, 2 * gt, np.ones_like(gt, bool))   # underestimate by 2: ratio 2
    assert (m2['delta1'], m2['delta2'], m2['delta3']) == (0.0, 0.0, 0.0)
    assert m2['abs_rel'] == pytest.approx(0.5)


def test_mask_excludes_pixels_and_delta_threshold_is_strict() -> None:
    gt = np.full((3, 5), 2.0)
    pred = gt.copy()
    pred[0, :] = 2.5                      # ratio exactly 1.25 -> not < 1.25
    pred[1, :] = 2.0
    pred[2, 0] = 100.0                    # masked out below
    mask = np.ones_like(gt, bool)
    mask[2, 0] = False
    m = depth_metrics(pred, gt, mask)
    n = 14
    assert m['abs_rel'] == pytest.approx(5 * 0.25 / n)
    assert m['sq_rel'] == pytest.approx(5 * 0.5 ** 2 / 2 / n)
    assert m['rmse'] == pytest.approx(math.sqrt(5 * 0.25 / n))
    assert m['delta1'] == pytest.approx(9 / n)
    assert m['delta2'] == 1.0


def test_perfect_prediction_and_degenerate_inputs() -> None:
    gt = torch.linspace(0.5, 9.0, 30).reshape(5, 6)
    m = depth_metrics(gt, gt, torch.ones(5, 6, dtype=torch.bool))
    assert m['abs_rel'] == 0 and m['silog'] == 0 and m['delta1'] == 1
    few = torch.zeros(5, 6, dtype=torch.bool)
    few.view(-1)[:9] = True
    assert depth_metrics(gt, gt, few) is None          # < 10 valid pixels: skipped
    with pytest.raises(ValueError, match='shape'):
        depth_metrics(gt[:4], gt, torch.ones(5, 6, dtype=torch.bool))
    bad = gt.clone()
    bad[0, 0] = 0.0
    with pytest.raises(ValueError, match='non-positive'):
        depth_metrics(bad, gt, torch.ones(5, 6, dtype=torch.bool))


def test_valid_depth_mask_caps_and_nan() -> None:
    gt = np.array([[0.0, 0.5, 1.0, np.nan, np.inf, 30.0]])
    m = valid_depth_mask(gt, None, min_depth=0.5, max_depth=20)
    assert m.tolist() == [[False, True, True, False, False, False]]
    ds_mask = np.array([[True, False, True, True, True, True]])
    assert valid_depth_mask(gt, ds_mask, 0.5, 20).tolist() == [[False, False, True, False,
                                                                 False, False]]


def test_accumulator_averages_per_image_and_counts_skips() -> None:
    acc = MetricAccumulator()
    acc.add({'abs_rel': 0.1, 'delta1': 1.0})
    acc.add(None)
    acc.add({'abs_rel': 0.3, 'delta1': 0.5})
    r = acc.result()
    assert r['abs_rel'] == pytest.approx(0.2) and r['delta1'] == pytest.approx(0.75)
    assert (r['n_images'], r['n_skipped']) == (2, 1)
    assert math.isnan(MetricAccumulator().result()['abs_rel'])


def test_fit_scale_shift_recovers_affine_map() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (6, 7))
    mask = rng.uniform(size=x.shape) > 0.2
    y = np.where(mask, 3.0 * x + 2.0, -50.0)  # unmasked pixels are garbage
    s, t = fit_scale_shift(x, y, mask)
    assert s == pytest.approx(3.0) and t == pytest.approx(2.0)
    s, t = fit_scale_shift(np.ones((3, 3)), np.arange(9.0).reshape(3, 3), np.ones((3, 3), bool))
    assert (s, t) == (0.0, pytest.approx(4.0))
    with pytest.raises(ValueError, match='at least 2'):
        fit_scale_shift(x, y, np.zeros_like(mask))


def test_align_disparity_to_depth_is_exact_for_affine_disparity() -> None:
    depth = np.linspace(1.0, 8.0, 48).reshape(6, 8)
    pred_disp = 0.5 / depth + 7.0                    # unknown scale and shift
    mask = np.ones_like(depth, bool)
    aligned = align_disparity_to_depth(pred_disp, depth, mask, max_depth=10.0)
    np.testing.assert_allclose(aligned.numpy(), depth, rtol=1e-5)
    m = depth_metrics(aligned, depth, mask)
    assert m['abs_rel'] < 1e-5
    # a pixel whose aligned disparity is below 1/max_depth is capped at max_depth
    pred_disp[0, 0] = -100.0
    mask[0, 0] = False
    assert float(align_disparity_to_depth(pred_disp, depth, mask, 10.0)[0, 0]) == \
        pytest.approx(10.0)


def test_crop_masks() -> None:
    m = crop_mask(375, 1242, 'garg')
    rows = torch.nonzero(m.any(1)).flatten()
    cols = torch.nonzero(m.any(0)).flatten()
    assert (int(rows[0]), int(rows[-1]) + 1) == (int(0.40810811 * 375), int(0.99189189 * 375))
    assert (int(cols[0]), int(cols[-1]) + 1) == (int(0.03594771 * 1242),
                                                 int(0.96405229 * 1242))
    nyu = crop_mask(480, 640, 'nyu')
    assert int(nyu.sum()) == (471 - 45) * (601 - 41)
    assert bool(crop_mask(4, 4, None).all())
    with pytest.raises(ValueError, match='unknown crop'):
        crop_mask(4, 4, 'center')


def test_pairs_file_and_ordinal_accuracy(tmp_path) -> None:
    path = tmp_path / 'pairs.txt'
    path.write_text('# image, (x1,y1), (x2,y2), closer\n'
                    'a.png, (0,0), (3,1), 1\n'
                    'a.png, (1,0), (2,1), 2\n'
                    'a.png, (3,0), (0,1), second\n')
    pairs = read_pairs(path)
    assert pairs[0].p1 == (0, 0) and pairs[0].p2 == (3, 1) and pairs[2].closer == 2
    depth = np.array([[1.0, 2.0, 3.0, 4.0],
                      [5.0, 6.0, 7.0, 8.0]])
    # depth: (0,0)=1 < (3,1)=8 ok; (1,0)=2 vs (2,1)=7: first is closer -> label 2 wrong;
    # (3,0)=4 vs (0,1)=5: first closer -> label 2 wrong
    assert ordinal_accuracy(depth, pairs, disparity=False) == pytest.approx(1 / 3)
    assert ordinal_accuracy(1.0 / depth, pairs, disparity=True) == pytest.approx(1 / 3)
    assert ordinal_accuracy(depth, pairs, disparity=True) == pytest.approx(2 / 3)
    flat = np.ones((2, 4))
    assert ordinal_accuracy(flat, pairs, disparity=False) == 0.0   # ties count as wrong
    bad = tmp_path / 'bad.txt'
    bad.write_text('a.png, 0, 0, 1\n')
    with pytest.raises(ValueError, match='bad.txt:1'):
        read_pairs(bad)
    far = tmp_path / 'far.txt'
    far.write_text('a.png, (9,0), (0,0), 1\n')
    with pytest.raises(ValueError, match='outside'):
        ordinal_accuracy(depth, read_pairs(far), disparity=False)
