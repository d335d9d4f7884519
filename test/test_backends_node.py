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

"""The depth node with ``backend:=openvino`` on an exported file, over DDS.

The deployment path of a CPU robot: export once, point ``checkpoint`` at the ``.onnx`` and pick
the OpenVINO backend. The published disparity must match what torch computes for the same
frame size (the node's own output is compared with an in-process torch estimator on a frame
rebuilt from the received camera image).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import signal

import numpy as np
import pytest
from ros_helpers.harness import CAMERA, log_of, Recorder, stamp_ns

from depth_anything_ros.backends.onnx_export import export_onnx
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import ModelConfig, untrained_model
from depth_anything_ros.offline.node_process import node_arguments
from depth_anything_ros.ros.conversions import image_to_array

pytestmark = [pytest.mark.ros,
              pytest.mark.skipif(importlib.util.find_spec('openvino') is None,
                                 reason='openvino is not installed')]
W, H, INPUT_SIZE = 96, 64, 140


@pytest.mark.usefixtures('one_torch_thread')
@pytest.mark.slow
def test_node_runs_an_exported_model_with_openvino(ros_node, spawn, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    model = untrained_model(ModelConfig.tiny(), warn=False)
    onnx_path = export_onnx(model, tmp_path / 'tiny.onnx', dynamic=True)
    cache = tmp_path / 'xdg'
    monkeypatch.setenv('XDG_CACHE_HOME', str(cache))  # inherited by the node process
    log = tmp_path / 'node.log'
    node = spawn('-m', 'depth_anything_ros.ros.node', '--ros-args', *node_arguments(
        {'checkpoint': onnx_path, 'backend': 'openvino', 'precision': 'fp32',
         'mode': 'relative', 'device': 'cpu', 'input_size': INPUT_SIZE},
        {'image': 'camera/image', 'camera_info': 'camera/camera_info'}), stdout=log.open('w'))
    spawn(CAMERA, '--rate', '10', '--duration', '60', '--width', W, '--height', H,
          '--encoding', 'bgr8')
    rec = Recorder(ros_node)
    rec.listen(Image, 'camera/image', qos_profile_sensor_data)
    rec.listen(Image, 'disparity/image')
    m = rec.msgs

    def paired() -> bool:   # an output whose input frame this process also received
        seen = {stamp_ns(i.header) for i in m['camera/image']}
        return len(m['disparity/image']) >= 3 and any(
            stamp_ns(d.header) in seen for d in m['disparity/image'])

    assert rec.spin_until(paired, 90, node), log_of(log)
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)
    assert 'backend openvino' in log_of(log)

    frames = {stamp_ns(i.header): i for i in m['camera/image']}
    # The newest output whose input frame this process also received (best-effort camera QoS).
    out = next(d for d in reversed(m['disparity/image']) if stamp_ns(d.header) in frames)
    assert (out.encoding, out.width, out.height) == ('32FC1', W, H)
    frame = frames[stamp_ns(out.header)]
    disparity = image_to_array(out)
    expected = DepthEstimator(model, device='cpu', input_size=INPUT_SIZE).infer(
        image_to_array(frame), encoding=frame.encoding)
    assert np.abs(disparity - expected).max() <= 1e-4
    # The file was used as is: nothing was exported into the engine cache.
    assert not list(cache.rglob('*.onnx'))


@pytest.mark.usefixtures('one_torch_thread')
@pytest.mark.slow
def test_node_defaults_to_auto_and_warms_up_on_camera_info(ros_node, spawn, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """No backend/precision given: the node runs what ``choose`` picks here and says so.

    Only camera_info is published (no image): the node learns the camera size from it and
    builds that size's engine on a dummy frame, reported as ``warmup_ms`` on /diagnostics. A
    second start on the same engine cache warms that size up before any camera_info.
    """
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo

    from depth_anything_ros.backends.select import choose, detect_hardware, installed_backends
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))  # inherited by the node
    log = tmp_path / 'node.log'
    args = node_arguments({'checkpoint': 'untrained:tiny', 'encoder': 'auto',
                           'allow_untrained_weights': True, 'mode': 'relative',
                           'device': 'cpu', 'input_size': 70, 'diagnostics_period': 0.3},
                          {'camera_info': 'camera/camera_info'})
    node = spawn('-m', 'depth_anything_ros.ros.node', '--ros-args', *args, stdout=log.open('w'))
    rec = Recorder(ros_node)
    rec.listen(DiagnosticArray, '/diagnostics')
    info = CameraInfo(width=W, height=H, k=[50.0, 0, W / 2, 0, 50.0, H / 2, 0, 0, 1])
    info.header.frame_id = 'camera_optical_frame'
    pub = ros_node.create_publisher(CameraInfo, 'camera/camera_info', 10)
    expected = choose(installed_backends(), detect_hardware('cpu'))

    def warmed() -> bool:
        pub.publish(info)
        return rec.diagnostics().get('warmup_ms', '') != ''
    assert rec.spin_until(warmed, 90, node), log_of(log)
    diag = rec.diagnostics()
    assert (diag['backend'], diag['precision']) == (expected.backend, expected.precision)
    assert float(diag['warmup_ms']) > 0 and diag['frames_processed'] == '0'
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)
    text = log_of(log)
    assert expected.reason in text and f'warmed up for {W}x{H} images' in text

    rec.msgs.clear()
    log2 = tmp_path / 'node2.log'
    node = spawn('-m', 'depth_anything_ros.ros.node', '--ros-args', *args, stdout=log2.open('w'))
    assert rec.spin_until(lambda: rec.diagnostics().get('warmup_ms', '') != '', 90, node), \
        log_of(log2)
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log2)
    assert f'warmed up for {W}x{H} images' in log_of(log2)
