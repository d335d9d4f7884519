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

"""The depth node in relative mode, with bad frames, lazy outputs and other inputs (over DDS)."""

from __future__ import annotations

from pathlib import Path
import signal
import subprocess

import numpy as np
import pytest
from ros_helpers.harness import CAMERA, log_of, NODE_ARGS, Recorder, stamp_ns

from depth_anything_ros.ros.conversions import cloud_to_array, image_to_array

pytestmark = pytest.mark.ros


@pytest.mark.slow
def test_relative_mode_lazy_outputs_and_recovery_from_bad_frames(ros_node, spawn,
                                                                 tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    log = tmp_path / 'node.log'
    node = spawn(*NODE_ARGS, '-p', 'mode:=relative', stdout=log.open('w'))
    # every 4th frame is malformed: unsupported encoding, truncated data, uncalibrated info
    spawn(CAMERA, '--rate', '30', '--duration', '60', '--width', 96, '--height', 64,
          '--encoding', 'rgba8', '--bad', '4')
    rec = Recorder(ros_node)
    rec.listen(DiagnosticArray, '/diagnostics')

    # nobody subscribes to an output: frames arrive, nothing is computed (frames_received
    # also counts the bad images, so it is the idle count that is waited for)
    assert rec.spin_until(lambda: int(rec.diagnostics().get('frames_idle', 0)) > 20, 60,
                          node), log_of(log)
    diag = rec.diagnostics()
    assert diag['frames_processed'] == '0' and int(diag['frames_received']) > 20

    rec.listen(Image, 'disparity/image')
    m = rec.msgs
    assert rec.spin_until(lambda: len(m['disparity/image']) >= 6
                          and int(rec.diagnostics().get('frames_bad', 0)) >= 2, 60, node)
    msg = m['disparity/image'][-1]
    assert (msg.encoding, msg.width, msg.height) == ('32FC1', 96, 64)
    disparity = image_to_array(msg)
    assert np.isfinite(disparity).all() and disparity.min() >= 0.0
    assert disparity.std() > 0
    # relative output never appears under a depth name, and without metres there is no cloud
    topics = dict(ros_node.get_topic_names_and_types())
    assert '/disparity/image' in topics
    assert '/depth/image' not in topics and '/points' not in topics
    # bad frames were skipped with a reason, later good frames kept flowing
    # (diagnostics lag the outputs by up to one period)
    assert rec.spin_until(lambda: int(rec.diagnostics()['frames_processed']) >= 6, 10, node)
    diag = rec.diagnostics()
    assert int(diag['images_bad']) >= 1 and int(diag['camera_info_bad']) >= 1
    assert int(diag['bad_messages']) == int(diag['images_bad']) + int(diag['camera_info_bad'])
    assert rec.spin_until(lambda: len(m['disparity/image']) >= 10, 30, node)
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)
    text = log_of(log)
    # refused on arrival; errors are throttled: each kind is logged at least once with its reason
    assert 'image refused' in text and 'camera_info refused' in text
    assert any(reason in text for reason in (
        "unsupported image encoding 'bayer_rggb8'", 'height*step'))
    assert 'not calibrated' in text


@pytest.mark.slow
def test_compressed_calibrated_relative_params_file_live_intrinsics(
        ros_node, spawn, tmp_path: Path) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    params = tmp_path / 'params.yaml'
    # relative model + a fixed inverse-depth calibration: metric depth and clouds too
    params.write_text('/**:\n  ros__parameters:\n'
                      '    image_transport: compressed\n    cloud_rgb: false\n'
                      '    mode: relative\n    disparity_scale: 0.5\n'
                      '    disparity_shift: 0.05\n')
    log = tmp_path / 'node.log'
    node = spawn(*NODE_ARGS, '--params-file', params, stdout=log.open('w'))
    spawn(CAMERA, '--rate', '15', '--duration', '60', '--width', 160, '--height', 120,
          '--compressed', '--no-info')
    rec = Recorder(ros_node)
    rec.listen(Image, 'depth/image')
    rec.listen(Image, 'disparity/image')
    rec.listen(PointCloud2, 'points')
    rec.listen(CameraInfo, 'depth/camera_info')
    m = rec.msgs
    # no camera_info and no intrinsics parameters: depth flows, the cloud is skipped
    assert rec.spin_until(lambda: len(m['depth/image']) >= 3, 60, node), log_of(log)
    assert not m['points'] and not m['depth/camera_info']
    assert 'no intrinsics' in log_of(log)
    disparity = {stamp_ns(d.header): image_to_array(d) for d in m['disparity/image']}
    d_msg = next(d for d in m['depth/image'] if stamp_ns(d.header) in disparity)
    expect = 1.0 / (0.5 * disparity[stamp_ns(d_msg.header)] + 0.05)
    np.testing.assert_allclose(image_to_array(d_msg), expect, rtol=1e-5)

    # intrinsics calibrated at twice the streamed size, set live (all at once)
    client = AsyncParameterClient(ros_node, 'depth_node')
    assert client.wait_for_services(timeout_sec=10.0)
    values = {'fx': 300.0, 'fy': 300.0, 'cx': 100.0, 'cy': 150.0, 'calib_width': 320,
              'calib_height': 240}
    result = rec.call(client.set_parameters_atomically(
        [Parameter(k, value=v) for k, v in values.items()]))
    assert result.result.successful, result.result.reason
    assert rec.spin_until(lambda: len(m['points']) >= 2 and len(m['depth/camera_info']) >= 2,
                          60, node), log_of(log)
    cloud_msg = m['points'][-1]
    assert [f.name for f in cloud_msg.fields] == ['x', 'y', 'z'] and cloud_msg.point_step == 12
    cloud = cloud_to_array(cloud_msg)
    fx, cx, cy = 150.0, (100.0 + 0.5) / 2 - 0.5, (150.0 + 0.5) / 2 - 0.5
    v, u = np.mgrid[0:120, 0:160]
    np.testing.assert_allclose(cloud['x'], (u - cx) / fx * cloud['z'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cloud['y'], (v - cy) / fx * cloud['z'], rtol=1e-5, atol=1e-6)
    info = m['depth/camera_info'][-1]
    assert (info.width, info.height) == (160, 120)
    np.testing.assert_allclose(info.k, [fx, 0, cx, 0, fx, cy, 0, 0, 1])
    assert stamp_ns(info.header) in {stamp_ns(d.header) for d in m['depth/image']}
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)


@pytest.mark.parametrize(('argv', 'expect'), [
    (('-m', 'depth_anything_ros.ros.node', '--ros-args', '-p', 'checkpoint:=untrained'),
     'allow_untrained'),
    (('-m', 'depth_anything_ros.commands.cli', 'run', '--ros-args', '-p', 'weights_dir:={tmp}'),
     'depth_anything_v2_metric_hypersim_vits'),
    (('-m', 'depth_anything_ros.ros.node', '--ros-args', '-p', 'mode:=relative',
      '-p', 'disparity_shift:=2.0'), 'disparity_shift needs disparity_scale'),
    # an offline-only family (a diffusion pipeline) is refused before anything loads
    (('-m', 'depth_anything_ros.ros.node', '--ros-args', '-p', 'mode:=relative',
      '-p', 'checkpoint:=marigold-depth-v1-1', '-p', 'weights_dir:={tmp}'),
     'a diffusion pipeline takes seconds per frame'),
])
@pytest.mark.slow
def test_startup_failures_exit_1_with_the_reason(spawn, tmp_path: Path, argv: tuple,
                                                 expect: str) -> None:
    argv = tuple(a.replace('{tmp}', str(tmp_path)) for a in argv)
    proc = spawn(*argv)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail('the node did not exit on a bad configuration')
    assert proc.returncode == 1, out
    assert expect in out, out


def _cloud_rgb(msg) -> np.ndarray:
    """(H, W, 3) uint8 colours of an XYZRGB cloud (rgb packed as 0x00RRGGBB in a float32)."""
    packed = np.ascontiguousarray(cloud_to_array(msg)['rgb']).view(np.uint32)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255],
                    -1).astype(np.uint8)


@pytest.mark.slow
def test_raw_images_are_rectified_with_their_camera_info(ros_node, spawn,
                                                         tmp_path: Path) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from ros_helpers.camera_publisher import make_pixels
    from sensor_msgs.msg import CameraInfo, PointCloud2

    from depth_anything_ros.core.geometry import Rectifier

    log = tmp_path / 'node.log'
    node = spawn(*NODE_ARGS, '-p', 'rectify:=true', stdout=log.open('w'))
    spawn(CAMERA, '--rate', '15', '--duration', '90', '--width', 96, '--height', 64,
          '--distort', '-2.0', '--static')
    rec = Recorder(ros_node)
    rec.listen(PointCloud2, 'points')
    rec.listen(CameraInfo, 'depth/camera_info')
    m = rec.msgs
    assert rec.spin_until(lambda: len(m['points']) >= 2 and len(m['depth/camera_info']) >= 1,
                          60, node), log_of(log)
    info = m['depth/camera_info'][-1]
    assert info.distortion_model == 'plumb_bob' and info.d[0] == pytest.approx(-2.0)
    raw = make_pixels(96, 64, 3, 0)
    rectified = Rectifier()(raw, np.reshape(info.k, (3, 3)), info.d, np.reshape(info.r, (3, 3)),
                            np.reshape(info.p, (3, 4)), info.distortion_model)
    # the cloud is coloured from what the network saw: the rectified frame, not the raw one
    colours = _cloud_rgb(m['points'][-1])
    np.testing.assert_array_equal(colours, rectified)
    moved = np.abs(rectified.astype(int) - raw).max(-1) > 20  # the bright square's edges
    assert moved.sum() >= 10

    # rectify is a live parameter: switched off, frames pass through unchanged
    client = AsyncParameterClient(ros_node, 'depth_node')
    assert client.wait_for_services(timeout_sec=10.0)
    result = rec.call(client.set_parameters([Parameter('rectify', value=False)]))
    assert result.results[0].successful
    assert rec.spin_until(lambda: np.array_equal(_cloud_rgb(m['points'][-1]), raw), 60,
                          node), log_of(log)
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)


@pytest.mark.slow
def test_rectify_without_camera_info_skips_frames_with_the_reason(ros_node, spawn,
                                                                   tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    log = tmp_path / 'node.log'
    node = spawn(*NODE_ARGS, '-p', 'rectify:=true', stdout=log.open('w'))
    spawn(CAMERA, '--rate', '15', '--duration', '60', '--width', 96, '--height', 64,
          '--no-info')
    rec = Recorder(ros_node)
    rec.listen(Image, 'depth/image')
    rec.listen(DiagnosticArray, '/diagnostics')
    assert rec.spin_until(lambda: int(rec.diagnostics().get('frames_bad', 0)) >= 3, 60,
                          node), log_of(log)
    assert not rec.msgs['depth/image']
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)
    assert 'rectify is on but no camera_info arrived' in log_of(log)
