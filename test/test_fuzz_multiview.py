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

"""Property tests of any-view grouping, extrinsics and the partner wait under hostile input.

* ``parse_extrinsics`` on garbage text: None, a finite rigid 4x4 or one ValueError line; the
  poses it accepts give finite network extrinsics (``pose_tensor``) or a ValueError.
* ``group_views`` with duplicate, far-future and out-of-order stamps and zero or negative slop:
  every frame in exactly one group, one camera at most once per group, a group within the slop
  of its first frame, of one network input and at most ``max_views``.
* ``CameraSlots.take`` with a partner wait: never longer than the timeout plus the wait, a
  close wakes it at once.
* ``process_frames`` with the tiny any-view model: cameras of different sizes and encodings
  with random stamps and extrinsics; each result is its own frame's (stamp, frame_id, size),
  finite where it is valid, and equal to a direct call of the network on the same views.
"""

from __future__ import annotations

import threading
import time

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from depth_anything_ros.core.multiview import (
    group_views,
    parse_extrinsics,
    pose_tensor,
    stamps_match,
)
from depth_anything_ros.core.sync import CameraSlots

MS = 1_000_000

_NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10 ** 400, 10 ** 400).map(str),
    st.sampled_from(['0', '1', '-1', '1e308', '-1e308', '1e-320', 'nan', 'inf', '-inf', '0x10',
                     '1_0', '', ',', ';', '1e', '--1', '0.7071068', '\u0661', 'NaN', 'Infinity']),
    st.text(max_size=4))


@given(st.lists(_NUMBER_TEXT, max_size=18).map(' '.join))
def test_extrinsics_text_is_a_rigid_transform_or_one_clear_line(text) -> None:
    try:
        m = parse_extrinsics(text)
    except ValueError as exc:
        assert '\n' not in str(exc) and 'extrinsics' in str(exc) or 'quaternion' in str(exc)
        return
    if m is None:
        assert not text.replace(',', ' ').replace(';', ' ').split()
        return
    assert m.shape == (4, 4) and np.isfinite(m).all()
    np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-3)
    # whatever parses conditions a pass with finite numbers, or is refused (a note)
    for poses in ([np.eye(4), m], [m, np.eye(4)], [m, -m * 0 + np.eye(4), m]):
        try:
            ext = pose_tensor(poses)
        except ValueError as exc:
            assert '\n' not in str(exc)
            continue
        assert np.isfinite(ext).all(), (text, ext)


@given(st.sampled_from([
    '1e308 0 0 0 0 0 1', '-1e308 0 0 0 0 0 1', '1e200 1e200 1e200 0 0 0', '0 0 1e308 0 0 0'
]), st.sampled_from(['0 0 0 0 0 0 1', '-1e308 0 0 0 0 0 1', '1e-300 0 0 0 0 0']))
def test_huge_but_finite_extrinsics_never_give_the_network_inf(a, b) -> None:
    poses = [parse_extrinsics(a), parse_extrinsics(b)]
    try:
        ext = pose_tensor(poses)
    except ValueError as exc:
        assert 'pose' in str(exc) and '\n' not in str(exc)
        return
    assert np.isfinite(ext).all(), ext


_SLOPS = st.one_of(st.sampled_from([0.0, -0.0, -1.0, 1e-12, 0.001, 0.01, 0.5, 1.0]),
                   st.floats(-1.0, 1.0))


@given(st.lists(st.tuples(st.integers(0, 3),
                          st.one_of(st.integers(0, 40).map(lambda t: t * MS),
                                    st.sampled_from([0, 2 ** 62, 2 ** 31 * 10 ** 9])),
                          st.sampled_from([(56, 70), (70, 56)])), max_size=12),
       _SLOPS, st.integers(0, 9))
def test_groups_partition_the_frames_within_the_slop(frames, slop, max_views) -> None:
    cameras = [c for c, _, _ in frames]
    stamps = [s for _, s, _ in frames]
    shapes = [sh for _, _, sh in frames]
    groups = group_views(cameras, stamps, shapes, slop, max_views)
    flat = sorted(i for g in groups for i in g)
    assert flat == list(range(len(frames)))
    for g in groups:
        assert g == sorted(g)
        if len(g) > 1:
            assert slop > 0 and max_views >= 2 and len(g) <= max_views
            assert len({cameras[i] for i in g}) == len(g)
            assert len({shapes[i] for i in g}) == 1
            assert max(stamps[i] for i in g) - min(stamps[i] for i in g) <= round(slop * 1e9)
            assert stamps_match([stamps[i] for i in g], slop)
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)


@given(st.sampled_from([0.0, 0.01, 0.05, 0.2]), st.sampled_from([0.0, 0.05, 0.2]),
       st.lists(st.sampled_from(['a', 'b', 'c']), max_size=3))
@settings(max_examples=12, suppress_health_check=[HealthCheck.too_slow])
def test_the_partner_wait_never_blocks_beyond_its_bound(gather, timeout, present) -> None:
    slots: CameraSlots[str, int] = CameraSlots()
    for cam in present:
        slots.put(cam, 1)
    start = time.monotonic()
    got = slots.take(timeout, gather, lambda pending: len(pending) >= 3)
    elapsed = time.monotonic() - start
    assert elapsed <= timeout + gather + 0.5, elapsed
    assert sorted(k for k, _ in got) == sorted(set(present))


def test_a_close_wakes_a_worker_waiting_for_a_partner_at_once() -> None:
    slots: CameraSlots[str, int] = CameraSlots()
    slots.put('left', 1)                 # the right camera never comes
    out: list = []
    worker = threading.Thread(
        target=lambda: out.append(slots.take(5.0, 30.0, lambda pending: len(pending) > 1)))
    worker.start()
    time.sleep(0.1)
    start = time.monotonic()
    slots.close()                        # deactivate / cleanup / shutdown mid-wait
    worker.join(5.0)
    assert not worker.is_alive() and out == [[]]
    assert time.monotonic() - start < 2.0


# ------------------------------------------------------------------ the stage, tiny any-view

W, H = 80, 60
_SIZES = [(W, H), (2 * W, 2 * H), (H, W)]
_ENCODINGS = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8']


@pytest.fixture(scope='module')
def estimator():
    import torch

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.models.loading import load_model
    torch.set_num_threads(1)
    return DepthEstimator(load_model('untrained:da3-tiny', allow_untrained=True),
                          device='cpu', backend='torch', precision='fp32', input_size=70)


def _pixels(seed: int, w: int, h: int, encoding: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    channels = {'mono8': 0, 'rgba8': 4, 'bgra8': 4}.get(encoding, 3)
    shape = (h, w) if channels == 0 else (h, w, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


@given(st.lists(st.tuples(st.sampled_from(_SIZES), st.sampled_from(_ENCODINGS),
                          st.integers(0, 12).map(lambda t: t * MS),
                          st.sampled_from(['', '', '0 0 0 0 0 0 1', '0.1 0 0 0 0.2 0',
                                           '1e308 0 0 0 0 0 1', '0 0 0 0 0 0 1e-300 '])),
                min_size=2, max_size=3),
       st.integers(0, 1000))
@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])
def test_each_view_keeps_its_own_frame_and_equals_a_direct_call(estimator, cams, seed) -> None:
    from depth_anything_ros.core.camera_stage import (
        ALL_OUTPUTS,
        Calibration,
        CameraStage,
        Frame,
        process_frames,
    )
    from depth_anything_ros.params import validate
    frames = []
    for k, ((w, h), enc, stamp, ext) in enumerate(cams):
        try:
            parse_extrinsics(ext)
        except ValueError:
            ext = ''
        stage = CameraStage(estimator, validate({
            'mode': 'relative', 'input_size': 70, 'multiview_slop': 0.005, 'extrinsics': ext}),
            f'cam{k}')
        stage.add_camera_info(0, Calibration.from_intrinsics(70.0 * w / W, 70.0 * w / W,
                                                              w / 2, h / 2, w, h))
        frames.append((stage, Frame(_pixels(seed + k, w, h, enc), enc, 1_000 * MS + stamp,
                                    f'cam{k}_optical'), ALL_OUTPUTS))
    results = process_frames(frames)
    for (_, frame, _), res in zip(frames, results):
        assert res.frame is frame
        h, w = frame.pixels.shape[:2]
        assert res.outputs.disparity.shape == (h, w)
        d = res.outputs.disparity
        assert not np.isinf(d).any()
        assert np.isfinite(d).mean() > 0.5, (res.views, res.posed, res.note)
    # a pass of several views equals one direct call of the network on them
    by_views: dict = {}
    for (_, frame, _), res in zip(frames, results):
        if res.views > 1 and not res.posed:
            by_views.setdefault(res.views, []).append((frame, res))
    for views in by_views.values():
        if len(views) < 2:
            continue
        direct = estimator.estimate_views([f.pixels for f, _ in views],
                                          [f.encoding for f, _ in views])
        for (_, res), ref in zip(views, direct):
            np.testing.assert_allclose(res.outputs.disparity, 1 / ref.depth, rtol=1e-5)


def test_extrinsics_that_overflow_run_the_pass_unposed_with_a_note(estimator) -> None:
    from depth_anything_ros.core.camera_stage import (
        ALL_OUTPUTS,
        Calibration,
        CameraStage,
        Frame,
        process_frames,
    )
    from depth_anything_ros.params import validate
    frames = []
    # each accepted by the parameter check; their difference overflows float64
    for k, ext in enumerate(('1e308 0 0 0 0 0 1', '-1e308 0 0 0 0 0 1')):
        stage = CameraStage(estimator, validate({
            'mode': 'relative', 'input_size': 70, 'multiview_slop': 0.01, 'extrinsics': ext}))
        stage.add_camera_info(0, Calibration.from_intrinsics(70.0, 70.0, 40.0, 30.0, W, H))
        frames.append((stage, Frame(_pixels(k, W, H, 'rgb8'), 'rgb8', 1_000 * MS, f'c{k}'),
                       ALL_OUTPUTS))
    results = process_frames(frames)      # was: ValueError 'no valid pixel' for every frame
    direct = estimator.estimate_views([f.pixels for _, f, _ in frames], 'rgb8')
    for res, ref in zip(results, direct):
        assert res.views == 2 and not res.posed and 'no pose conditioning' in res.note
        np.testing.assert_allclose(res.outputs.disparity, 1 / ref.depth, rtol=1e-5)


class _TwoCameras:
    """A two-camera node (any-view, ``multiview_slop`` 1 s) with a subscriber to the left one."""

    def __init__(self, ctx, estimator) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image

        from depth_anything_ros.ros.node import DepthNode
        from depth_anything_ros.ros.publishing import subscribed
        values = {'input_size': 70, 'mode': 'relative', 'cameras': ['left', 'right'],
                  'multiview_slop': 1.0}     # the longest wait the parameter allows
        # a name of its own: the sizes its cameras saw are remembered per node name, and
        # another test's depth_node would warm up with them
        self.node = DepthNode(estimator=estimator, context=ctx, parameter_overrides=[
            Parameter(k, value=v) for k, v in values.items()],
            cli_args=['--ros-args', '-r', '__node:=partner_test_node'])
        self.sub = Node('partner_harness', context=ctx)
        self.got: list = []
        self.sub.create_subscription(Image, 'left/disparity/image', self.got.append, 10)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.sub)
        self.left, self.right = self.node._cameras
        end = time.monotonic() + 15.0
        while time.monotonic() < end and not self.left.stage.wanted(
                subscribed(self.left)).any():
            self.executor.spin_once(timeout_sec=0.02)

    def image(self, camera, stamp_ns: int = 0) -> None:
        from sensor_msgs.msg import Image
        msg = Image(width=W, height=H, encoding='rgb8', step=W * 3,
                    data=_pixels(0, W, H, 'rgb8').tobytes())
        msg.header.frame_id = f'{camera.name}_optical'
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        self.node._on_image(msg, camera)

    def close(self) -> None:
        self.node.stop_worker(5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.sub.destroy_node()


@pytest.mark.ros
def test_stopping_the_node_while_a_frame_waits_for_its_partner_is_immediate(
        estimator, harness_ctx) -> None:
    h = _TwoCameras(harness_ctx, estimator)
    try:
        h.right.stage.wanted = lambda requested, cfg=None: requested.__class__(image=True)
        h.image(h.left)                      # the right camera (subscribed) is yet to publish
        time.sleep(0.3)                      # the worker now waits for a partner
        assert h.node._slot._items and not h.got, 'the frame should wait for its partner'
        start = time.monotonic()
        assert h.node.stop_worker(5.0)       # deactivate / cleanup / shutdown mid-wait
        assert time.monotonic() - start < 0.5
    finally:
        h.close()


@pytest.mark.ros
def test_a_frame_never_waits_for_a_camera_that_stopped_publishing(estimator,
                                                                   harness_ctx) -> None:
    h = _TwoCameras(harness_ctx, estimator)
    try:
        h.right.stage.wanted = lambda requested, cfg=None: requested.__class__(image=True)
        h.image(h.right)                     # the right camera published at its rate ...
        h.image(h.right, 33 * MS)
        deadline = time.monotonic() + 5.0
        while h.node._slot._items and time.monotonic() < deadline:
            time.sleep(0.01)
        h.right.stats.last_input -= 10.0     # ... ten seconds ago, then stopped
        h.image(h.left)
        time.sleep(0.3)
        # was: every frame of the left camera waited the whole slop (1 s) for it
        assert not h.node._slot._items, 'the frame waits for a camera that stopped'
    finally:
        h.close()


@pytest.mark.ros
def test_a_frame_never_waits_for_a_camera_whose_frames_nobody_wants(estimator,
                                                                     harness_ctx) -> None:
    h = _TwoCameras(harness_ctx, estimator)
    try:
        for k in range(3):                   # the right camera publishes, nobody subscribes
            h.image(h.right, k * 33 * MS)
        assert not h.node._slot._items       # its frames are never pending: no partner
        h.image(h.left)
        time.sleep(0.3)
        # was: the left frame waited the whole slop (1 s) for a partner that cannot come
        assert not h.node._slot._items, 'the frame waits for a camera nobody wants'
    finally:
        h.close()


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 40)), min_size=1,
                max_size=6))
@settings(max_examples=6, suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
def test_temporal_fuse_per_camera_through_passes_of_one_and_two_views(estimator, steps) -> None:
    from depth_anything_ros.core.camera_stage import (
        ALL_OUTPUTS,
        Calibration,
        CameraStage,
        Frame,
        process_frames,
    )
    from depth_anything_ros.core.temporal import PoseBuffer
    from depth_anything_ros.params import validate
    still = PoseBuffer()
    stages = []
    for k in range(2):
        still.add('odom', f'c{k}', 0, (0.1 * k, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0), static=True)
        stage = CameraStage(estimator, validate({
            'mode': 'relative', 'input_size': 70, 'multiview_slop': 0.005, 'temporal': 'fuse',
            'disparity_scale': 0.5, 'disparity_shift': 0.05}), f'c{k}')
        stage.add_camera_info(0, Calibration.from_intrinsics(70.0, 70.0, 40.0, 30.0, W, H))
        stage.temporal.poses = still
        stages.append(stage)
    stamp = 1_000 * MS
    for left, right, offset_ms in steps:     # a camera that stops and comes back; late frames
        stamp += 33 * MS
        frames = [(stages[k], Frame(_pixels(k, W, H, 'rgb8'), 'rgb8',
                                    stamp + k * offset_ms * MS, f'c{k}'), ALL_OUTPUTS)
                  for k, on in enumerate((left, right)) if on]
        for (_, frame, _), res in zip(frames, process_frames(frames)):
            assert res.frame is frame and res.outputs.disparity.shape == (H, W)
            assert np.isfinite(res.outputs.disparity).any()
    for stage in stages:
        status = stage.temporal.status()
        assert int(status['temporal_frames_fused']) + int(status['temporal_resets']) == \
            int(status['temporal_frames'])
