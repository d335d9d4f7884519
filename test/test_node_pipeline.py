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

from depth_anything_ros.core.geometry import CameraInfoError, CameraModel, subsample_intrinsics
from depth_anything_ros.core.pipeline import (
    encode_depth,
    FramePipeline,
    split_prediction,
    stride_image,
    Wanted,
)
from depth_anything_ros.params import validate
from depth_anything_ros.ros.conversions import ImageFormatError


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


class ConstantDepth:
    """Stand-in estimator (the pipeline's logic, not the network, is under test)."""

    device = 'cpu'

    def __init__(self, is_metric: bool = True, value: float = 2.0) -> None:
        self.is_metric, self.value, self.input_size, self.calls = is_metric, value, 154, 0

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        self.calls += 1
        return np.full(pixels.shape[:2], self.value, np.float32)


def _camera(width: int = 64, height: int = 48, cx: float = 30.0, d: tuple = (0.0,) * 5,
            model: str = 'plumb_bob') -> CameraModel:
    k = [50.0, 0.0, cx, 0.0, 50.0, 20.0, 0.0, 0.0, 1.0]
    p = [50.0, 0.0, cx, 0.0, 0.0, 50.0, 20.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return CameraModel.from_calibration(k, p, d, np.eye(3).ravel(), model, width, height,
                                        image_width=width, image_height=height)


def test_frame_pipeline_outputs_at_the_output_stride() -> None:
    est = ConstantDepth()
    pipe = FramePipeline(est)
    cfg = validate({'output_stride': 2, 'depth_encoding': '16UC1', 'input_size': 70})
    pixels = np.zeros((48, 64, 3), np.uint8)
    out = pipe.process(pixels, 'rgb8', _camera(), cfg, Wanted(True, True, True, True))
    assert est.input_size == 70
    assert out.depth.dtype == np.uint16 and out.depth.shape == (24, 32)
    assert (out.depth == 2000).all() and out.disparity is None
    assert out.colored.shape == (24, 32, 3) and out.colored.dtype == np.uint8
    assert out.camera.intrinsics == subsample_intrinsics(_camera().intrinsics, 2)
    assert out.cloud.shape == (48, 64) and np.isfinite(out.cloud['z']).all()
    assert out.infer_ms >= 0.0
    nothing = pipe.process(pixels, 'rgb8', None, cfg, Wanted(False, False, False, True))
    assert nothing.depth is None and nothing.cloud is None and nothing.camera is None


def test_frame_pipeline_refuses_bad_frames_before_inference() -> None:
    est = ConstantDepth()
    pipe = FramePipeline(est)
    cfg = validate({})
    with pytest.raises(ImageFormatError, match='min_image_side'):
        pipe.process(np.zeros((2, 2000), np.uint8), 'mono8', None, cfg, Wanted())
    with pytest.raises(ImageFormatError, match='aspect ratio'):
        pipe.process(np.zeros((20, 2000), np.uint8), 'mono8', None, cfg, Wanted())
    with pytest.raises(CameraInfoError, match='rectify is on'):
        pipe.process(np.zeros((48, 64), np.uint8), 'mono8', None, validate({'rectify': True}),
                     Wanted())
    with pytest.raises(CameraInfoError, match='not supported for rectification'):
        pipe.process(np.zeros((48, 64), np.uint8), 'mono8', _camera(d=(0.1,), model='odd'),
                     validate({'rectify': True}), Wanted())
    with pytest.raises(CameraInfoError, match='for 64x48'):
        pipe.process(np.zeros((40, 64), np.uint8), 'mono8', _camera(), cfg, Wanted())
    assert est.calls == 0


def test_frame_pipeline_cloud_is_nan_never_inf() -> None:
    """A principal point far off the image and an infinite depth give NaN, not inf."""
    far = CameraModel.from_calibration(
        [1e-9, 0, 600.0, 0, 1e-9, 20, 0, 0, 1], [0.0] * 12, [0.0] * 5, np.eye(3).ravel(),
        'plumb_bob', 64, 48, image_width=64, image_height=48)
    cfg = validate({'max_depth': 1000.0})
    out = FramePipeline(ConstantDepth(value=999.0)).process(
        np.zeros((48, 64), np.uint8), 'mono8', far, cfg, Wanted(points=True))
    for name in ('x', 'y', 'z'):
        assert not np.isinf(out.cloud[name]).any(), name
    assert np.isnan(out.cloud['x']).all()
