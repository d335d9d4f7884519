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

"""Several cameras seen as one scene: any-view passes in the camera stage and the node.

Frames of two cameras stamped within ``multiview_slop`` go through ONE forward pass of an
any-view Depth Anything 3 network (counted on the network), conditioned on the cameras' poses
where ``extrinsics`` gives them, and equal to a direct call of the network with those poses;
each camera keeps its own outputs, header and alignment. Deterministic weights (``da3-tiny``,
embed width 64) at small sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ros_helpers.models import tiny_da3_estimators

from depth_anything_ros.core.camera_stage import (
    ALL_OUTPUTS,
    Calibration,
    CameraStage,
    Frame,
    process_frames,
)
from depth_anything_ros.params import validate

W, H = 80, 60
SLOP = 0.01
MS = 1_000_000
RIGHT = '0.12 0 0 0 0.1305262 0 0.9914449'   # 12 cm to the right, turned 15 degrees


@pytest.fixture(scope='module')
def estimators():
    return tiny_da3_estimators()


class Passes:
    """Records the input shape of every forward pass of an estimator's network."""

    def __init__(self, estimator) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self._hook = estimator.model.model.register_forward_pre_hook(
            lambda _m, args: self.shapes.append(tuple(args[0].shape)))

    def close(self) -> None:
        self._hook.remove()


@pytest.fixture
def passes(estimators):
    p = Passes(estimators['anyview'])
    yield p
    p.close()


def _pixels(shift: int, w: int = W, h: int = H) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    x = x * W // w + shift
    y = y * H // h
    return np.stack([(x * 3) % 256, (y * 4) % 256, ((x + y) * 7) % 256], -1).astype(np.uint8)


def _frame(shift: int, stamp_ns: int, frame_id: str, w: int = W, h: int = H) -> Frame:
    return Frame(_pixels(shift, w, h), 'rgb8', stamp_ns, frame_id)


def _calib(w: int = W, h: int = H) -> Calibration:
    return Calibration.from_intrinsics(70.0 * w / W, 70.0 * w / W, w / 2, h / 2, w, h)


def _stages(est, *, left: dict | None = None, right: dict | None = None, **common):
    base = {'mode': 'relative', 'input_size': 70, 'multiview_slop': SLOP, **common}
    stages = []
    for name, own in (('left', left or {}), ('right', right or {})):
        stage = CameraStage(est, validate({**base, **own}), name)
        stages.append(stage)
    return stages


def _pair(stages, dt_ns: int = 2 * MS, sizes=((W, H), (W, H))):
    (wl, hl), (wr, hr) = sizes
    return [(stages[0], _frame(0, 1_000 * MS, 'left_optical', wl, hl), ALL_OUTPUTS),
            (stages[1], _frame(9, 1_000 * MS + dt_ns, 'right_optical', wr, hr), ALL_OUTPUTS)]


def test_a_synchronised_pair_goes_through_one_forward_pass(estimators, passes) -> None:
    est = estimators['anyview']
    results = process_frames(_pair(_stages(est)))
    assert passes.shapes == [(1, 2, 3, 56, 70)]                   # ONE pass, two views
    left, right = results
    assert (left.views, right.views) == (2, 2) and not left.posed
    assert left.frame.frame_id == 'left_optical' and right.frame.frame_id == 'right_optical'
    assert left.frame.stamp_ns != right.frame.stamp_ns             # each keeps its own stamp
    # cross-view attention: each view differs from the same frame seen alone
    alone = est.estimate(left.frame.pixels, 'rgb8')
    assert not np.allclose(left.outputs.disparity, 1 / alone.depth, rtol=1e-3)
    # and equals one direct call of the network on the two views
    direct = est.estimate_views([left.frame.pixels, right.frame.pixels], 'rgb8')
    for res, ref in zip(results, direct):
        np.testing.assert_allclose(res.outputs.disparity, 1 / ref.depth, rtol=1e-6)
        np.testing.assert_array_equal(res.outputs.confidence, ref.confidence)


def test_a_frame_without_a_partner_in_the_slop_goes_single_view(estimators, passes) -> None:
    est = estimators['anyview']
    left, right = process_frames(_pair(_stages(est), dt_ns=int(SLOP * 1e9) + 1))
    assert (left.views, right.views) == (1, 1)
    assert passes.shapes == [(2, 3, 56, 70)]          # today's batch: two images, one view each
    np.testing.assert_allclose(left.outputs.disparity,
                               1 / est.estimate(left.frame.pixels, 'rgb8').depth, rtol=1e-5)
    # multiview_slop 0 (the default): today's behaviour whatever the stamps
    passes.shapes.clear()
    left, right = process_frames(_pair(_stages(est, multiview_slop=0.0), dt_ns=0))
    assert (left.views, right.views) == (1, 1) and passes.shapes == [(2, 3, 56, 70)]


def test_views_of_one_network_size_share_a_pass_and_others_go_alone(estimators,
                                                                      passes) -> None:
    est = estimators['anyview']
    # 160x120 and 80x60 have one network input (56x70): one pass, outputs at each frame's size
    left, right = process_frames(_pair(_stages(est), sizes=((W, H), (2 * W, 2 * H))))
    assert passes.shapes == [(1, 2, 3, 56, 70)]
    assert left.outputs.disparity.shape == (H, W)
    assert right.outputs.disparity.shape == right.outputs.confidence.shape == (2 * H, 2 * W)
    # portrait 60x80 (70x56) and landscape 80x60 (56x70): each alone, never squashed
    passes.shapes.clear()
    left, right = process_frames(_pair(_stages(est), sizes=((W, H), (H, W))))
    assert (left.views, right.views) == (1, 1)
    assert sorted(passes.shapes) == [(1, 3, 56, 70), (1, 3, 70, 56)]


def test_known_extrinsics_condition_the_pass_as_a_direct_call_with_those_poses(
        estimators, passes) -> None:
    import torch

    from depth_anything_ros.core.multiview import parse_extrinsics, pose_tensor
    from depth_anything_ros.models.da3.transforms import prepare_image
    from depth_anything_ros.models.transforms import postprocess
    est = estimators['anyview']
    stages = _stages(est, right={'extrinsics': RIGHT}, left={'extrinsics': '0 0 0 0 0 0 1'})
    for stage in stages:
        stage.add_camera_info(1_000 * MS, _calib())
    frames = _pair(stages)
    posed = process_frames(frames)
    assert passes.shapes == [(1, 2, 3, 56, 70)] and all(r.posed for r in posed)
    assert posed[0].note == ''
    assert [(s.view_frames, s.posed_frames) for s in stages] == [(1, 1), (1, 1)]
    plain = process_frames(_pair(_stages(est)))
    assert not np.allclose(posed[1].outputs.disparity, plain[1].outputs.disparity, rtol=1e-3)
    # the direct call: the official preprocessing (K follows it) and the normalised poses
    xs, ks = zip(*(prepare_image(f.pixels, _calib().model(W, H).intrinsics.k_matrix(), 70)
                   for _, f, _ in frames))
    ext = pose_tensor([np.eye(4), parse_extrinsics(RIGHT)])
    with torch.inference_mode():
        out = est.model.model(torch.stack(xs)[None], torch.from_numpy(ext).float()[None],
                              torch.from_numpy(np.stack(ks)).float()[None])
    depth = postprocess(out['depth'][0], (H, W)).numpy()
    for j, res in enumerate(posed):
        np.testing.assert_allclose(res.outputs.disparity, 1 / depth[j], rtol=1e-5)
    # poses from a lookup (TF) where no camera has extrinsics: the same pass
    lookups = []

    def lookup(target: str, source: str) -> np.ndarray:
        lookups.append((target, source))
        return np.eye(4) if source == target else parse_extrinsics(RIGHT)
    stages = _stages(est)
    for stage in stages:
        stage.add_camera_info(1_000 * MS, _calib())
    tf = process_frames(_pair(stages), lookup=lookup)
    assert ('left_optical', 'right_optical') in lookups and all(r.posed for r in tf)
    np.testing.assert_allclose(tf[1].outputs.disparity, posed[1].outputs.disparity, rtol=1e-6)


def test_without_intrinsics_or_with_partial_poses_the_pass_runs_unposed_and_says_why(
        estimators) -> None:
    est = estimators['anyview']
    stages = _stages(est, right={'extrinsics': RIGHT}, left={'extrinsics': '0 0 0 0 0 0 1'})
    left, right = process_frames(_pair(stages))            # no camera_info, no fx/fy
    assert left.views == 2 and not left.posed and 'no intrinsics' in left.note
    assert (stages[0].view_frames, stages[0].posed_frames) == (1, 0)
    assert 'no intrinsics' in stages[0].views_note
    stages = _stages(est, right={'extrinsics': RIGHT})
    left, _ = process_frames(_pair(stages))
    assert not left.posed and 'no extrinsics for left' in left.note

    def broken(target: str, source: str) -> np.ndarray:
        raise ValueError(f'no transform {source!r} -> {target!r}')
    left, _ = process_frames(_pair(_stages(est)), lookup=broken)
    assert left.views == 2 and not left.posed and 'no transform' in left.note
    stages = _stages(est)
    for stage in stages:
        stage.add_camera_info(1_000 * MS, _calib())
    left, _ = process_frames(_pair(stages), lookup=lambda t, s: np.full((4, 4), np.nan))
    assert left.views == 2 and not left.posed and 'finite' in left.note


def test_alignment_state_stays_per_camera_in_an_any_view_pass(estimators) -> None:
    est = estimators['anyview']
    stages = _stages(est, alignment='sparse', alignment_max_jump=10.0)
    for stage in stages:
        stage.add_camera_info(1_000 * MS, _calib())
        stage.add_anchor_camera_info(_calib())
    free = process_frames(_pair(_stages(est)))
    # each camera's anchors: its own any-view disparity under its own scale and shift
    truth = []
    for stage, res, (scale, shift) in zip(stages, free, ((2.0, 0.1), (5.0, 0.3))):
        depth = 1.0 / (scale * res.outputs.disparity + shift)
        stage.add_anchor_depth(res.frame.stamp_ns, depth.astype(np.float32))
        truth.append(depth)
    aligned = process_frames(_pair(stages))
    for res, depth in zip(aligned, truth):
        assert res.views == 2
        np.testing.assert_allclose(res.outputs.depth, depth, rtol=1e-3)


def test_wrong_view_counts_and_one_view_models_are_one_clear_line(estimators) -> None:
    est = estimators['anyview']
    with pytest.raises(ValueError, match=r'takes 1 to 8 view\(s\) in one pass') as err:
        est.estimate_views([_pixels(0)] * 9, 'rgb8')
    assert '\n' not in str(err.value)
    with pytest.raises(ValueError, match='one network input size'):
        est.estimate_views([_pixels(0), _pixels(0, H, W)], 'rgb8')
    with pytest.raises(ValueError, match=r'extrinsics \(2, 4, 4\)'):
        est.estimate_views([_pixels(0)] * 2, 'rgb8', [np.eye(3)] * 2, np.eye(4)[None])
    metric = estimators['metric']
    assert metric.max_views == 1 and est.max_views == 8 and est.takes_poses
    # a one-view model never groups: each frame alone, whatever multiview_slop says
    stages = _stages(metric, mode='metric', fx=70.0, fy=70.0, cx=40.0, cy=30.0,
                     calib_width=W, calib_height=H, max_depth=1000.0, min_depth=0.0)
    assert [r.views for r in process_frames(_pair(stages))] == [1, 1]


def test_six_and_seven_number_extrinsics_agree(estimators) -> None:
    from depth_anything_ros.core.multiview import parse_extrinsics
    q = parse_extrinsics(RIGHT)
    e = parse_extrinsics(f'0.12 0 0 0 {math.radians(15):.9f} 0')
    np.testing.assert_allclose(q, e, atol=1e-6)


# ---------------------------------------------------------------------------------- the node

class _Node:
    """A two-camera DepthNode in this process on the real any-view estimator."""

    def __init__(self, ctx, estimator, **params) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image

        from depth_anything_ros.ros.node import DepthNode
        values = {'diagnostics_period': 0.2, 'input_size': 70, 'mode': 'relative',
                  'cameras': ['left', 'right'], **params}
        self.node = DepthNode(estimator=estimator, context=ctx,
                              parameter_overrides=[Parameter(k, value=v)
                                                   for k, v in values.items()])
        self.sub = Node('anyview_harness', context=ctx)
        self.msgs: dict[str, list] = {}
        for cam in ('left', 'right'):
            for topic in ('disparity/image', 'depth/confidence'):
                self.msgs[f'{cam}/{topic}'] = box = []
                self.sub.create_subscription(Image, f'{cam}/{topic}', box.append, 10)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.sub)

    def matched(self) -> bool:
        from depth_anything_ros.ros.topics import DEPTH_CONFIDENCE, DISPARITY_IMAGE
        return all(self.node.publisher(t, c).get_subscription_count() > 0
                   for t in (DEPTH_CONFIDENCE, DISPARITY_IMAGE) for c in ('left', 'right'))

    def spin_until(self, predicate, timeout: float = 15.0) -> bool:
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def image(self, camera: str, shift: int, stamp_ns: int):
        from sensor_msgs.msg import Image
        msg = Image(width=W, height=H, encoding='rgb8', step=W * 3,
                    data=_pixels(shift).tobytes())
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        msg.header.frame_id = f'{camera}_optical'
        cam = next(c for c in self.node._cameras if c.name == camera)
        self.node._on_image(msg, cam)

    def close(self) -> None:
        self.node.stop_worker(5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.sub.destroy_node()


@pytest.mark.ros
def test_the_node_runs_one_pass_per_synchronised_pair_with_per_camera_headers(
        estimators, harness_ctx) -> None:
    from rclpy.parameter import Parameter

    from depth_anything_ros.ros.publishing import diagnostics
    est = estimators['anyview']
    passes = Passes(est)
    h = _Node(harness_ctx, est, multiview_slop=0.5)   # wall-time margin for a loaded host
    try:
        assert h.spin_until(h.matched)
        h.image('left', 0, 5_000 * MS)
        h.image('right', 9, 5_000 * MS + 3 * MS)
        assert h.spin_until(lambda: all(h.msgs.values()))
        assert passes.shapes == [(1, 2, 3, 56, 70)]                 # one pass for the pair
        left, right = h.msgs['left/disparity/image'][0], h.msgs['right/disparity/image'][0]
        assert left.header.frame_id == 'left_optical' and right.header.frame_id == 'right_optical'
        assert (left.header.stamp.sec, left.header.stamp.nanosec) == (5, 0)
        assert (right.header.stamp.sec, right.header.stamp.nanosec) == (5, 3 * MS)
        assert h.msgs['right/depth/confidence'][0].header == right.header
        status = diagnostics(h.node.get_name(), h.node._cameras, est, 'm', 70, None).status
        values = {kv.key: kv.value for kv in status[1].values}
        assert (values['anyview_frames'], values['anyview_posed']) == ('1', '0')
        # a frame without a partner: processed alone, after at most the slop
        passes.shapes.clear()
        h.image('left', 0, 6_000 * MS)
        assert h.spin_until(lambda: len(h.msgs['left/disparity/image']) == 2)
        assert passes.shapes == [(1, 3, 56, 70)]
        # bad input at runtime: refused in one line, the node keeps running
        bad = h.node.set_parameters([Parameter('right.extrinsics', value='1 2 nan 0 0 0 1')])
        assert not bad[0].successful and "camera 'right'" in bad[0].reason
        assert 'extrinsics' in bad[0].reason and 'finite' in bad[0].reason
        passes.shapes.clear()
        h.image('left', 0, 7_000 * MS)
        h.image('right', 9, 7_000 * MS)
        assert h.spin_until(lambda: len(h.msgs['right/disparity/image']) == 2)
        assert passes.shapes == [(1, 2, 3, 56, 70)]
    finally:
        passes.close()
        h.close()


@pytest.mark.ros
def test_multiview_slop_with_a_one_view_model_is_refused_in_one_line(estimators,
                                                                       harness_ctx) -> None:
    from rclpy.parameter import Parameter
    params = {'mode': 'metric', 'fx': 70.0, 'fy': 70.0, 'cx': 40.0, 'cy': 30.0,
              'calib_width': W, 'calib_height': H, 'max_depth': 1000.0, 'min_depth': 0.0}
    with pytest.raises(ValueError, match='needs an any-view model') as err:
        _Node(harness_ctx, estimators['metric'], multiview_slop=0.02, **params)
    assert 'set multiview_slop 0' in str(err.value) and '\n' not in str(err.value)
    h = _Node(harness_ctx, estimators['metric'], **params)
    try:
        assert h.node.get_parameter('multiview_slop').value == 0.0
        res = h.node.set_parameters([Parameter('multiview_slop', value=0.02)])
        assert not res[0].successful and 'needs an any-view model' in res[0].reason
        assert h.node.get_parameter('multiview_slop').value == 0.0
    finally:
        h.close()


@pytest.mark.ros
def test_the_anyview_example_configures_both_cameras_with_their_poses(estimators,
                                                                     ros_domain: int) -> None:
    from pathlib import Path

    import rclpy

    from depth_anything_ros.ros.node import DepthNode
    example = Path(__file__).resolve().parents[1] / 'config' / 'examples' / 'anyview_cameras.yaml'
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain,
               args=['node', '--ros-args', '--params-file', str(example), '-p',
                     'checkpoint:=untrained:da3-tiny'])
    node = DepthNode(estimator=estimators['anyview'], context=ctx)
    try:
        left, right = node._cameras
        assert node.get_parameter('multiview_slop').value == 0.01
        np.testing.assert_allclose(left.stage.extrinsics, np.eye(4))
        assert right.stage.extrinsics[0, 3] == pytest.approx(0.12)
    finally:
        node.stop_worker(5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


class _Cam:
    """The part of a node camera the worker's any-view wait reads."""

    def __init__(self, slop: float) -> None:
        from types import SimpleNamespace
        self.stage = SimpleNamespace(cfg=validate({'multiview_slop': slop}))
        self.stats = SimpleNamespace(last_input=None, input_interval=None)   # no rate yet


class _Gate:
    """The part of the publish gate the wait reads: every camera's outputs are wanted."""

    @staticmethod
    def wanted(camera):
        from depth_anything_ros.core.pipeline import Wanted
        return Wanted(image=True)


def _pending(stamp_ns: int):
    from sensor_msgs.msg import Image

    from depth_anything_ros.ros.worker import Pending
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return Pending(msg, 0.0)


@pytest.mark.ros
def test_the_worker_waits_for_a_partner_stamped_within_the_slop_and_no_longer(
        estimators) -> None:
    import threading
    import time

    from depth_anything_ros.core.sync import CameraSlots
    from depth_anything_ros.ros.worker import Worker
    left, right = _Cam(0.3), _Cam(0.3)   # stamps 1 s apart per trigger (time to spare)
    slot = CameraSlots()
    worker = Worker(slot, [left, right], estimators['anyview'], _Gate(), None, None, None,
                    None)
    assert worker._gather() == 0.3

    def take():
        t0 = time.monotonic()
        items = slot.take(1.0, worker._gather(), worker._views_ready)
        return [stamp_of(item) for _, item in items], time.monotonic() - t0

    def stamp_of(item) -> int:
        return item.msg.header.stamp.sec * 1_000_000_000 + item.msg.header.stamp.nanosec

    # right's pending frame is from the previous trigger: wait for its next one, which pairs
    slot.put(left, _pending(2_000 * MS))
    slot.put(right, _pending(1_010 * MS))
    threading.Timer(0.01, slot.put, (right, _pending(2_010 * MS))).start()
    stamps, waited = take()
    assert stamps == [2_000 * MS, 2_010 * MS] and waited < 0.3 + 0.5
    # no partner ever: the frame goes alone after the slop, never later
    slot.put(left, _pending(3_000 * MS))
    stamps, waited = take()
    assert stamps == [3_000 * MS] and 0.29 <= waited < 0.3 + 0.5
    # a one-view model never waits
    one = Worker(slot, [left, right], estimators['metric'], None, None, None, None, None)
    assert one._gather() == 0.0
