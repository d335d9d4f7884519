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

"""Property tests of temporal fusion and its pose buffer under hostile input.

``TemporalFusion.update`` is fed random streams: stamps out of order, duplicated or far in the
future, poses with NaN/inf/huge entries, zero or non-unit quaternions, non-rigid matrices,
calibration and size changes, confidence maps with NaN/0/inf/negative values, values with
zeros, negatives and inf, and scale epochs that restart. Properties: nothing but the
documented ValueError escapes; the output has the frame's shape; an unfused frame is the
input unchanged; a frame is never fused across a reset rule (stamp backwards, gap, calibration,
epoch, bad pose); a fused pixel is finite and positive exactly where the input is valid; the
counters add up. ``PoseBuffer`` is checked against a plain search over its samples, added in
any order, and must take a long bag's /tf in time linear in its length.
"""

from __future__ import annotations

import bisect
import math
import time

from hypothesis import given
from hypothesis import strategies as st
import numpy as np
import pytest

from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.core.temporal import (
    CameraTemporal,
    pose_matrix,
    pose_problem,
    PoseBuffer,
    PoseUnavailable,
    TemporalFusion,
)

W, H = 24, 18
INTR = Intrinsics(30.0, 30.0, 12.0, 9.0, W, H)
MS = 1_000_000

_FLOATS = st.one_of(st.floats(-3.0, 3.0), st.sampled_from(
    [0.0, -0.0, math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-300, 1e38, 5e-324]))


@st.composite
def _poses(draw):
    """Draw a pose: good, None, NaN, non-rigid, a degenerate quaternion, huge."""
    kind = draw(st.sampled_from(['good', 'good', 'good', 'none', 'quat', 'matrix']))
    if kind == 'none':
        return None
    if kind == 'good':
        t = draw(st.tuples(*[st.floats(-0.05, 0.05)] * 3))
        q = draw(st.tuples(*[st.floats(-0.05, 0.05)] * 3))
        return pose_matrix(t, (*q, 1.0))
    if kind == 'quat':
        return pose_matrix(draw(st.tuples(*[_FLOATS] * 3)), draw(st.tuples(*[_FLOATS] * 4)))
    return np.array(draw(st.lists(_FLOATS, min_size=16, max_size=16))).reshape(4, 4)


@st.composite
def _frames(draw):
    """Draw a frame: stamp step, values, pose, intrinsics, confidence, image, scale epoch."""
    step = draw(st.one_of(st.sampled_from([33 * MS, 33 * MS, 0, -5 * MS, 700 * MS, 10 ** 18]),
                          st.integers(-100 * MS, 600 * MS)))
    base = draw(st.floats(0.5, 5.0))
    values = np.full((H, W), base, np.float32)
    noise = np.random.default_rng(draw(st.integers(0, 2 ** 16))).uniform(-1, 1, (H, W))
    values *= (1.0 + 0.02 * noise).astype(np.float32)
    for _ in range(draw(st.integers(0, 4))):     # hostile pixels
        y, x = draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))
        values[y, x] = np.float32(np.clip(draw(_FLOATS), -3e38, 3e38))
    intr = draw(st.sampled_from([INTR, INTR, INTR, Intrinsics(31.0, 30.0, 12.0, 9.0, W, H)]))
    confidence = None
    if draw(st.booleans()):
        confidence = np.full((H, W), draw(st.floats(0.01, 10.0)), np.float32)
        for _ in range(draw(st.integers(0, 4))):
            confidence[draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))] = \
                np.float32(np.clip(draw(_FLOATS), -3e38, 3e38))
    image = draw(st.sampled_from([None, 'same', 'other']))
    epoch = draw(st.sampled_from([0, 0, 0, 1]))
    return step, values, draw(_poses()), intr, confidence, image, epoch


_IMAGES = {'same': np.full((H, W, 3), 100, np.uint8), 'other': np.full((H, W, 3), 200, np.uint8),
           None: None}


@given(st.lists(_frames(), min_size=1, max_size=12),
       st.sampled_from(['depth', 'inverse_depth', 'disparity']))
def test_fusion_never_fuses_across_a_reset_rule_and_never_makes_garbage(frames, space) -> None:
    fusion = TemporalFusion()
    stamp = 1_000 * MS
    previous = None        # (stamp, intr, epoch) of the previous frame
    for step, values, pose, intr, confidence, image, epoch in frames:
        stamp += step
        out = fusion.update(stamp * 1e-9, values, intr, pose, space=space,
                            confidence=confidence, image=_IMAGES[image], scale_epoch=epoch)
        assert out.values.shape == (H, W) and out.values.dtype == np.float32
        broken = previous is None or stamp < previous[0] or \
            stamp - previous[0] > 0.5e9 or intr != previous[1] or epoch != previous[2] or \
            (pose is not None and pose_problem(pose) != '')
        if broken:
            assert not out.fused, (out.reason, step)
        if not out.fused:
            np.testing.assert_array_equal(out.values, values)
        else:
            valid = np.isfinite(values) & (values > 0) & (values < 1e30)
            got = np.isfinite(out.values) & (out.values > 0)
            np.testing.assert_array_equal(got[valid], True)
            assert not got[~np.isfinite(values) | (values <= 0)].any()
        previous = (stamp, intr, epoch)
    status = fusion.status()
    assert status['frames'] == len(frames)
    assert status['fused_frames'] + sum(status['unfused'].values()) == len(frames)


# ------------------------------------------------------------------------------ PoseBuffer

_STAMPS = st.integers(0, 50).map(lambda t: t * 10 * MS)


@given(st.lists(st.tuples(_STAMPS, st.floats(-5, 5), st.floats(-math.pi, math.pi)),
                min_size=1, max_size=30),
       st.lists(st.integers(-10, 510).map(lambda t: t * MS), min_size=1, max_size=10))
def test_pose_buffer_agrees_with_a_plain_search_in_any_arrival_order(samples, queries) -> None:
    buffer = PoseBuffer()
    latest: dict[int, tuple[float, float]] = {}
    for stamp, x, yaw in samples:     # out of order and duplicated: the last one at a stamp
        q = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
        assert buffer.add('odom', 'cam', stamp, (x, 0.0, 0.0), q)
        latest[stamp] = (x, yaw)
    stamps = sorted(latest)
    for query in queries:
        i = bisect.bisect_left(stamps, query)
        if i < len(stamps) and stamps[i] == query:
            x = latest[query][0]
        elif i == 0 or i == len(stamps):
            with pytest.raises(PoseUnavailable, match='no extrapolation'):
                buffer.pose('odom', 'cam', query)
            continue
        else:
            s0, s1 = stamps[i - 1], stamps[i]
            r = (query - s0) / (s1 - s0)
            x = latest[s0][0] + r * (latest[s1][0] - latest[s0][0])
        pose = buffer.pose('odom', 'cam', query)
        assert pose_problem(pose) == ''
        assert pose[0, 3] == pytest.approx(x, abs=1e-9)


def test_pose_buffer_takes_a_long_bags_tf_in_linear_time() -> None:
    # 100 Hz TF for 5 minutes: a plain list insert after a search that copies the list each
    # time is quadratic (minutes here); a bag's /tf arrives in order, which costs O(1) each
    n = 30_000
    buffer = PoseBuffer()
    start = time.perf_counter()
    for i in range(n):
        buffer.add('odom', 'cam', i * 10 * MS, (i * 0.01, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    for i in range(0, n - 1, 10):
        buffer.pose('odom', 'cam', i * 10 * MS + 5 * MS)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f'{n} transforms and {n // 10} lookups took {elapsed:.1f} s'
    assert buffer.pose('odom', 'cam', 15 * MS)[0, 3] == pytest.approx(0.015)


# ------------------------------------------------------------------------------ CameraTemporal

class _Poses:
    """A pose source that returns what it is told (a TF that hands out garbage)."""

    def __init__(self) -> None:
        self.next: np.ndarray | Exception | None = None

    def pose(self, fixed: str, frame: str, stamp_ns: int) -> np.ndarray:
        if isinstance(self.next, Exception):
            raise self.next
        return self.next


@given(st.lists(st.tuples(_poses(), st.booleans()), min_size=1, max_size=10))
def test_camera_temporal_counters_add_up_and_say_what_went_wrong(steps) -> None:
    temporal = CameraTemporal('fuse')
    source = _Poses()
    temporal.poses = source
    values = np.full((H, W), 2.0, np.float32)
    for k, (pose, lookup_fails) in enumerate(steps):
        source.next = PoseUnavailable('no transform') if lookup_fails else pose
        fused = temporal.fuse(1_000 * MS + k * 33 * MS, 'cam', values, 'depth', INTR,
                              image=_IMAGES['same'])
        status = temporal.status()
        if lookup_fails:
            assert status['temporal_pose_problem'] == 'no transform'
            assert fused is None or k > 0
        frames = int(status['temporal_frames'])
        assert frames == k + 1
        assert int(status['temporal_frames_fused']) + int(status['temporal_resets']) == frames


# ------------------------------------------------------------------ the camera stage

class _Wall:
    """Stand-in metric estimator: a wall at 2 m with seeded noise, at the frame's size."""

    device, is_metric, input_size = 'cpu', True, 154

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.last: np.ndarray | None = None

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        noise = 1.0 + 0.03 * self.rng.standard_normal(pixels.shape[:2])
        self.last = (2.0 * noise).astype(np.float32)
        return self.last


_SIZES = [(W, H), (W, H), (W, H), (2 * W, 2 * H), (H, W)]


@given(st.lists(st.tuples(st.sampled_from(_SIZES), st.integers(-50, 700).map(lambda t: t * MS),
                          _poses(), st.booleans(), st.sampled_from(['rgb8', 'mono8', 'bgra8'])),
                min_size=1, max_size=10))
def test_the_stage_never_fuses_across_a_size_or_calibration_change(steps) -> None:
    from depth_anything_ros.core.camera_stage import Calibration, CameraStage, Frame
    from depth_anything_ros.core.pipeline import Wanted
    from depth_anything_ros.params import validate
    est = _Wall()
    stage = CameraStage(est, validate({'temporal': 'fuse', 'max_depth': 100.0}))
    source = _Poses()
    stage.temporal.poses = source
    stamp, previous = 1_000 * MS, None
    for (w, h), step, pose, new_info, encoding in steps:
        stamp += step
        if new_info:                 # a calibration for this size arrives mid-stream
            stage.add_camera_info(stamp, Calibration.from_intrinsics(
                30.0 * w / W, 30.0 * w / W, w / 2, h / 2, w, h))
        source.next = pose if pose is not None else PoseUnavailable('no transform')
        channels = {'mono8': 0, 'bgra8': 4}.get(encoding, 3)
        pixels = np.full((h, w) if not channels else (h, w, channels), 90, np.uint8)
        try:
            out = stage.process(Frame(pixels, encoding, stamp, 'cam'), Wanted(image=True))
        except ValueError:           # a calibration that does not describe the image: refused
            previous = None
            continue
        assert out.depth.shape == (h, w)
        camera = None if out.camera is None else out.camera.intrinsics
        if previous is not None and (previous[0] != (h, w) or previous[1] != camera):
            np.testing.assert_array_equal(out.depth, est.last)     # unfused: the prediction
        previous = ((h, w), camera)
    status = stage.temporal.status()
    assert int(status['temporal_frames_fused']) + int(status['temporal_resets']) == \
        int(status['temporal_frames'])


def test_a_metric_model_is_not_fused_across_its_scale_correction_switching_on() -> None:
    from depth_anything_ros.core.camera_stage import Calibration, CameraStage, Frame
    from depth_anything_ros.core.pipeline import Wanted
    from depth_anything_ros.params import validate
    est = _Wall()
    stage = CameraStage(est, validate({'temporal': 'fuse', 'alignment': 'sparse',
                                       'max_depth': 100.0}))
    calib = Calibration.from_intrinsics(30.0, 30.0, W / 2, H / 2, W, H)
    stage.add_camera_info(0, calib)
    stage.add_anchor_camera_info(calib)
    still = PoseBuffer()
    still.add('odom', 'cam', 0, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0), static=True)
    stage.temporal.poses = still
    pixels = np.full((H, W, 3), 90, np.uint8)
    for k in range(3):                   # no anchors yet: the model's own metres, fused
        stage.process(Frame(pixels, 'rgb8', k * 33 * MS, 'cam'), Wanted(image=True))
    assert stage.temporal.status()['temporal_frames_fused'] == '2'
    # the anchors arrive: the wall is at 2.2 m, the correction switches on (x 1.1)
    stamp = 3 * 33 * MS
    stage.add_anchor_depth(stamp, np.full((H, W), 2.2, np.float32))
    out = stage.process(Frame(pixels, 'rgb8', stamp, 'cam'), Wanted(image=True))
    assert stage.aligner.filter.state == 'tracking'
    # was: averaged with the uncorrected history (a depth between 2.0 and 2.2 m)
    assert float(np.nanmedian(out.depth)) == pytest.approx(2.2, rel=0.01)
    assert stage.temporal.status()['temporal_last_reason'] == 'scale jump'
