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

"""From a prediction to the published arrays: metric limits, disparity, calibration, encodings."""

from __future__ import annotations

import numpy as np
import pytest

from depth_anything_ros.pipeline import encode_depth, split_prediction, stride_image


def test_metric_depth_outside_the_valid_range_is_nan() -> None:
    pred = np.array([[0.05, 0.5, 5.0], [19.9, 25.0, np.inf]], np.float32)
    out = split_prediction(pred, metric_model=True, min_depth=0.1, max_depth=20.0)
    assert out.disparity is None
    np.testing.assert_array_equal(np.isnan(out.depth), [[True, False, False],
                                                        [False, True, True]])
    assert out.depth[0, 2] == 5.0 and out.depth.dtype == np.float32


def test_relative_output_is_disparity_unless_calibrated() -> None:
    disp = np.array([[0.0, 1.0], [2.0, np.nan]], np.float32)
    out = split_prediction(disp, metric_model=False, min_depth=0.1, max_depth=20.0)
    assert out.depth is None
    np.testing.assert_array_equal(out.disparity[0], [0.0, 1.0])
    # 1/z = 0.25 * d + 0.05  ->  d=1: 3.333 m; d=2: 1.818 m; d=0: 20 m (at max_depth)
    cal = split_prediction(disp, metric_model=False, min_depth=0.1, max_depth=20.0,
                           disparity_scale=0.25, disparity_shift=0.05)
    np.testing.assert_allclose(cal.depth[0], [20.0, 1 / 0.3], rtol=1e-6)
    np.testing.assert_allclose(cal.depth[1, 0], 1 / 0.55, rtol=1e-6)
    assert np.isnan(cal.depth[1, 1])
    # negative inverse depth (behind the camera) is invalid, not a negative distance
    neg = split_prediction(disp, metric_model=False, min_depth=0.1, max_depth=20.0,
                           disparity_scale=0.25, disparity_shift=-0.1)
    assert np.isnan(neg.depth[0, 0]) and np.isfinite(neg.depth[1, 0])


def test_a_prediction_without_finite_values_is_rejected() -> None:
    with pytest.raises(ValueError, match='no finite value'):
        split_prediction(np.full((2, 2), np.nan, np.float32), metric_model=True,
                         min_depth=0.1, max_depth=20.0)


def test_encodings_and_stride() -> None:
    depth = np.array([[1.0, np.nan], [2.5, 30.0]], np.float32)
    assert encode_depth(depth, '16UC1').tolist() == [[1000, 0], [2500, 30000]]
    assert encode_depth(depth, '32FC1') is depth
    with pytest.raises(ValueError, match='32FC1 or 16UC1'):
        encode_depth(depth, '8UC1')
    big = np.arange(35, dtype=np.float32).reshape(5, 7)
    assert stride_image(big, 2).shape == (3, 4) and stride_image(big, 2)[1, 1] == big[2, 2]
    assert stride_image(big, 1) is big
