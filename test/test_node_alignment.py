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

"""The depth node in relative mode aligned to a sparse anchor depth topic (over DDS).

The untrained network's disparity means nothing, so the anchors are made from it: the first
frames (no anchor yet) come out as disparity only; their disparity ``d`` gives anchors
``1 / (0.5 d + 0.1)`` m on a half-resolution grid with its own camera_info, published with the
stamps of the following frames (the same picture, so the same ``d``). Those frames must then
come out as metric depth equal to the anchors' law, and as clouds, with the image's header.
In process: LiDAR anchors align a relative stand-in and correct a metric one's scale.
"""

from __future__ import annotations

from pathlib import Path
import signal
import time

import numpy as np
import pytest
from ros_helpers.camera_publisher import make_pixels
from ros_helpers.harness import log_of, NODE_ARGS, Recorder, stamp_ns

from depth_anything_ros.ros.conversions import (
    array_to_image,
    camera_info_from_k,
    cloud_to_array,
    image_to_array,
)

pytestmark = pytest.mark.ros

W, H = 96, 64
FX, CX, CY = 80.0, (W - 1) / 2, (H - 1) / 2
SCALE, SHIFT = 0.5, 0.1


@pytest.mark.slow
def test_sparse_alignment_publishes_metric_depth_and_points(ros_node, spawn,
                                                            tmp_path: Path) -> None:
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header

    log = tmp_path / 'node.log'
    node = spawn(*NODE_ARGS, '-p', 'mode:=relative', '-p', 'alignment:=sparse',
                 '-p', 'anchor_slop:=0.01', stdout=log.open('w'))
    pub_image = ros_node.create_publisher(Image, 'camera/image', 10)
    pub_info = ros_node.create_publisher(CameraInfo, 'camera/camera_info', 10)
    pub_anchor = ros_node.create_publisher(Image, 'anchor/depth', 10)
    pub_anchor_info = ros_node.create_publisher(CameraInfo, 'anchor/camera_info', 10)
    rec = Recorder(ros_node)
    for msg_type, topic in ((Image, 'disparity/image'), (Image, 'depth/image'),
                            (PointCloud2, 'points'), (DiagnosticArray, '/diagnostics')):
        rec.listen(msg_type, topic)
    m = rec.msgs
    pixels = make_pixels(W, H, 3, 0)                          # a static picture
    anchor_info = camera_info_from_k(FX / 2, FX / 2, CX / 2, CY / 2, W // 2, H // 2)
    anchor: np.ndarray | None = None
    unanchored: set[int] = set()
    k = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and node.poll() is None:
        header = Header(stamp=Time(sec=1000 + k // 10, nanosec=(k % 10) * 100_000_000),
                        frame_id='camera_optical')
        if anchor is None and m['disparity/image']:
            d = image_to_array(m['disparity/image'][0])
            # the anchor camera sees every second pixel: its pixel j is the image's pixel 2j
            anchor = (1.0 / (SCALE * d[::2, ::2] + SHIFT)).astype(np.float32)
        if anchor is not None:
            anchor_info.header = header
            pub_anchor_info.publish(anchor_info)
            pub_anchor.publish(array_to_image(anchor, '32FC1', header))
        else:
            unanchored.add(stamp_ns(header))
        info = camera_info_from_k(FX, FX, CX, CY, W, H)
        info.header = header
        pub_info.publish(info)
        pub_image.publish(array_to_image(pixels, 'rgb8', header))
        k += 1
        if rec.spin_until(lambda: len(m['depth/image']) >= 3 and len(m['points']) >= 1, 0.3):
            break
    assert len(m['depth/image']) >= 3 and m['points'], log_of(log)

    # the same frame's disparity is published right after its depth
    assert rec.spin_until(lambda: {stamp_ns(msg.header) for msg in m['depth/image']} <= {
        stamp_ns(msg.header) for msg in m['disparity/image']}, 10, node)
    disparity = {stamp_ns(msg.header): msg for msg in m['disparity/image']}
    for msg in m['depth/image']:
        stamp = stamp_ns(msg.header)
        assert stamp not in unanchored                       # never unaligned metres
        assert msg.header.frame_id == 'camera_optical' and msg.encoding == '32FC1'
        assert (msg.width, msg.height) == (W, H)
        depth = image_to_array(msg)
        d = image_to_array(disparity[stamp])
        np.testing.assert_allclose(depth, 1.0 / (SCALE * d + SHIFT), rtol=1e-3)   # filtered
    cloud = m['points'][-1]
    assert cloud.header.frame_id == 'camera_optical'
    assert stamp_ns(cloud.header) in {stamp_ns(msg.header) for msg in m['depth/image']}
    xyz = cloud_to_array(cloud)
    assert (cloud.height, cloud.width) == (H, W) and np.isfinite(xyz['z']).all()
    # the fit's state reaches /diagnostics
    assert rec.spin_until(
        lambda: rec.diagnostics().get('alignment_state') == 'tracking', 10, node)
    diag = rec.diagnostics()
    assert diag['alignment'] == 'sparse'
    assert float(diag['alignment_scale']) == pytest.approx(SCALE, rel=1e-3)
    assert int(diag['alignment_inliers']) > 100
    node.send_signal(signal.SIGINT)
    assert node.wait(timeout=15) == 0, log_of(log)


class _GradientDisparity:
    """Relative stand-in estimator: a fixed disparity ramp (the node's wiring is under test)."""

    device = 'cpu'
    is_metric = False
    input_size = 154

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        h, w = pixels.shape[:2]
        v, u = np.mgrid[0:h, 0:w]
        return (1.0 + 2.0 * u / w + 3.0 * v / h).astype(np.float32)


def _lidar_cloud(stamp: int, frame: str, to_camera: np.ndarray):
    """Anchor points ``1 / (SCALE d + SHIFT)`` m along every 2nd pixel's ray, in ``frame``."""
    from std_msgs.msg import Header
    from test_node_inprocess import H as HH
    from test_node_inprocess import W as WW

    from depth_anything_ros.ros.conversions import cloud_message
    k = np.array([[50.0, 0.0, 30.0], [0.0, 50.0, 20.0], [0.0, 0.0, 1.0]])  # test_node_inprocess
    v, u = np.mgrid[0:HH:2, 0:WW:2]
    d = _GradientDisparity().infer(np.zeros((HH, WW, 3), np.uint8), 'rgb8')[v, u]
    z = 1.0 / (SCALE * d + SHIFT)
    rays = np.linalg.solve(k, np.stack([u.ravel(), v.ravel(), np.ones(u.size)])).T
    cam = rays * z.ravel()[:, None]
    pts = (cam - to_camera[:3, 3]) @ to_camera[:3, :3]        # into the LiDAR frame
    cloud = np.zeros((1, len(pts)), np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4')]))
    cloud['x'], cloud['y'], cloud['z'] = pts.T.astype(np.float32)[:, None, :]
    msg = cloud_message(cloud, Header())
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    msg.header.frame_id = frame
    return msg


@pytest.mark.parametrize('with_transform', [True, False])
def test_lidar_alignment_in_process(harness_ctx, with_transform: bool) -> None:
    """LiDAR points in their own frame: metres with ``anchor_transform``, disparity without."""
    from test_node_inprocess import Harness, image, info

    from depth_anything_ros.core.alignment import parse_transform
    text = '0.1 -0.05 0.0 1.5707963267948966 0.0 -1.5707963267948966'
    params = {'mode': 'relative', 'alignment': 'lidar'}
    if with_transform:
        params['anchor_transform'] = text
    h = Harness(harness_ctx, _GradientDisparity(), **params)
    got, node = h.msgs, h.node
    try:
        for i in range(4):
            stamp = 1_000_000_000 * (10 + i)
            node._on_camera_info(info(stamp))
            node._on_anchor_points(_lidar_cloud(stamp, 'lidar', parse_transform(text)))
            node._on_image(image(stamp))
            h.spin_until(lambda i=i: len(got['disparity/image']) > i, 10)
        h.executor.spin_once(timeout_sec=0.2)
        assert len(got['disparity/image']) == 4
        status = node._cameras[0].stage.aligner.status()
        if not with_transform:
            # the first frame had no camera frame yet; then the cloud's frame is refused
            assert len(got['depth/image']) <= 1 and status['alignment_unpaired'] != '0'
            return
        assert len(got['depth/image']) == 4 and status['alignment_state'] == 'tracking'
        depth = image_to_array(got['depth/image'][-1])
        d = _GradientDisparity().infer(np.zeros((depth.shape[0], depth.shape[1], 3)), 'rgb8')
        np.testing.assert_allclose(depth, 1.0 / (SCALE * d + SHIFT), rtol=1e-4)
        assert got['depth/image'][-1].header.frame_id == 'cam'
    finally:
        h.close()


class _TooFarMetric:
    """Metric stand-in estimator 10 % too far: ``1.1 / (SCALE d + SHIFT)`` m on the ramp."""

    device = 'cpu'
    is_metric = True
    input_size = 154

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        d = _GradientDisparity().infer(pixels, encoding)
        return (1.1 / (SCALE * d + SHIFT)).astype(np.float32)


def test_metric_model_scale_corrected_by_lidar_in_process(harness_ctx) -> None:
    """A metric model's 10 % scale error corrected by LiDAR anchors: depth and cloud in metres.

    A frame long after the last anchor (beyond ``alignment_hold``) keeps the model's own
    metres, and the aligner's diagnostics say the correction is not applied.
    """
    from test_node_inprocess import Harness, image, info

    h = Harness(harness_ctx, _TooFarMetric(), mode='metric', alignment='lidar', max_depth=20.0)
    got, node = h.msgs, h.node
    try:
        h.spin_until(lambda: node.count_subscribers('points') > 0, 10)
        stamps = [1_000_000_000 * (10 + i) for i in range(4)] + [1_000_000_000 * 20]
        for i, stamp in enumerate(stamps):
            node._on_camera_info(info(stamp))
            if i < 4:                                         # the last frame has no anchor
                node._on_anchor_points(_lidar_cloud(stamp, 'cam', np.eye(4)))
            node._on_image(image(stamp))
            h.spin_until(lambda i=i: len(got['depth/image']) > i and len(got['points']) > i, 10)
            if i == 3:
                status = node._cameras[0].stage.aligner.status()
        assert len(got['depth/image']) == 5 and len(got['points']) == 5
        assert status['alignment_state'] == 'tracking'
        assert status['alignment_applied'].startswith('yes')
        assert float(status['alignment_scale']) == pytest.approx(1.1, rel=1e-4)
        d = _GradientDisparity().infer(np.zeros((48, 64, 3), np.uint8), 'rgb8')
        truth = 1.0 / (SCALE * d + SHIFT)
        for msg, cloud in zip(got['depth/image'][:4], got['points'][:4]):
            np.testing.assert_allclose(image_to_array(msg), truth, rtol=1e-4)
            np.testing.assert_allclose(cloud_to_array(cloud)['z'], truth, rtol=1e-4)
        # no anchor for 6 s (> alignment_hold): the model's own metres, said in diagnostics
        np.testing.assert_allclose(image_to_array(got['depth/image'][4]), 1.1 * truth, rtol=1e-4)
        np.testing.assert_allclose(cloud_to_array(got['points'][4])['z'], 1.1 * truth,
                                   rtol=1e-4)
        status = node._cameras[0].stage.aligner.status()
        assert status['alignment_applied'] == "no: the model's own metres, uncorrected"
        assert status['alignment_state'] == 'lost'
    finally:
        h.close()
