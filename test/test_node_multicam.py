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

"""Several cameras in one depth node: one model, one worker, per-camera topics and settings.

In this process with a stand-in estimator (the scheduling: fairness under a flooding camera,
batching of frames pending together; the node and its publishers are real rclpy), and over
DDS with the real network: two cameras, each with its own header, size and calibration, one
given by camera_info and one by its own parameters, per-camera diagnostics and QoS overrides.
"""

from __future__ import annotations

from pathlib import Path
import signal
import threading
import time

import numpy as np
import pytest
from ros_helpers.harness import log_of, NODE_ARGS, Recorder, stamp_ns
from test_node_inprocess import FakeEstimator, image, info

pytestmark = pytest.mark.ros


class BatchingEstimator(FakeEstimator):
    """FakeEstimator that also batches, recording each call's batch size; ``delay`` s a frame."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.delay = 0.0

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        time.sleep(self.delay)
        return super().infer(pixels, encoding)

    def infer_batch(self, images: list, encoding: str) -> list:
        self.batches.append(len(images))
        return [self.infer(im, encoding) for im in images]


class MultiHarness:
    """A depth node with ``cameras`` and a stand-in estimator, its outputs recorded."""

    def __init__(self, ctx, cameras: list[str], **params: object) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image

        from depth_anything_ros.ros.node import DepthNode
        from depth_anything_ros.ros.topics import DEPTH_IMAGE
        self.estimator = BatchingEstimator()
        overrides = [Parameter(k, value=v) for k, v in
                     {'diagnostics_period': 0.1, 'cameras': cameras, **params}.items()]
        self.node = DepthNode(estimator=self.estimator, context=ctx,
                              parameter_overrides=overrides)
        self.cameras = {c.name: c for c in self.node._cameras}
        self.sub = Node('harness', context=ctx)
        self.msgs: dict[str, list] = {name: [] for name in cameras}
        for name in cameras:
            self.sub.create_subscription(Image, f'{name}/depth/image', self.msgs[name].append,
                                         100)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.sub)
        pubs = [c.pub(DEPTH_IMAGE) for c in self.cameras.values()]
        self.spin_until(lambda: all(p.get_subscription_count() for p in pubs), 10)

    def send(self, camera: str, msg) -> None:
        self.node._on_image(msg, camera=self.cameras[camera])

    def spin_until(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.executor.spin_once(timeout_sec=0.01)
        return predicate()

    def close(self) -> None:
        self.node.stop_worker(5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.sub.destroy_node()


def test_frames_pending_together_share_one_forward_pass(harness_ctx) -> None:
    h = MultiHarness(harness_ctx, ['a', 'b', 'c'])
    try:
        h.estimator.gate = threading.Event()          # hold the worker inside a first frame
        h.send('a', image(1000))
        assert h.estimator.started.wait(5.0)
        h.send('a', image(2000))
        h.send('b', image(2000))
        h.send('c', image(2000, width=32, height=24))  # another size: its own pass
        h.estimator.gate.set()
        assert h.spin_until(lambda: sum(map(len, h.msgs.values())) == 4, 10)
        assert h.estimator.batches == [2]              # a and b together; c and the first alone
        assert h.estimator.calls == 4
        for name, stamps in (('a', [1000, 2000]), ('b', [2000]), ('c', [2000])):
            assert [m.header.stamp.nanosec for m in h.msgs[name]] == stamps
        assert (h.msgs['c'][0].width, h.msgs['c'][0].height) == (32, 24)
        assert all(s.processed for s in h.node.camera_stats.values())
    finally:
        h.close()


def test_a_flooding_camera_never_starves_the_others(harness_ctx) -> None:
    """'flood' sends as fast as the callback runs; every frame of 'slow' is published."""
    h = MultiHarness(harness_ctx, ['flood', 'slow'])
    stop = threading.Event()

    def flood() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            h.send('flood', image(i))
            time.sleep(0)

    flooder = threading.Thread(target=flood)
    try:
        h.estimator.delay = 0.01
        flooder.start()
        for i in range(10):
            h.send('slow', image(1_000_000 + i))
            assert h.spin_until(lambda n=i + 1: len(h.msgs['slow']) == n, 10), i
        stats = h.node.camera_stats
        assert stats['slow'].dropped == 0 and stats['slow'].processed == 10
        assert stats['flood'].dropped > 0 and stats['flood'].processed >= 10
    finally:
        stop.set()
        flooder.join(5.0)
        h.close()


@pytest.mark.slow
def test_two_cameras_over_dds_keep_their_own_headers_and_calibration(
        ros_node, spawn, tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from rclpy.qos import qos_profile_sensor_data, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    log = tmp_path / 'node.log'
    # the model parameters of the single-camera tests, without their remappings
    base = (*NODE_ARGS[:3], *NODE_ARGS[9:])
    node = spawn(*base, '-p', 'cameras:=[front,rear]',
                 # rear: intrinsics from its own parameters (no camera_info)
                 '-p', 'rear.fx:=70.0', '-p', 'rear.fy:=70.0', '-p', 'rear.cx:=39.5',
                 '-p', 'rear.cy:=29.5', '-p', 'rear.calib_width:=80',
                 '-p', 'rear.calib_height:=60',
                 '-p', 'qos_overrides./front/depth/colored.publisher.reliability:=best_effort',
                 stdout=log.open('w'))
    sizes = {'front': (64, 48), 'rear': (80, 60)}
    images = {c: ros_node.create_publisher(Image, f'{c}/image', qos_profile_sensor_data)
              for c in sizes}
    front_info = ros_node.create_publisher(CameraInfo, 'front/camera_info',
                                           qos_profile_sensor_data)
    rec = Recorder(ros_node)
    for c in sizes:
        rec.listen(Image, f'{c}/depth/image')
        rec.listen(CameraInfo, f'{c}/depth/camera_info')
        rec.listen(Image, f'{c}/depth/colored', qos_profile_sensor_data)
    rec.listen(DiagnosticArray, '/diagnostics')
    m = rec.msgs
    sent: dict[str, set[int]] = {c: set() for c in sizes}
    t = [1_000_000_000]

    def publish() -> bool:
        t[0] += 100_000_000
        for offset, (c, (w, h)) in enumerate(sizes.items()):
            msg = image(t[0] + offset * 1_000_000, w, h)
            msg.header.frame_id = f'{c}_optical'
            sent[c].add(stamp_ns(msg.header))
            if c == 'front':
                front_info.publish(info(stamp_ns(msg.header)))
            images[c].publish(msg)
        return all(len(m[f'{c}/depth/camera_info']) >= 3 for c in sizes)

    def stream(predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            publish()
            if rec.spin_until(predicate, 0.1, node):
                return True
        return False

    assert stream(lambda: all(len(m[f'{c}/depth/camera_info']) >= 3 and
                              len(m[f'{c}/depth/colored']) >= 1 for c in sizes), 90), log_of(log)
    for c, (w, h) in sizes.items():
        for msg in m[f'{c}/depth/image'] + m[f'{c}/depth/camera_info']:
            assert msg.header.frame_id == f'{c}_optical'
            assert stamp_ns(msg.header) in sent[c]
            assert (msg.width, msg.height) == (w, h)
    assert m['front/depth/camera_info'][-1].k[0] == 50.0        # its camera_info
    assert m['rear/depth/camera_info'][-1].k[0] == 70.0         # its own parameters

    # one diagnostics status per camera
    assert stream(lambda: any(len(a.status) == 2 for a in m['/diagnostics']), 30)
    names = {s.name for s in m['/diagnostics'][-1].status}
    assert names == {'depth_node: depth front', 'depth_node: depth rear'}

    # a QoS override of one camera's topic leaves the other camera's alone
    def reliability(topic: str) -> object:
        (i,) = [i for i in ros_node.get_publishers_info_by_topic(topic)
                if i.node_name == 'depth_node']
        return i.qos_profile.reliability

    assert reliability('/front/depth/colored') == QoSReliabilityPolicy.BEST_EFFORT
    assert reliability('/rear/depth/colored') == QoSReliabilityPolicy.RELIABLE
    assert reliability('/front/depth/image') == QoSReliabilityPolicy.RELIABLE

    # a camera's own parameters change at runtime through the same validation
    client = AsyncParameterClient(ros_node, 'depth_node')
    assert client.wait_for_services(timeout_sec=10.0)
    bad = rec.call(client.set_parameters([Parameter('rear.calib_width', value=0)]))
    assert not bad.results[0].successful and "camera 'rear'" in bad.results[0].reason
    ok = rec.call(client.set_parameters([Parameter('rear.fx', value=140.0)]))
    assert ok.results[0].successful, ok.results[0].reason
    assert stream(lambda: m['rear/depth/camera_info'][-1].k[0] == 140.0, 30), log_of(log)
    assert m['front/depth/camera_info'][-1].k[0] == 50.0
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)


def test_the_two_cameras_example_configures_both_cameras(ros_domain: int) -> None:
    import rclpy

    from depth_anything_ros.ros.node import DepthNode
    from depth_anything_ros.ros.topics import DEPTH_IMAGE
    example = Path(__file__).resolve().parents[1] / 'config' / 'examples' / 'two_cameras.yaml'
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain,
               args=['node', '--ros-args', '--params-file', str(example)])
    node = DepthNode(estimator=FakeEstimator(), context=ctx)
    try:
        front, rear = node._cameras
        assert (front.name, rear.name) == ('front', 'rear')
        assert front.cfg.rectify and not front.cfg.has_intrinsics
        assert not rear.cfg.rectify and rear.stage.param_calibration.k[0] == 615.0
        assert node.publisher(DEPTH_IMAGE, 'rear').topic_name == '/rear/depth/image'
        assert node.get_parameter('rear.calib_width').value == 640
    finally:
        node.stop_worker(5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_temporal_is_per_camera_and_vda_needs_a_stateful_model(ros_domain: int) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from depth_anything_ros.core import stats
    from depth_anything_ros.core.temporal import VDA_NEEDS_STATEFUL
    from depth_anything_ros.ros.node import DepthNode
    from depth_anything_ros.ros.publishing import diagnostics
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    try:
        node = DepthNode(estimator=FakeEstimator(), context=ctx, parameter_overrides=[
            Parameter('cameras', value=['front', 'rear']),
            Parameter('rear.temporal', value='fuse'), Parameter('rear.odom_frame', value='map')])
        try:
            front, rear = node._cameras
            assert front.stage.temporal is None
            assert (rear.stage.temporal.mode, rear.stage.temporal.fixed_frame) == ('fuse', 'map')
            # TF where tf2_ros is installed; without it no poses (static-camera fusion only)
            assert (rear.stage.temporal.poses is None) == (node._transforms is None)
            status = diagnostics(node.get_name(), node._cameras, node._estimator, 'm', 154,
                                 None).status
            keys = [{kv.key for kv in s.values} for s in status]
            assert stats.TEMPORAL not in keys[0] and stats.TEMPORAL_RESET_REASONS in keys[1]
        finally:
            node.stop_worker(5.0)
            node.destroy_node()
        with pytest.raises(ValueError) as err:
            DepthNode(estimator=FakeEstimator(), context=ctx,
                      parameter_overrides=[Parameter('temporal', value='vda')])
        assert str(err.value) == VDA_NEEDS_STATEFUL
    finally:
        rclpy.try_shutdown(context=ctx)
