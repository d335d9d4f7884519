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

"""The transformers families in the node over DDS (the node in its own process, tiny weights).

Depth Pro: with camera_info the published camera_info keeps the real K and the depth follows
the real focal length; without it the published camera_info carries the estimated focal
length, a cloud comes from it, and /diagnostics says the focal length is estimated. Prompt
Depth Anything: the node consumes ``anchor/points`` as the prompt of the frame they pair with.
"""

from __future__ import annotations

from pathlib import Path
import signal
import time

import numpy as np
import pytest
from ros_helpers.harness import log_of, Recorder, stamp_ns

from depth_anything_ros.offline.node_process import node_arguments

transformers = pytest.importorskip('transformers')
torch = pytest.importorskip('torch')

from depth_anything_ros.core import prompt as prompts  # noqa: E402
from depth_anything_ros.estimator import DepthEstimator  # noqa: E402
from depth_anything_ros.model import load_model  # noqa: E402
from depth_anything_ros.ros.conversions import (  # noqa: E402
    array_to_image,
    camera_info_from_k,
    cloud_message,
    image_to_array,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 44, 30
FX, CX, CY = 80.0, 20.0, 16.0
K = np.array([[FX, 0.0, CX], [0.0, FX, CY], [0.0, 0.0, 1.0]])


@pytest.fixture(scope='module')
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from test_hf_families import save_folder
    from test_hf_prompt_depth import save_folder as save_prompted
    root = tmp_path_factory.mktemp('hf_dds')
    return {'depth_pro': save_folder('depth_pro', root / 'depth_pro'),
            'prompt_depth_anything': save_prompted(root / 'prompt_depth_anything')}


def pixels() -> np.ndarray:
    from test_hf_families import frame
    return frame(H, W)


def start_node(spawn, folder: Path, log: Path, **params):
    args = node_arguments({'checkpoint': str(folder), 'encoder': 'auto', 'mode': 'metric',
                           'device': 'cpu', 'backend': 'torch', 'precision': 'fp32',
                           'diagnostics_period': 0.5, 'min_depth': 0.0, 'max_depth': 1000.0,
                           **params})
    return spawn('-m', 'depth_anything_ros.ros.node', '--ros-args', *args,
                 stdout=log.open('w'))


def ours(folder: Path, **kwargs):
    torch.set_num_threads(1)
    est = DepthEstimator(load_model(folder), device='cpu', backend='torch', precision='fp32')
    return est.estimate_batch([pixels()], 'rgb8', **kwargs)[0]


def assert_depth(published: np.ndarray, expected: np.ndarray) -> None:
    """Check published depth equals ours; NaN only beyond max_depth (far tiny-net pixels)."""
    valid = np.isfinite(published)
    assert valid.mean() > 0.9
    np.testing.assert_allclose(published[valid], expected[valid], rtol=1e-4)
    assert (expected[~valid] > 1000.0).all()


def stream(ros_node, rec: Recorder, node, done, *, info: bool, points=None,
           timeout: float = 120.0) -> set[int]:
    """Publish frames (with camera_info, anchor points) until ``done()``; return their stamps."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header
    pubs = {'image': ros_node.create_publisher(Image, 'image', 10),
            'info': ros_node.create_publisher(CameraInfo, 'camera_info', 10),
            'points': ros_node.create_publisher(PointCloud2, 'anchor/points', 10)}
    sent: set[int] = set()
    k = 0
    end = time.monotonic() + timeout
    while time.monotonic() < end and node.poll() is None and not done():
        header = Header(stamp=Time(sec=1000 + k, nanosec=0), frame_id='cam_optical')
        if info:
            msg = camera_info_from_k(FX, FX, CX, CY, W, H)
            msg.header = header
            pubs['info'].publish(msg)
        if points is not None:
            pubs['points'].publish(cloud_message(points, header))
        pubs['image'].publish(array_to_image(pixels(), 'rgb8', header))
        sent.add(stamp_ns(header))
        k += 1
        rec.spin_until(done, 0.4)
    return sent


def test_depth_pro_uses_the_real_focal_length_with_camera_info(
        ros_node, spawn, folders: dict[str, Path], tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image
    log = tmp_path / 'node.log'
    node = start_node(spawn, folders['depth_pro'], log)
    rec = Recorder(ros_node)
    for msg_type, topic in ((Image, 'depth/image'), (CameraInfo, 'depth/camera_info'),
                            (DiagnosticArray, '/diagnostics')):
        rec.listen(msg_type, topic)
    m = rec.msgs
    stream(ros_node, rec, node, lambda: len(m['depth/image']) >= 2
           and len(m['depth/camera_info']) >= 2, info=True)
    assert m['depth/image'] and m['depth/camera_info'], log_of(log)
    info = m['depth/camera_info'][-1]
    np.testing.assert_allclose(info.k, K.ravel())   # the real K, kept
    depth = image_to_array(m['depth/image'][-1])
    assert m['depth/image'][-1].header.frame_id == 'cam_optical'
    expected = ours(folders['depth_pro'], focal_px=[FX])
    assert not expected.focal_estimated and expected.focal_px == FX
    estimated = ours(folders['depth_pro'])
    assert abs(estimated.focal_px - FX) > 5.0   # the two focal lengths differ: a real check
    assert_depth(depth, expected.depth)
    assert rec.spin_until(lambda: rec.diagnostics().get('focal_source') == 'camera_info', 15,
                          node), rec.diagnostics()
    assert rec.diagnostics()['focal_estimated'] == 'false'
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=20) == 0, log_of(log)


def test_depth_pro_publishes_its_estimated_focal_length_without_camera_info(
        ros_node, spawn, folders: dict[str, Path], tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from depth_anything_ros.ros.conversions import cloud_to_array
    log = tmp_path / 'node.log'
    node = start_node(spawn, folders['depth_pro'], log)
    rec = Recorder(ros_node)
    for msg_type, topic in ((Image, 'depth/image'), (CameraInfo, 'depth/camera_info'),
                            (PointCloud2, 'points'), (DiagnosticArray, '/diagnostics')):
        rec.listen(msg_type, topic)
    m = rec.msgs
    stream(ros_node, rec, node, lambda: m['depth/image'] and m['depth/camera_info']
           and m['points'], info=False)
    assert m['depth/image'] and m['depth/camera_info'] and m['points'], log_of(log)
    expected = ours(folders['depth_pro'])
    assert expected.focal_estimated
    f = expected.focal_px
    info = m['depth/camera_info'][-1]
    assert (info.width, info.height) == (W, H) and info.header.frame_id == 'cam_optical'
    np.testing.assert_allclose(info.k, [f, 0, (W - 1) / 2, 0, f, (H - 1) / 2, 0, 0, 1],
                               rtol=1e-4)
    assert_depth(image_to_array(m['depth/image'][-1]), expected.depth)
    # the first calibration-free metric cloud: x = (u - cx) z / f with the estimate
    cloud = cloud_to_array(m['points'][-1])
    u = np.arange(W)[None, :].repeat(H, 0)
    ok = np.isfinite(cloud['z'])
    assert ok.any()
    np.testing.assert_allclose(cloud['x'][ok], ((u - (W - 1) / 2) * cloud['z'] / f)[ok],
                               rtol=1e-3, atol=1e-5)
    assert rec.spin_until(lambda: rec.diagnostics().get('focal_source') == 'estimated', 15,
                          node), rec.diagnostics()
    diag = rec.diagnostics()
    assert diag['focal_estimated'] == 'true'
    assert float(diag['focal_px']) == pytest.approx(f, rel=1e-4)
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=20) == 0, log_of(log)


def _points() -> np.ndarray:
    """Return a structured cloud: every 3rd pixel's ray at 2-5 m (left to right), optical."""
    v, u = np.mgrid[0:H:3, 0:W:3]
    z = 2.0 + 3.0 * u / W
    rays = np.linalg.solve(K, np.stack([u.ravel(), v.ravel(), np.ones(u.size)])).T
    xyz = (rays * z.ravel()[:, None]).astype(np.float32)
    cloud = np.zeros((1, len(xyz)), np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4')]))
    cloud['x'][0], cloud['y'][0], cloud['z'][0] = xyz.T
    return cloud


def test_prompt_depth_anything_consumes_anchor_points(
        ros_node, spawn, folders: dict[str, Path], tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    log = tmp_path / 'node.log'
    node = start_node(spawn, folders['prompt_depth_anything'], log, alignment='lidar',
                      anchor_slop=0.05)
    rec = Recorder(ros_node)
    rec.listen(Image, 'depth/image')
    rec.listen(DiagnosticArray, '/diagnostics')
    m = rec.msgs
    cloud = _points()
    sent = stream(ros_node, rec, node, lambda: len(m['depth/image']) >= 2, info=True,
                  points=cloud)
    assert len(m['depth/image']) >= 2, log_of(log)
    xyz = np.stack([cloud['x'][0], cloud['y'][0], cloud['z'][0]], -1)
    sparse = prompts.points_prompt(xyz, K, (H, W), prompts.prompt_shape(H, W))
    expected = ours(folders['prompt_depth_anything'],
                    prompts=[prompts.densify(sparse, 'nearest')])
    msg = m['depth/image'][-1]
    assert stamp_ns(msg.header) in sent and msg.header.frame_id == 'cam_optical'
    assert_depth(image_to_array(msg), expected.depth)
    assert rec.spin_until(lambda: int(rec.diagnostics().get('prompt_frames', 0)) >= 2, 15,
                          node), rec.diagnostics()
    assert rec.diagnostics()['prompt_densify'] == 'nearest'
    # the points stop: frames fall back to the alignment (no fit: no metric depth), counted
    bare = stream(ros_node, rec, node,
                  lambda: int(rec.diagnostics().get('prompt_missing', 0)) >= 2, info=True,
                  timeout=60)
    diag = rec.diagnostics()
    assert int(diag['prompt_missing']) >= 2, diag
    assert 'no anchor stamped within' in diag['prompt_last_missing']
    rec.spin_until(lambda: False, 1.0)
    # never an unprompted, unaligned guess: every depth image is of a prompted frame
    assert not {stamp_ns(d.header) for d in m['depth/image']} & bare
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=20) == 0, log_of(log)


@pytest.mark.parametrize('family,mode,topic', [('dpt', 'relative', 'disparity/image'),
                                               ('zoedepth', 'metric', 'depth/image')])
def test_a_live_library_family_over_dds(family: str, mode: str, topic: str, ros_node, spawn,
                                        tmp_path: Path) -> None:
    """MiDaS/DPT and ZoeDepth as the node runs them: topic, encoding, size, header, values."""
    from sensor_msgs.msg import Image
    from test_hf_families import save_folder
    folder = save_folder(family, tmp_path / family)
    log = tmp_path / 'node.log'
    node = start_node(spawn, folder, log, mode=mode)
    rec = Recorder(ros_node)
    rec.listen(Image, topic)
    m = rec.msgs
    sent = stream(ros_node, rec, node, lambda: len(m[topic]) >= 2, info=True)
    assert m[topic], log_of(log)
    msg = m[topic][-1]
    assert msg.encoding == '32FC1' and (msg.height, msg.width) == (H, W)
    assert msg.header.frame_id == 'cam_optical' and stamp_ns(msg.header) in sent
    assert_depth(image_to_array(msg), ours(folder).depth)
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=20) == 0, log_of(log)
