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

"""Depth Anything 3 in the node: its input size, and the node as a process over DDS.

The DDS tests run the full ``da3-small`` and ``da3metric-large`` networks with deterministic
weights (``untrained:<name>``) at input size 70, in the node's own process, fed and read from
this one: depth, confidence, cloud and their headers; ``min_confidence`` gating depth and cloud;
metric depth following the camera_info focal length exactly, and no metric depth (with the
reason on ``/diagnostics``) without one. The input-size tests run the node in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import time
from typing import Any

import numpy as np
import pytest
from ros_helpers.camera_publisher import make_pixels
from ros_helpers.harness import log_of, Recorder, stamp_ns

from depth_anything_ros.offline.node_process import node_arguments

W, H = 64, 48
CX, CY = 30.5, 25.0      # not the image centre
PERIOD_NS = 50_000_000


class Player:
    """Publish one static picture with camera_info of a chosen focal length (or none)."""

    def __init__(self, node: Any) -> None:
        from sensor_msgs.msg import CameraInfo, Image
        self.node = node
        self.pub_img = node.create_publisher(Image, 'camera/image', 10)
        self.pub_info = node.create_publisher(CameraInfo, 'camera/camera_info', 10)
        self.base_ns = node.get_clock().now().nanoseconds
        self.index = 0
        self.fx_of: dict[int, float | None] = {}   # stamp -> fx sent with it
        self.pixels = make_pixels(W, H, 3, 0)

    def send(self, fx: float | None) -> int:
        """Publish the picture (and camera_info with ``fx`` = ``fy``); return its stamp."""
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import CameraInfo, Image
        ns = self.base_ns + self.index * PERIOD_NS
        self.index += 1
        stamp = Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        if fx is not None:
            info = CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=[0.0] * 5)
            info.k = [fx, 0.0, CX, 0.0, fx, CY, 0.0, 0.0, 1.0]
            info.p = [fx, 0.0, CX, 0.0, 0.0, fx, CY, 0.0, 0.0, 0.0, 1.0, 0.0]
            info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            info.header.stamp, info.header.frame_id = stamp, 'camera_optical_frame'
            self.pub_info.publish(info)
        img = Image(width=W, height=H, encoding='rgb8', step=W * 3, data=self.pixels.tobytes())
        img.header.stamp, img.header.frame_id = stamp, 'camera_optical_frame'
        self.pub_img.publish(img)
        self.fx_of[ns] = fx
        return ns


def stream(rec: Recorder, proc: Any, send: Callable[[], object], until: Callable[[], bool],
           timeout: float, period: float = 0.3) -> bool:
    """Call ``send`` every ``period`` s while spinning, until ``until()`` or ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        send()
        if rec.spin_until(until, period, proc):
            return True
        if proc.poll() is not None:
            return until()
    return until()


def start(ros_node: Any, spawn: Any, tmp_path: Path, name: str, topics: tuple[str, ...],
          **params: Any) -> tuple[Any, Path, Recorder, Player]:
    """Start the node on ``untrained:<name>``; subscribe ``topics`` and /diagnostics."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    log = tmp_path / 'node.log'
    args = node_arguments(
        {'checkpoint': f'untrained:{name}', 'allow_untrained_weights': True, 'encoder': name,
         'device': 'cpu', 'backend': 'torch', 'precision': 'fp32', 'input_size': 70,
         'cpu_threads': 1, 'diagnostics_period': 0.5, 'min_depth': 0.0, 'max_depth': 1000.0,
         'cache_dir': str(tmp_path / 'cache'), **params},
        {'image': 'camera/image', 'camera_info': 'camera/camera_info'})
    proc = spawn('-m', 'depth_anything_ros.ros.node', '--ros-args', *args, stdout=log.open('w'))
    rec = Recorder(ros_node)
    rec.listen(DiagnosticArray, '/diagnostics')
    kinds = {'points': PointCloud2, 'depth/camera_info': CameraInfo}
    for topic in topics:
        rec.listen(kinds.get(topic, Image), topic)
    player = Player(ros_node)
    linked = rec.spin_until(lambda: player.pub_img.get_subscription_count() > 0 and all(
        ros_node.count_publishers(t) > 0 for t in topics), 120, proc)
    assert linked, log_of(log)
    return proc, log, rec, player


def by_stamp(rec: Recorder, topic: str) -> dict[int, Any]:
    return {stamp_ns(m.header): m for m in rec.msgs[topic]}


def common_stamps(rec: Recorder, topics: tuple[str, ...]) -> list[int]:
    stamps = set(by_stamp(rec, topics[0]))
    for topic in topics[1:]:
        stamps &= set(by_stamp(rec, topic))
    return sorted(stamps)


def check_cloud(cloud_msg: Any, depth: np.ndarray, fx: float) -> None:
    """Check the organized cloud is the depth back-projected with the camera_info's K."""
    from depth_anything_ros.ros.conversions import cloud_to_array
    assert (cloud_msg.height, cloud_msg.width) == (H, W) and cloud_msg.is_dense is False
    cloud = cloud_to_array(cloud_msg)
    np.testing.assert_array_equal(cloud['z'], depth)                  # NaN where depth is NaN
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(cloud['x'], (u - CX) / fx * cloud['z'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud['y'], (v - CY) / fx * cloud['z'], rtol=1e-5, atol=1e-6)


def check_header(msg: Any, player: Player) -> None:
    assert msg.header.frame_id == 'camera_optical_frame'
    assert stamp_ns(msg.header) in player.fx_of            # an input's stamp, unchanged


@pytest.mark.ros
@pytest.mark.slow
def test_da3_small_over_dds_depth_confidence_cloud_and_min_confidence(
        ros_node, spawn, tmp_path: Path) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    from depth_anything_ros.ros.conversions import image_to_array
    topics = ('depth/image', 'depth/confidence', 'disparity/image', 'points',
              'depth/camera_info')
    # relative depth; disparity_scale 1 publishes the network's depth as depth/image (1/d)
    proc, log, rec, player = start(ros_node, spawn, tmp_path, 'da3-small', topics,
                                   mode='relative', disparity_scale=1.0)
    fx = 80.0
    assert stream(rec, proc, lambda: player.send(fx),
                  lambda: len(common_stamps(rec, topics)) >= 1, 120), log_of(log)
    stamp = common_stamps(rec, topics)[0]
    msgs = {t: by_stamp(rec, t)[stamp] for t in topics}
    for topic, msg in msgs.items():
        check_header(msg, player)
        assert msg.header == msgs['depth/image'].header, topic
    for topic in ('depth/image', 'depth/confidence', 'disparity/image'):
        assert (msgs[topic].encoding, msgs[topic].width, msgs[topic].height) == (
            '32FC1', W, H), topic
    depth = image_to_array(msgs['depth/image'])
    conf = image_to_array(msgs['depth/confidence'])
    disparity = image_to_array(msgs['disparity/image'])
    assert np.isfinite(depth).all() and np.isfinite(conf).all()
    assert conf.min() >= 1.0                                 # 1 + exp(.): the documented range
    np.testing.assert_allclose(depth, 1.0 / disparity, rtol=1e-6)
    check_cloud(msgs['points'], depth, fx)

    # --- min_confidence (runtime): low-confidence pixels become NaN in depth and cloud
    threshold = float(np.median(conf))
    client = AsyncParameterClient(ros_node, 'depth_node')
    assert client.wait_for_services(timeout_sec=10.0)
    result = rec.call(client.set_parameters([Parameter('min_confidence', value=threshold)]))
    assert result.results[0].successful
    seen = set(common_stamps(rec, topics))
    assert stream(rec, proc, lambda: player.send(fx), lambda: any(
        s not in seen and np.isnan(image_to_array(by_stamp(rec, 'depth/image')[s])).any()
        for s in common_stamps(rec, topics)), 60), log_of(log)
    gated = next(s for s in common_stamps(rec, topics) if s not in seen and np.isnan(
        image_to_array(by_stamp(rec, 'depth/image')[s])).any())
    gated_depth = image_to_array(by_stamp(rec, 'depth/image')[gated])
    gated_conf = image_to_array(by_stamp(rec, 'depth/confidence')[gated])
    np.testing.assert_array_equal(gated_conf, conf)          # the same picture, unchanged
    low = conf < threshold
    assert low.any() and (~low).any()
    assert np.isnan(gated_depth[low]).all()
    np.testing.assert_allclose(gated_depth[~low], depth[~low], rtol=1e-6)
    assert np.isnan(image_to_array(by_stamp(rec, 'disparity/image')[gated])[low]).all()
    check_cloud(by_stamp(rec, 'points')[gated], gated_depth, fx)

    # --- a threshold no pixel reaches: each frame is refused with the reason, the node runs on
    result = rec.call(client.set_parameters([Parameter('min_confidence', value=1.0e5)]))
    assert result.results[0].successful
    assert stream(rec, proc, lambda: player.send(fx), lambda: 'no valid pixel' in
                  rec.diagnostics().get('last_error', ''), 60), rec.diagnostics()
    result = rec.call(client.set_parameters([Parameter('min_confidence', value=0.0)]))
    assert result.results[0].successful
    seen = set(common_stamps(rec, topics))
    assert stream(rec, proc, lambda: player.send(fx), lambda: any(
        s not in seen and np.isfinite(image_to_array(by_stamp(rec, 'depth/image')[s])).all()
        for s in common_stamps(rec, topics)), 60), log_of(log)
    assert proc.poll() is None
    text = log_of(log)
    assert 'network input size 70 (longest side)' in text


@pytest.mark.ros
@pytest.mark.slow
def test_da3metric_large_over_dds_scales_with_fx_and_says_why_without_it(
        ros_node, spawn, tmp_path: Path) -> None:
    from depth_anything_ros.ros.conversions import image_to_array
    topics = ('depth/image', 'points', 'depth/camera_info')
    proc, log, rec, player = start(ros_node, spawn, tmp_path, 'da3metric-large', topics,
                                   mode='metric')
    assert ros_node.count_publishers('depth/confidence') == 0   # the network has none

    # --- no camera_info, no fx/fy: no metric output, and the reason on /diagnostics
    def refused() -> bool:
        diag = rec.diagnostics()
        return int(diag.get('frames_received', 0)) >= 2 and \
            'no metric depth' in diag.get('last_error', '')
    assert stream(rec, proc, lambda: player.send(None), refused, 120), (rec.diagnostics(),
                                                                       log_of(log))
    assert "the camera's focal length" in rec.diagnostics()['last_error']
    rec.spin_until(lambda: False, 1.0)                     # anything in flight arrives
    assert not rec.msgs['depth/image'] and not rec.msgs['points']

    # --- with camera_info: metres, and exactly proportional to fx
    depths: dict[float, tuple[int, np.ndarray]] = {}

    def got(fx: float) -> bool:
        for s, info in by_stamp(rec, 'depth/camera_info').items():
            depth = by_stamp(rec, 'depth/image').get(s)
            if depth is not None and info.k[0] == fx:   # the focal length the node used
                depths[fx] = (s, image_to_array(depth))
                return True
        return False

    for fx in (100.0, 250.0):
        assert stream(rec, proc, lambda f=fx: player.send(f), lambda f=fx: got(f), 90), \
            log_of(log)
    (s1, d1), (s2, d2) = depths[100.0], depths[250.0]
    for s in (s1, s2):
        msg = by_stamp(rec, 'depth/image')[s]
        check_header(msg, player)
        assert (msg.encoding, msg.width, msg.height) == ('32FC1', W, H)
    finite = np.isfinite(d1)
    assert finite.any() and (finite == np.isfinite(d2)).all()   # sky: NaN both times
    np.testing.assert_allclose(d2[finite] / d1[finite], 250.0 / 100.0, rtol=1e-6)
    cloud = by_stamp(rec, 'points').get(s2)
    if cloud is None:
        assert rec.spin_until(lambda: s2 in by_stamp(rec, 'points'), 10)
        cloud = by_stamp(rec, 'points')[s2]
    check_header(cloud, player)
    check_cloud(cloud, d2, 250.0)
    assert 'network input size 70 (longest side)' in log_of(log)


@pytest.mark.parametrize(('name', 'refusal'), [
    ('da3metric-tiny', 'does not apply to da3metric-tiny'),
    ('vda-tiny', 'Video Depth Anything networks have no max_depth'),
])
def test_the_node_builds_untrained_metric_models_without_a_ceiling_by_default(
        name: str, refusal: str) -> None:
    """The scene's metric range (20 m indoors) is a DA-V2 head's ceiling: DA3 and VDA have none."""
    from depth_anything_ros.params import validate
    from depth_anything_ros.ros.parameters import build_estimator
    cfg = validate({'checkpoint': f'untrained:{name}', 'encoder': 'auto',
                    'allow_untrained_weights': True, 'device': 'cpu', 'backend': 'torch',
                    'precision': 'fp32'})
    assert cfg.mode == 'metric' and cfg.resolved_model_max_depth == 20.0
    est = build_estimator(cfg)
    assert est.is_metric
    # an explicit ceiling is still refused, in one line
    with pytest.raises(ValueError, match=refusal):
        build_estimator(validate({**cfg.__dict__, 'model_max_depth': 25.0}))


# ---------------------------------------------------------------- input size
def _rgb_msg(stamp_ns: int) -> Any:
    from sensor_msgs.msg import Image
    msg = Image(width=W, height=H, encoding='rgb8', step=W * 3,
                data=make_pixels(W, H, 3, 0).tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = 'cam'
    return msg


@pytest.mark.ros
@pytest.mark.parametrize(('checkpoint', 'size', 'side', 'net'), [
    ('untrained:da3-tiny', 504, 'longest', (378, 504)),   # DA3's official processing size
    ('untrained:tiny', 518, 'short', (518, 686)),         # Depth Anything V2's
])
def test_without_input_size_the_node_uses_the_model_familys_own_size(
        harness_ctx, capfd: pytest.CaptureFixture, one_torch_thread: None, checkpoint: str,
        size: int, side: str, net: tuple[int, int]) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.models.loading import load_model
    from depth_anything_ros.ros.node import DepthNode
    from depth_anything_ros.ros.topics import DISPARITY_IMAGE
    est = DepthEstimator(load_model(checkpoint, allow_untrained=True), device='cpu',
                         backend='torch', precision='fp32')
    assert est.input_size == est.default_input_size == size
    params = {'mode': 'relative', 'diagnostics_period': 0.1, 'checkpoint': checkpoint,
              'encoder': 'auto', 'allow_untrained_weights': True}
    node = DepthNode(estimator=est, context=harness_ctx, parameter_overrides=[
        Parameter(k, value=v) for k, v in params.items()])
    sub = Node('harness', context=harness_ctx)
    msgs: dict[str, list] = {'/diagnostics': [], 'disparity/image': []}
    sub.create_subscription(DiagnosticArray, '/diagnostics', msgs['/diagnostics'].append, 10)
    sub.create_subscription(Image, 'disparity/image', msgs['disparity/image'].append, 10)
    executor = SingleThreadedExecutor(context=harness_ctx)
    executor.add_node(node)
    executor.add_node(sub)

    def spin_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    def diag_size() -> str:
        for status in msgs['/diagnostics'][-1].status:
            return {kv.key: kv.value for kv in status.values}['input_size']
        return ''

    try:
        assert node.get_parameter('input_size').value == 0
        started = capfd.readouterr().err
        assert f"network input size {size} ({side} side: the model family's own size" in \
            started, started
        assert spin_until(lambda: bool(msgs['/diagnostics']))
        assert diag_size() == str(size)
        assert spin_until(lambda: node.publisher(DISPARITY_IMAGE).get_subscription_count() > 0)
        node._on_image(_rgb_msg(1_000_000_000))
        assert spin_until(lambda: len(msgs['disparity/image']) == 1)
        assert est.input_size == size and est.network_size(H, W) == net
        # a size set at runtime applies; 0 goes back to the family's own
        node.set_parameters([Parameter('input_size', value=70)])
        node._on_image(_rgb_msg(2_000_000_000))
        assert spin_until(lambda: len(msgs['disparity/image']) == 2)
        assert est.input_size == 70
        msgs['/diagnostics'].clear()
        assert spin_until(lambda: bool(msgs['/diagnostics'])) and diag_size() == '70'
        node.set_parameters([Parameter('input_size', value=0)])
        node._on_image(_rgb_msg(3_000_000_000))
        assert spin_until(lambda: len(msgs['disparity/image']) == 3)
        assert est.input_size == size
        msgs['/diagnostics'].clear()
        assert spin_until(lambda: bool(msgs['/diagnostics'])) and diag_size() == str(size)
    finally:
        node.stop_worker(5.0)
        executor.shutdown()
        node.destroy_node()
        sub.destroy_node()


def test_an_any_view_pass_without_input_size_runs_at_the_familys_own_size(
        one_torch_thread: None) -> None:
    from depth_anything_ros.core.camera_stage import (
        ALL_OUTPUTS,
        CameraStage,
        Frame,
        process_frames,
    )
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.models.loading import load_model
    from depth_anything_ros.params import validate
    est = DepthEstimator(load_model('untrained:da3-tiny', allow_untrained=True), device='cpu',
                         backend='torch', precision='fp32')
    est.input_size = 70                       # as a runtime change left it
    shapes: list[tuple[int, ...]] = []
    hook = est.model.model.register_forward_pre_hook(
        lambda _m, args: shapes.append(tuple(args[0].shape)))
    try:
        cfg = validate({'mode': 'relative', 'multiview_slop': 0.01})
        assert cfg.input_size == 0
        stages = [CameraStage(est, cfg, name) for name in ('left', 'right')]
        pixels = make_pixels(80, 60, 3, 0)
        results = process_frames([(stage, Frame(pixels, 'rgb8', 1_000_000_000 + i, name),
                                   ALL_OUTPUTS)
                                  for i, (stage, name) in enumerate(zip(stages, 'lr'))])
    finally:
        hook.remove()
    assert shapes == [(1, 2, 3, 378, 504)]    # one pass of two views, longest side 504
    assert all(r.views == 2 for r in results)
