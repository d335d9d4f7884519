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

"""The camera stage the node and process-bag share: pairing, intrinsics, anchors, bad frames.

Plain arrays and a stand-in estimator (the stage's rules, not the network, are under test); no
rclpy and no messages.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from depth_anything_ros.core.camera_stage import (
    ALL_OUTPUTS,
    Calibration,
    CameraStage,
    Frame,
    process_frames,
)
from depth_anything_ros.core.geometry import CameraInfoError
from depth_anything_ros.core.images import ImageFormatError
from depth_anything_ros.core.pipeline import Wanted
from depth_anything_ros.params import validate

W, H = 64, 48
MS = 1_000_000


class ConstantDepth:
    """A metric (or relative) stand-in: a constant map; counts calls and batched passes."""

    device = 'cpu'

    def __init__(self, is_metric: bool = True, value: float = 2.0) -> None:
        self.is_metric, self.value, self.input_size = is_metric, value, 154
        self.calls = self.batches = 0

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        self.calls += 1
        return np.full(pixels.shape[:2], self.value, np.float32)

    def infer_batch(self, frames: list[np.ndarray], encoding: str) -> list[np.ndarray]:
        self.batches += 1
        return [self.infer(f, encoding) for f in frames]


def calib(fx: float = 50.0, width: int = W, height: int = H) -> Calibration:
    return Calibration.from_intrinsics(fx, fx, 32.0, 24.0, width, height)


def frame(stamp_ns: int, width: int = W, height: int = H, received: float | None = None,
          frame_id: str = 'cam') -> Frame:
    return Frame(np.zeros((height, width, 3), np.uint8), 'rgb8', stamp_ns, frame_id, received)


def fx_of(stage: CameraStage, f: Frame) -> float:
    return float(stage.process(f, Wanted(info=True)).camera.intrinsics.fx)


def test_frames_pair_with_the_nearest_camera_info_within_the_slop_else_an_earlier_one() -> None:
    stage = CameraStage(ConstantDepth(), validate({'camera_info_slop': 0.01}))
    for i, stamp in enumerate((100, 200, 300)):
        stage.add_camera_info(stamp * MS + 3 * MS, calib(fx=40.0 + i))
    assert fx_of(stage, frame(200 * MS)) == 41.0                 # nearest, 3 ms later
    assert fx_of(stage, frame(250 * MS)) == 41.0                 # none within: the earlier one
    out = stage.process(frame(50 * MS), Wanted(info=True, points=True))
    assert out.camera is None and out.cloud is None              # never a later calibration
    assert (stage.infos.exact, stage.infos.nearest, stage.infos.fallback) == (0, 1, 1)
    assert stage.without_camera == 1


def test_a_live_frame_waits_for_its_late_camera_info_an_offline_one_does_not() -> None:
    import time
    stage = CameraStage(ConstantDepth(), validate({'camera_info_wait': 1.0}))
    stage.add_camera_info(10 * MS, calib(fx=40.0))
    timer = threading.Timer(0.05, stage.add_camera_info, args=(50 * MS, calib(fx=60.0)))
    timer.start()
    assert fx_of(stage, frame(50 * MS, received=time.monotonic())) == 60.0
    timer.join()
    assert fx_of(stage, frame(90 * MS)) == 60.0   # offline: what is known, at once


def test_intrinsics_from_parameters_win_over_camera_info() -> None:
    cfg = validate({'fx': 70.0, 'fy': 70.0, 'cx': 32.0, 'cy': 24.0, 'calib_width': W,
                    'calib_height': H})
    stage = CameraStage(ConstantDepth(), cfg)
    stage.add_camera_info(1 * MS, calib(fx=40.0))
    assert fx_of(stage, frame(1 * MS)) == 70.0
    assert stage.infos.exact == 0                                # camera_info not consulted
    assert stage.param_calibration == calib(fx=70.0)
    # without them the camera_info is used; with neither there is no camera model
    stage.set_config(validate({}))
    assert fx_of(stage, frame(1 * MS)) == 40.0
    assert CameraStage(ConstantDepth(), validate({})).process(
        frame(1 * MS), ALL_OUTPUTS).camera is None


def test_a_calibration_change_applies_from_the_next_frame() -> None:
    stage = CameraStage(ConstantDepth(), validate({}))
    stage.add_camera_info(1 * MS, calib(fx=40.0))
    assert fx_of(stage, frame(1 * MS)) == 40.0
    stage.add_camera_info(2 * MS, calib(fx=45.0))                # recalibrated
    assert fx_of(stage, frame(2 * MS)) == 45.0
    # a calibration of twice the size (a driver's scaled mode) is rescaled to the image
    stage.add_camera_info(3 * MS, calib(fx=90.0, width=2 * W, height=2 * H))
    assert fx_of(stage, frame(3 * MS)) == 45.0
    # parameters changed at runtime: the next frame uses them
    stage.set_config(validate({'fx': 30.0, 'fy': 30.0, 'cx': 32.0, 'cy': 24.0,
                               'calib_width': W, 'calib_height': H}))
    assert fx_of(stage, frame(4 * MS)) == 30.0


def test_a_refused_camera_info_keeps_the_last_good_one() -> None:
    stage = CameraStage(ConstantDepth(), validate({}))
    stage.add_camera_info(1 * MS, calib(fx=40.0))
    bad = Calibration(W, H, (0.0, 0, 32, 0, 0.0, 24, 0, 0, 1), (0.0,) * 12)
    with pytest.raises(CameraInfoError, match='not calibrated'):
        stage.add_camera_info(2 * MS, bad)
    with pytest.raises(CameraInfoError, match='K has 4 values'):
        stage.add_camera_info(2 * MS, Calibration(W, H, (1.0, 0, 0, 1), calib().p))
    assert fx_of(stage, frame(2 * MS)) == 40.0


def test_anchors_belong_to_their_camera() -> None:
    """Two cameras on one model: only the one given anchors is corrected by them."""
    estimator = ConstantDepth(value=2.0)
    cfg = validate({'alignment': 'sparse', 'fx': 50.0, 'fy': 50.0, 'cx': 32.0, 'cy': 24.0,
                    'calib_width': W, 'calib_height': H})
    front, rear = CameraStage(estimator, cfg, 'front'), CameraStage(estimator, cfg, 'rear')
    front.add_anchor_depth(5 * MS, np.full((H, W), 2.0 / 1.1, np.float32))
    corrected = front.process(frame(5 * MS), Wanted(image=True))
    own = rear.process(frame(5 * MS), Wanted(image=True))
    np.testing.assert_allclose(corrected.depth, 2.0 / 1.1, rtol=1e-3)
    np.testing.assert_allclose(own.depth, 2.0)          # a metric model's own metres
    assert front.aligner.aligned == 1 and rear.aligner.aligned == 0
    # anchor points in another frame than the image need a transform
    assert front.anchor_frame_mismatch('cam') is None
    assert 'lidar' in front.anchor_frame_mismatch('lidar')
    assert CameraStage(estimator, validate({**cfg.__dict__, 'anchor_transform': '0 0 0 0 0 0'})
                       ).anchor_frame_mismatch('lidar') is None
    with pytest.raises(ValueError, match='reads no anchors'):
        CameraStage(estimator, validate({})).add_anchor_depth(1, np.ones((H, W), np.float32))


def test_a_bad_frame_costs_that_frame_only() -> None:
    estimator = ConstantDepth()
    stage = CameraStage(estimator, validate({}))
    stage.add_camera_info(1 * MS, calib())
    with pytest.raises(ImageFormatError, match='aspect ratio'):
        stage.process(frame(1 * MS, width=2000, height=20))
    with pytest.raises(CameraInfoError, match='for 64x48'):          # not this camera's size
        stage.process(frame(1 * MS, width=60, height=48))
    assert estimator.calls == 0                                       # refused before the network
    good = stage.process(frame(2 * MS), ALL_OUTPUTS)
    assert good.depth.shape == (H, W) and np.isfinite(good.cloud['z']).all()
    assert stage.image_frame == 'cam'


def test_process_frames_batches_one_network_input_and_guards_each_frame() -> None:
    estimator = ConstantDepth()
    stages = [CameraStage(estimator, validate({}), name) for name in ('a', 'b', 'c', 'd')]
    failed: list[tuple[int, str]] = []

    def guard(index: int, fn, *args):
        try:
            return fn(*args)
        except ValueError as exc:
            failed.append((index, type(exc).__name__))
            return None

    frames = [frame(1), frame(2, width=2000, height=20), frame(3), frame(4, width=32, height=24)]
    results = process_frames([(s, f, ALL_OUTPUTS) for s, f in zip(stages, frames)], guard)
    assert failed == [(1, 'ImageFormatError')]
    assert results[1] is None
    assert [r.frame.stamp_ns for r in results if r is not None] == [1, 3, 4]
    assert estimator.batches == 1 and estimator.calls == 3   # a, c share one pass; d its own
    assert results[0].wanted == Wanted(image=True, info=True, colored=True, points=True)
    # without a guard the failure comes out
    with pytest.raises(ImageFormatError):
        process_frames([(stages[1], frames[1], ALL_OUTPUTS)])


def test_wanted_outputs_follow_the_parameters() -> None:
    relative = CameraStage(ConstantDepth(is_metric=False), validate({'mode': 'relative'}))
    assert relative.wanted(ALL_OUTPUTS) == Wanted(image=True, info=True, colored=True,
                                                  points=False)   # no metres, no cloud
    quiet = CameraStage(ConstantDepth(), validate({'publish_colored': False,
                                                   'publish_points': False}))
    assert quiet.wanted(ALL_OUTPUTS) == Wanted(image=True, info=True, colored=False,
                                               points=False)
    assert not quiet.wanted(Wanted(False, False, True, True)).any()
    out = relative.process(frame(1), ALL_OUTPUTS)
    assert out.depth is None and out.disparity is not None and out.cloud is None


def test_calibration_from_intrinsics_and_its_described_size() -> None:
    c = calib(fx=50.0)
    assert c.k == (50.0, 0.0, 32.0, 0.0, 50.0, 24.0, 0.0, 0.0, 1.0) and c.d == (0.0,) * 5
    assert c.described_size == (W, H)
    binned = Calibration(2 * W, 2 * H, c.k, c.p, binning_x=2, binning_y=2)
    assert binned.described_size == (W, H)
    assert Calibration(W, H, c.k, c.p, roi=(0, 0, 32, 24)).described_size == (32, 24)
    with pytest.raises(ImageFormatError, match='not a calibration'):
        Calibration.from_intrinsics(0.0, 50.0, 32.0, 24.0, W, H)
    with pytest.raises(CameraInfoError, match='not supported for rectification'):
        Calibration(W, H, c.k, c.p, (0.1,), distortion_model='odd').check(rectify=True)
