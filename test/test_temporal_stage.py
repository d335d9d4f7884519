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

"""``temporal`` in the camera stage the node and process-bag share (no rclpy, no messages).

Stand-in estimators give a known scene with per-frame noise; poses come from a
:class:`PoseBuffer` as TF would give them. Under test: fusion through the stage with poses, its
resets on every cause (counted, the frame out unfused and equal to the prediction), bad TF,
the static-camera fallback, relative and metric outputs, confidence, the TF replay rule, and
the seam of a stateful (Video Depth Anything) model's per-camera stream.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
import pytest

from depth_anything_ros.core import stats
from depth_anything_ros.core.camera_stage import Calibration, CameraStage, Frame
from depth_anything_ros.core.pipeline import Wanted
from depth_anything_ros.core.temporal import (
    PoseBuffer,
    PoseUnavailable,
    quaternion_from_matrix,
    relative_confidence,
    VDA_NEEDS_STATEFUL,
)
from depth_anything_ros.params import validate

W, H = 64, 48
FX = 50.0
MS = 1_000_000
PERIOD_NS = 33 * MS
PLANE_M = 2.0          # a wall facing the camera: its depth does not change moving sideways
NOISE = 0.03           # relative per-pixel noise of the stand-in predictions


class NoisyWall:
    """Stand-in estimator: the wall at PLANE_M metres with fresh noise per call (seeded).

    ``scale`` multiplies every prediction (a scale jump); metric, or relative disparity
    (1 / depth) with ``is_metric=False``.
    """

    device = 'cpu'

    def __init__(self, is_metric: bool = True, seed: int = 0) -> None:
        self.is_metric, self.input_size = is_metric, 154
        self.rng = np.random.default_rng(seed)
        self.scale = 1.0

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        noise = 1.0 + NOISE * self.rng.standard_normal(pixels.shape[:2])
        depth = (PLANE_M * self.scale * noise).astype(np.float32)
        return depth if self.is_metric else (1.0 / depth).astype(np.float32)


def calib(fx: float = FX) -> Calibration:
    return Calibration.from_intrinsics(fx, fx, (W - 1) / 2, (H - 1) / 2, W, H)


def image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)


def sideways(i: int, step_m: float = 0.01) -> np.ndarray:
    """T_odom_camera: the optical frame moved ``i * step_m`` along its x axis."""
    pose = np.eye(4)
    pose[0, 3] = i * step_m
    return pose


def add_pose(buffer: PoseBuffer, stamp_ns: int, pose: np.ndarray) -> None:
    buffer.add('odom', 'cam', stamp_ns, pose[:3, 3], quaternion_from_matrix(pose[:3, :3]))


def stage_for(estimator: object, values: dict | None = None, poses: object = None,
              info: bool = True) -> CameraStage:
    stage = CameraStage(estimator, validate({'temporal': 'fuse', **(values or {})}))
    if info:
        stage.add_camera_info(0, calib())
    stage.temporal.poses = poses
    return stage


def run(stage: CameraStage, stamp_ns: int, pixels: np.ndarray | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """Return the output and the stand-in's raw prediction of one frame.

    The output in the stand-in's space: the disparity of a relative model, else the depth.
    """
    est = stage.pipeline.estimator
    state = est.rng.bit_generator.state
    out = stage.process(Frame(image() if pixels is None else pixels, 'rgb8', stamp_ns, 'cam'),
                        Wanted(image=True, info=True))
    est.rng.bit_generator.state = state        # the same draw again: what was predicted
    raw = est.infer(np.zeros((H, W, 3), np.uint8), 'rgb8')
    values = out.disparity if out.disparity is not None else out.depth
    return values, raw


def status(stage: CameraStage) -> dict[str, str]:
    return stage.temporal.status()


def reasons(stage: CameraStage) -> str:
    return status(stage)[stats.TEMPORAL_RESET_REASONS]


def moving_poses(n: int) -> PoseBuffer:
    buffer = PoseBuffer()
    for i in range(n):
        add_pose(buffer, i * PERIOD_NS, sideways(i))
    return buffer


# ------------------------------------------------------------------ fusion through the stage
def test_fuse_with_tf_poses_cuts_the_noise_of_a_moving_camera() -> None:
    n = 12
    stage = stage_for(NoisyWall(), poses=moving_poses(n))
    outs, raws = zip(*(run(stage, i * PERIOD_NS) for i in range(n)))
    np.testing.assert_array_equal(outs[0], raws[0])          # the first frame: as predicted
    inner = (slice(4, -4), slice(8, -8))    # in view of the previous frames (1 cm a frame)
    err_raw = np.std(np.log(np.stack(raws[6:])[(slice(None), *inner)] / PLANE_M))
    err_out = np.std(np.log(np.stack(outs[6:])[(slice(None), *inner)] / PLANE_M))
    assert err_out < err_raw / 2, (err_out, err_raw)
    s = status(stage)
    assert (s[stats.TEMPORAL], s[stats.TEMPORAL_FRAMES], s[stats.TEMPORAL_FRAMES_FUSED]) == \
        ('fuse', str(n), str(n - 1))
    assert (s[stats.TEMPORAL_RESETS], s[stats.TEMPORAL_RESET_REASONS]) == ('1', 'started: 1')
    assert s[stats.TEMPORAL_POSE_PROBLEM] == ''


def test_without_temporal_the_stage_has_no_temporal_state() -> None:
    stage = CameraStage(NoisyWall(), validate({}))
    assert stage.temporal is None


# ------------------------------------------------------------------ resets, each counted
def _expect_reset(stage: CameraStage, stamp_ns: int, reason: str,
                  pixels: np.ndarray | None = None) -> None:
    before = status(stage)[stats.TEMPORAL_FRAMES_FUSED]
    out, raw = run(stage, stamp_ns, pixels)
    np.testing.assert_array_equal(out, raw)                 # out unfused: the prediction
    assert status(stage)[stats.TEMPORAL_FRAMES_FUSED] == before
    assert status(stage)[stats.TEMPORAL_LAST_REASON] == reason
    assert f'{reason}: 1' in reasons(stage)


def _fused(stage: CameraStage, stamp_ns: int) -> None:
    out, raw = run(stage, stamp_ns)
    assert not np.array_equal(out, raw)


def test_a_stamp_going_backwards_resets() -> None:
    stage = stage_for(NoisyWall(), poses=moving_poses(4))
    run(stage, 0)
    _fused(stage, 2 * PERIOD_NS)
    _expect_reset(stage, PERIOD_NS, 'time went backwards')
    _fused(stage, 2 * PERIOD_NS)          # the stream goes on from the reset


def test_a_gap_between_frames_resets() -> None:
    poses = moving_poses(40)
    stage = stage_for(NoisyWall(), poses=poses)
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    _expect_reset(stage, 30 * PERIOD_NS, 'gap')       # ~1 s > max_gap_s
    _fused(stage, 31 * PERIOD_NS)


def test_a_calibration_change_resets() -> None:
    stage = stage_for(NoisyWall(), poses=moving_poses(4))
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    stage.add_camera_info(2 * PERIOD_NS, calib(fx=60.0))
    _expect_reset(stage, 2 * PERIOD_NS, 'calibration changed')


def test_a_new_fixed_disparity_calibration_is_a_scale_jump() -> None:
    values = {'mode': 'relative', 'disparity_scale': 1.0}
    stage = stage_for(NoisyWall(is_metric=False), values, poses=moving_poses(4))
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    stage.set_config(validate({'temporal': 'fuse', **values, 'disparity_scale': 1.2}))
    _expect_reset(stage, 2 * PERIOD_NS, 'scale jump')


@dataclass
class _Filter:
    restarts: int = 0


class RestartingAligner:
    """Stand-in aligner: a fixed scale/shift; its filter's restarts are set by the test."""

    def __init__(self) -> None:
        self.filter = _Filter()
        self.applied = True

    def align(self, values: np.ndarray, k: object, stamp_ns: int) -> tuple[float, float]:
        return 1.0, 0.0


def test_a_restart_of_the_alignment_filter_is_a_scale_jump() -> None:
    stage = stage_for(NoisyWall(is_metric=False), {'mode': 'relative'}, poses=moving_poses(4))
    stage.aligner = RestartingAligner()
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    stage.aligner.filter.restarts += 1
    _expect_reset(stage, 2 * PERIOD_NS, 'scale jump')


def test_an_unsignalled_scale_jump_is_found_in_the_values() -> None:
    stage = stage_for(NoisyWall(), poses=moving_poses(4))
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    stage.pipeline.estimator.scale = 1.5
    _expect_reset(stage, 2 * PERIOD_NS, 'scale jump')


def test_a_tf_gap_resets_and_says_why() -> None:
    poses = moving_poses(2)          # TF stops after the second frame
    stage = stage_for(NoisyWall(), poses=poses)
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    _expect_reset(stage, 2 * PERIOD_NS, 'pose missing')
    assert 'no extrapolation' in status(stage)[stats.TEMPORAL_POSE_PROBLEM]


class FixedPoses:
    """Stand-in pose source: whatever pose the test sets, at any stamp."""

    def __init__(self) -> None:
        self.value = np.eye(4)

    def pose(self, fixed: str, frame: str, stamp_ns: int) -> np.ndarray:
        return self.value


@pytest.mark.parametrize('bad, reason', [
    (np.full((4, 4), np.nan), 'pose is not finite'),
    (np.diag([2.0, 1.0, 1.0, 1.0]), 'pose is not a rigid transform'),
    (sideways(100), 'pose jump'),                    # 1 m in 33 ms
])
def test_bad_tf_sends_the_frame_out_unfused_and_counts_why(bad: np.ndarray,
                                                           reason: str) -> None:
    poses = FixedPoses()
    stage = stage_for(NoisyWall(), poses=poses)
    run(stage, 0)
    _fused(stage, PERIOD_NS)
    poses.value = bad
    _expect_reset(stage, 2 * PERIOD_NS, reason)
    out, _ = run(stage, 3 * PERIOD_NS)
    assert np.isfinite(out).all()                     # never NaN from a bad pose


def test_tf_replay_refuses_nan_and_interpolates_as_tf2() -> None:
    buffer = PoseBuffer()
    add_pose(buffer, 0, sideways(0))
    assert not buffer.add('odom', 'cam', 5, (math.nan, 0, 0), (0, 0, 0, 1))
    assert buffer.refused == {'odom -> cam: not finite': 1}
    turn = np.eye(4)
    turn[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]            # 90 degrees about z
    turn[:3, 3] = (0.2, 0.0, 0.0)
    add_pose(buffer, 10, turn)
    half = buffer.pose('odom', 'cam', 5)
    np.testing.assert_allclose(half[:3, 3], (0.1, 0.0, 0.0), atol=1e-12)
    c = math.cos(math.pi / 4)
    np.testing.assert_allclose(half[:3, :3], [[c, -c, 0], [c, c, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(buffer.pose('odom', 'cam', 10), turn, atol=1e-12)
    with pytest.raises(PoseUnavailable, match='no extrapolation'):
        buffer.pose('odom', 'cam', 11)
    # a chain through a static mount: odom -> base (over time) -> cam (static)
    chain = PoseBuffer()
    chain.add('odom', 'base', 0, (1.0, 0, 0), (0, 0, 0, 1))
    chain.add('odom', 'base', 10, (2.0, 0, 0), (0, 0, 0, 1))
    chain.add('base', 'cam', 0, (0, 0, 0.5), (0, 0, 0, 1), static=True)
    np.testing.assert_allclose(chain.pose('odom', 'cam', 5)[:3, 3], (1.5, 0, 0.5))
    np.testing.assert_allclose(chain.pose('cam', 'odom', 5)[:3, 3], (-1.5, 0, -0.5))
    with pytest.raises(PoseUnavailable, match='connects neither'):
        chain.pose('map', 'cam', 5)


# ------------------------------------------------------------------ without TF
def test_without_tf_it_fuses_only_while_the_image_hardly_changes() -> None:
    stage = stage_for(NoisyWall(), poses=None)
    run(stage, 0, image(0))
    _fused(stage, PERIOD_NS)                          # the same image: standing still
    _expect_reset(stage, 2 * PERIOD_NS, 'no pose and the image moved', image(1))
    assert status(stage)[stats.TEMPORAL_POSE_PROBLEM] == 'no pose source (no TF)'


def test_relative_disparity_without_calibration_never_warps() -> None:
    stage = stage_for(NoisyWall(is_metric=False), {'mode': 'relative'}, poses=moving_poses(4))
    run(stage, 0, image(0))
    _fused(stage, PERIOD_NS)                          # still image: fused in disparity
    # poses say the camera moved, but disparity has no metric scale to warp with
    _expect_reset(stage, 2 * PERIOD_NS, 'no pose and the image moved', image(1))
    assert status(stage)[stats.TEMPORAL_POSE_PROBLEM] == ''   # TF was not even asked


def test_relative_calibrated_output_is_fused_in_inverse_depth() -> None:
    values = {'mode': 'relative', 'disparity_scale': 2.0, 'disparity_shift': 0.1}
    stage = stage_for(NoisyWall(is_metric=False), values, poses=moving_poses(6))
    for i in range(6):
        out = stage.process(Frame(image(), 'rgb8', i * PERIOD_NS, 'cam'), Wanted())
    assert status(stage)[stats.TEMPORAL_FRAMES_FUSED] == '5'
    # depth and disparity are the same fused values: 1/depth = scale * d + shift
    np.testing.assert_allclose(1.0 / out.depth, 2.0 * out.disparity + 0.1, rtol=1e-5)


class ConfidentWall(NoisyWall):
    """Stand-in with a confidence on DA3's scale (>= 1): ``left`` on the left half, 10 right."""

    has_confidence = True
    output = 'metric'

    def __init__(self) -> None:
        super().__init__()
        self.value, self.left = PLANE_M, 10.0

    def estimate_batch(self, frames: list, encoding: str, intrinsics: object = None) -> list:
        conf = np.full((H, W), 10.0, np.float32)
        conf[:, :W // 2] = self.left
        return [_Result(np.full((H, W), self.value, np.float32), conf, None) for _ in frames]


@dataclass
class _Result:
    depth: np.ndarray
    confidence: np.ndarray
    sky: np.ndarray | None


def test_confidence_weighs_the_prediction() -> None:
    est = ConfidentWall()
    stage = stage_for(est, poses=moving_poses(2))
    stage.process(Frame(image(), 'rgb8', 0, 'cam'), Wanted())
    est.value, est.left = PLANE_M * 1.05, 1.0      # the left half: 10x less sure this time
    out = stage.process(Frame(image(), 'rgb8', PERIOD_NS, 'cam'), Wanted()).depth
    low, high = out[8:-8, 8:W // 2 - 2], out[8:-8, W // 2 + 2:-8]
    # the confident half follows the new prediction more than the unsure half
    assert np.nanmedian(high) - PLANE_M > 2 * (np.nanmedian(low) - PLANE_M) > 0


def test_relative_confidence_is_a_weight_up_to_one() -> None:
    c = relative_confidence(np.array([[1.0, 2.0, 4.0, np.nan]], np.float32))
    np.testing.assert_allclose(c[0, :3], (0.5, 1.0, 1.0))
    assert relative_confidence(None) is None


# ------------------------------------------------------------------ vda: the seam
def test_vda_with_a_model_that_keeps_no_state_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError) as err:
        CameraStage(NoisyWall(), validate({'temporal': 'vda'}))
    assert str(err.value) == VDA_NEEDS_STATEFUL and '\n' not in VDA_NEEDS_STATEFUL
    assert 'checkpoint:=vda' in VDA_NEEDS_STATEFUL


class StandInStream:
    """A stand-in for a stateful model's per-camera stream: counts frames since its reset."""

    def __init__(self) -> None:
        self.frames = self.resets = 0

    def reset(self) -> None:
        self.frames = 0
        self.resets += 1


class StandInStatefulModel:
    """A STAND-IN for a Video Depth Anything estimator (not a network).

    The depth it returns is the number of frames its stream has seen, so a reset shows in
    the output.
    """

    device, is_metric, stateful, input_size = 'cpu', True, True, 154

    def __init__(self) -> None:
        self.streams: list[StandInStream] = []

    def new_stream(self) -> StandInStream:
        self.streams.append(StandInStream())
        return self.streams[-1]

    def estimate_batch(self, frames: list, encoding: str, intrinsics: object = None, *,
                       streams: list) -> list:
        out = []
        for pixels, stream in zip(frames, streams):
            stream.frames += 1
            out.append(np.full(pixels.shape[:2], float(stream.frames), np.float32))
        return out


def test_vda_keeps_one_stream_per_camera_and_resets_it_like_fuse() -> None:
    model = StandInStatefulModel()
    cfg = validate({'temporal': 'vda'})
    front, back = CameraStage(model, cfg, 'front'), CameraStage(model, cfg, 'back')
    for stage in (front, back):
        stage.add_camera_info(0, calib())

    def depth(stage: CameraStage, stamp_ns: int) -> float:
        return float(stage.process(Frame(image(), 'rgb8', stamp_ns, 'cam'),
                                   Wanted()).depth[0, 0])

    assert [depth(front, i * PERIOD_NS) for i in range(3)] == [1.0, 2.0, 3.0]
    assert depth(back, 0) == 1.0                                   # a stream of its own
    assert len(model.streams) == 2                                 # made once per camera
    assert depth(front, PERIOD_NS) == 1.0                          # stamp went backwards
    assert depth(front, 40 * PERIOD_NS) == 1.0                     # a gap
    front.add_camera_info(41 * PERIOD_NS, calib(fx=70.0))
    assert depth(front, 41 * PERIOD_NS) == 1.0                     # calibration changed
    assert depth(front, 42 * PERIOD_NS) == 2.0
    s = front.temporal.status()
    assert s[stats.TEMPORAL] == 'vda' and s[stats.TEMPORAL_FRAMES] == '7'
    assert s[stats.TEMPORAL_RESET_REASONS] == \
        'calibration changed: 1, gap: 1, started: 1, time went backwards: 1'
    assert model.streams[0].resets == 3
