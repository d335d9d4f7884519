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

"""The depth node end to end over DDS: a synthetic camera process -> node process -> this test.

Metric mode with deterministic untrained weights: checks encodings, sizes, headers, the
camera_info of the published depth, the cloud against the depth, diagnostics and drop counting
under overload, runtime parameter changes and a clean SIGTERM exit.
"""

from __future__ import annotations

from pathlib import Path
import signal

import numpy as np
import pytest
from ros_helpers.harness import CAMERA, log_of, NODE_ARGS, Recorder, stamp_ns

from depth_anything_ros.ros.conversions import cloud_to_array, image_to_array

pytestmark = pytest.mark.ros

W, H = 160, 120
# camera_publisher calibrates at 320x240 (2x the image): fx = 400, cx = 0.45 * 320 = 144 there.
FX, FY = 200.0, 210.0
CX = (0.45 * 320 + 0.5) * 0.5 - 0.5       # rescaled to the 160x120 image: 71.75
CY = (0.55 * 240 + 0.5) * 0.5 - 0.5       # 65.75


@pytest.mark.slow
def test_metric_stream_end_to_end(ros_node, spawn, tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    log = tmp_path / 'node.log'
    # input_size 196 (~50 ms a frame on an idle 2-core CPU) against a 60 Hz camera: overload
    node = spawn(*NODE_ARGS, '-p', 'output_stride:=2', '-p', 'input_size:=196',
                 '-p', 'qos_overrides./depth/colored.publisher.reliability:=best_effort',
                 stdout=log.open('w'))
    camera = spawn(CAMERA, '--rate', '60', '--duration', '60', '--width', W, '--height', H,
                   '--encoding', 'bgr8', '--pad', '8', '--info-size', '320x240')
    rec = Recorder(ros_node)
    # a deep best-effort history: the harness must see every input stamp, even under load
    rec.listen(Image, 'camera/image',
               QoSProfile(depth=100, reliability=QoSReliabilityPolicy.BEST_EFFORT))
    for msg_type, topic in ((Image, 'depth/image'), (CameraInfo, 'depth/camera_info'),
                            (PointCloud2, 'points'), (DiagnosticArray, '/diagnostics')):
        rec.listen(msg_type, topic)
    rec.listen(Image, 'depth/colored', qos_profile_sensor_data)   # overridden to best effort
    m = rec.msgs
    assert rec.spin_until(lambda: min(len(m['depth/image']), len(m['points']),
                                      len(m['depth/colored'])) >= 4, 90, node), log_of(log)

    # --- QoS (REP 2003): best-effort camera input, reliable outputs, overridable by parameter

    def qos(infos: list) -> object:
        (info,) = [i for i in infos if i.node_name == 'depth_node']
        return info.qos_profile.reliability

    assert qos(ros_node.get_subscriptions_info_by_topic('/camera/image')) == \
        QoSReliabilityPolicy.BEST_EFFORT
    assert qos(ros_node.get_publishers_info_by_topic('/depth/image')) == \
        QoSReliabilityPolicy.RELIABLE
    assert qos(ros_node.get_publishers_info_by_topic('/depth/colored')) == \
        QoSReliabilityPolicy.BEST_EFFORT

    # --- every output carries an input header, unchanged
    inputs = {stamp_ns(i.header) for i in m['camera/image']}
    for topic in ('depth/image', 'depth/camera_info', 'points', 'depth/colored'):
        for msg in m[topic]:
            assert stamp_ns(msg.header) in inputs, topic
            assert msg.header.frame_id == 'camera_optical_frame', topic

    # --- depth: 32FC1 metres at the output stride, NaN or inside [min, max]
    depth_msg = m['depth/image'][-1]
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ('32FC1', W // 2, H // 2)
    depth = image_to_array(depth_msg)
    finite = depth[np.isfinite(depth)]
    assert finite.size > 0 and finite.min() >= 0.1 and finite.max() <= 20.0

    # --- depth/camera_info describes the published depth exactly (rescaled, then strided)
    info = next(i for i in m['depth/camera_info']
                if stamp_ns(i.header) == stamp_ns(depth_msg.header))
    assert (info.width, info.height) == (W // 2, H // 2)
    np.testing.assert_allclose(info.k, [FX / 2, 0, CX / 2, 0, FY / 2, CY / 2, 0, 0, 1],
                               rtol=1e-9)
    np.testing.assert_allclose(np.asarray(info.p).reshape(3, 4)[:, :3],
                               np.asarray(info.k).reshape(3, 3), rtol=1e-9)

    # --- the cloud: organized at image resolution, back-projected from the same depth
    by_stamp = {stamp_ns(c.header): c for c in m['points']}
    stamp = next(s for s in reversed([stamp_ns(d.header) for d in m['depth/image']])
                 if s in by_stamp)
    cloud_msg = by_stamp[stamp]
    depth = image_to_array(next(d for d in m['depth/image'] if stamp_ns(d.header) == stamp))
    assert (cloud_msg.height, cloud_msg.width, cloud_msg.point_step) == (H, W, 16)
    assert [f.name for f in cloud_msg.fields] == ['x', 'y', 'z', 'rgb']
    assert cloud_msg.is_dense is False
    cloud = cloud_to_array(cloud_msg)
    np.testing.assert_array_equal(cloud['z'][::2, ::2], depth)        # NaN where depth is NaN
    v, u = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(cloud['x'], (u - CX) / FX * cloud['z'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud['y'], (v - CY) / FY * cloud['z'], rtol=1e-5, atol=1e-6)
    rgb = cloud['rgb'].view(np.uint32)
    green = (rgb >> 8) & 0xFF                        # bgr8 input: green = row index
    assert (green[:H // 3] == v[:H // 3]).all() and (green[H // 2:] == v[H // 2:]).all()
    assert (rgb[H // 3 + 2, W // 3 + 2] & 0xFFFFFF) == 0xFAFAFA

    colored = m['depth/colored'][-1]
    assert (colored.encoding, colored.width, colored.height) == ('bgr8', W // 2, H // 2)

    # --- diagnostics: the camera outruns CPU inference, so frames are dropped, not queued
    assert rec.spin_until(lambda: int(rec.diagnostics().get('frames_dropped', 0)) > 0, 20)
    diag = rec.diagnostics()
    assert float(diag['input_rate_hz']) > 10.0 and diag['input_size'] == '196'
    assert float(diag['latency_p95_ms']) >= float(diag['latency_p50_ms']) > 0.0
    assert float(diag['inference_p50_ms']) > 0.0 and 'untrained' in diag['model']
    received, processed = int(diag['frames_received']), int(diag['frames_processed'])
    assert processed + int(diag['frames_dropped']) <= received

    # --- runtime parameters
    client = AsyncParameterClient(ros_node, 'depth_node')
    assert client.wait_for_services(timeout_sec=10.0)

    def set_param(name: str, value: object) -> object:
        return rec.call(client.set_parameters([Parameter(name, value=value)])).results[0]

    assert set_param('depth_encoding', '16UC1').successful
    assert set_param('cloud_stride', 4).successful
    m['depth/image'].clear()
    m['points'].clear()
    assert rec.spin_until(lambda: any(d.encoding == '16UC1' for d in m['depth/image'])
                          and any(c.width == W // 4 for c in m['points']), 30, node)
    mm = image_to_array(next(d for d in m['depth/image'] if d.encoding == '16UC1'))
    assert mm.dtype == np.uint16 and mm.max() <= 20000 and (mm[mm > 0] >= 100).all()
    cloud_msg = next(c for c in m['points'] if c.width == W // 4)
    assert cloud_msg.height == H // 4

    refused = set_param('min_depth', 50.0)
    assert not refused.successful and 'must be below max_depth' in refused.reason
    refused = set_param('input_size', 500)
    assert not refused.successful
    refused = set_param('encoder', 'vitb')
    assert not refused.successful and 'read-only' in refused.reason
    values = rec.call(client.get_parameters(['min_depth', 'encoder'])).values
    assert (values[0].double_value, values[1].string_value) == (0.1, 'vits')

    # --- SIGTERM: clean shutdown, exit code 0
    node.send_signal(signal.SIGTERM)
    assert node.wait(timeout=15) == 0, log_of(log)
    camera.send_signal(signal.SIGINT)
    camera.wait(timeout=10)
    text = log_of(log)
    assert "checkpoint 'untrained'" in text and 'UNTRAINED WEIGHTS' in text
    assert text.count('configuration:') == 1
