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

"""Evaluation pipeline: per-image scoring, disparity alignment, ordinal pairs, the table."""

import numpy as np
import pytest
import torch
from torch import nn

from depth_anything_ros.training.datasets import GenericDataset, GenericWriter
from depth_anything_ros.training.evaluate import (
    evaluate_model,
    format_table,
    score_prediction,
    upsample_to,
)
from depth_anything_ros.training.metrics import read_pairs
from depth_anything_ros.training.transforms import EvalTransform, MEAN, STD


class IntensityDisparity(nn.Module):
    """Relative 'model' whose disparity is the red channel: exact for images built that way."""

    is_metric = False

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))   # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0] * STD[0] + MEAN[0]              # (B, h, w) back in [0, 1]
        return 3.0 * red + 0.7                       # arbitrary scale and shift


def _dataset(tmp_path) -> GenericDataset:
    h, w = 42, 56
    depth = np.tile(np.linspace(1.0, 5.0, w, dtype=np.float32), (h, 1))  # far to the right
    red = np.round(255 * (1.0 / depth)).astype(np.uint8)
    rgb = np.stack([red, np.full_like(red, 90), np.full_like(red, 30)], -1)
    writer = GenericWriter(tmp_path, depth_scale=1e-3)
    writer.add('ramp', rgb, depth, 'val')
    writer.close()
    return GenericDataset(tmp_path, 'val', EvalTransform(28))


def test_relative_model_is_scored_after_disparity_alignment(tmp_path) -> None:
    ds = _dataset(tmp_path)
    (tmp_path / 'pairs.txt').write_text('ramp.png, (2,5), (50,5), 1\n'
                                        'ramp.png, (40,20), (10,30), 1\n')
    pairs = {'ramp': read_pairs(tmp_path / 'pairs.txt')}
    res = evaluate_model(IntensityDisparity(), ds, min_depth=0.1, max_depth=10.0,
                         align='scale_shift', pairs=pairs)
    assert res['n_images'] == 1
    assert res['abs_rel'] < 0.01 and res['delta1'] == 1.0      # 8-bit quantisation only
    assert res['ordinal_acc'] == 0.5 and res['n_pairs'] == 2   # second label is wrong
    with pytest.raises(ValueError, match='scale_shift'):
        evaluate_model(IntensityDisparity(), ds, min_depth=0.1, max_depth=10.0, align=None)


def test_score_prediction_masks_crops_and_metric_alignment() -> None:
    gt = torch.linspace(1.0, 4.0, 60).reshape(6, 10)
    valid = torch.ones(6, 10, dtype=torch.bool)
    m, _, mask = score_prediction(gt * 1.1, gt, valid, min_depth=0.1, max_depth=10,
                                  is_metric=True)
    assert m['abs_rel'] == pytest.approx(0.1) and int(mask.sum()) == 60
    # a metric prediction with a wrong global scale is perfect after alignment
    m, _, _ = score_prediction(gt * 1.3, gt, valid, min_depth=0.1, max_depth=10,
                               is_metric=True, align='scale_shift')
    assert m['abs_rel'] < 1e-5
    # the max-depth cap removes pixels; too few left -> skipped image
    m, _, mask = score_prediction(gt, gt, valid, min_depth=0.1, max_depth=1.1, is_metric=True)
    assert m is None and int(mask.sum()) < 10
    _, _, cropped = score_prediction(gt, gt, valid, min_depth=0.1, max_depth=10,
                                     is_metric=True, crop='garg')
    assert int(cropped.sum()) < 60


def test_upsample_and_table() -> None:
    pred = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    up = upsample_to(pred, (3, 3))
    # align_corners=True keeps the corner values and interpolates midpoints exactly
    assert up[0, 0] == 0 and up[2, 2] == 3 and up[1, 1] == pytest.approx(1.5)
    table = format_table({'a.pth': {'abs_rel': 0.1, 'delta1': 0.9, 'n_images': 3},
                          'b.pth': {'abs_rel': 0.2, 'delta1': 0.8, 'n_images': 3}})
    lines = table.splitlines()
    assert 'a.pth' in lines[0] and 'b.pth' in lines[0]
    assert lines[1].startswith('abs_rel v') and '0.1000' in lines[1] and '0.2000' in lines[1]
    assert lines[2].startswith('delta1 ^')


def test_eval_command_on_a_relative_checkpoint(tmp_path) -> None:
    import argparse
    import json

    from depth_anything_ros.commands import evaluate
    _dataset(tmp_path / 'data')
    (tmp_path / 'pairs.txt').write_text('ramp.png, (2,5), (50,5), 1\n')
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    base = ['--checkpoint', 'untrained:tiny', '--allow-untrained', '--data',
            str(tmp_path / 'data'), '--out', str(tmp_path / 'out.json'), '--input-size', '28',
            '--device', 'cpu']
    with pytest.raises(ValueError, match='--eval-max-depth'):
        evaluate.main(parser.parse_args(base))
    evaluate.main(parser.parse_args(base + ['--eval-max-depth', '10', '--pairs',
                                            str(tmp_path / 'pairs.txt')]))
    doc = json.loads((tmp_path / 'out.json').read_text())
    assert doc['settings']['align'] == 'scale_shift' and doc['settings']['head'] == 'relative'
    assert doc['n_images'] == 1 and doc['n_pairs'] == 1 and doc['ordinal_acc'] in (0.0, 1.0)
    for key in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog', 'delta1', 'delta2',
                'delta3'):
        assert np.isfinite(doc[key]), key
