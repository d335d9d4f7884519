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

"""Depth Anything 3 in the per-camera stage the node and process-bag share (no rclpy).

The focal-length rule of a metric model that needs intrinsics (from the frame's camera model:
its camera_info, else the fx/fy parameters), the confidence output and ``min_confidence``, sky
pixels as NaN, and relative depth published as disparity. Deterministic weights, small sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers.models import tiny_da3_estimators

from depth_anything_ros.core.camera_stage import (
    ALL_OUTPUTS,
    Calibration,
    CameraStage,
    Frame,
    IntrinsicsMissing,
)
from depth_anything_ros.params import validate

W, H = 80, 60


@pytest.fixture(scope='module')
def estimators():
    return tiny_da3_estimators()


def _frame(stamp_ns: int = 1) -> Frame:
    y, x = np.mgrid[0:H, 0:W]
    pixels = np.stack([(x * 3) % 256, (y * 4) % 256, ((x + y) * 7) % 256], -1).astype(np.uint8)
    return Frame(pixels, 'rgb8', stamp_ns, 'cam')


def _calib(fx: float, fy: float) -> Calibration:
    return Calibration.from_intrinsics(fx, fy, 40.0, 30.0, W, H)


def test_metric_depth_follows_the_camera_info_focal_length_exactly(estimators) -> None:
    est = estimators['metric']
    stage = CameraStage(est, validate({'mode': 'metric', 'input_size': 70, 'max_depth': 1000.0,
                                       'min_depth': 0.0}))
    stage.add_camera_info(1, _calib(300.0, 300.0))
    a = stage.process(_frame(1), ALL_OUTPUTS)
    stage.add_camera_info(2, _calib(600.0, 600.0))
    b = stage.process(_frame(2), ALL_OUTPUTS)
    finite = np.isfinite(a.depth)
    assert finite.any() and (finite == np.isfinite(b.depth)).all()
    np.testing.assert_allclose(b.depth[finite], 2 * a.depth[finite], rtol=1e-6)
    # equal to the estimator given the same focal length; sky pixels NaN, also in the cloud
    res = est.estimate(_frame().pixels, 'rgb8', (300.0, 300.0))
    assert res.sky.any() and np.isnan(a.depth[res.sky]).all()
    np.testing.assert_allclose(a.depth[~res.sky], res.depth[~res.sky], rtol=1e-6)
    assert np.isnan(a.cloud['z'][res.sky]).all()
    assert a.confidence is None            # the metric network has no confidence
    # the fx/fy parameters stand in for a camera_info
    params = CameraStage(est, validate({'mode': 'metric', 'input_size': 70, 'max_depth': 1000.0,
                                        'min_depth': 0.0, 'fx': 600.0, 'fy': 600.0, 'cx': 40.0,
                                        'cy': 30.0, 'calib_width': W, 'calib_height': H}))
    np.testing.assert_allclose(params.process(_frame(3), ALL_OUTPUTS).depth[finite],
                               b.depth[finite], rtol=1e-6)


def test_without_intrinsics_a_metric_frame_is_refused_with_the_reason(estimators) -> None:
    stage = CameraStage(estimators['metric'], validate({'mode': 'metric', 'input_size': 70}))
    with pytest.raises(IntrinsicsMissing, match='no metric depth: the model gives metres only '
                                                "with the camera's focal length"):
        stage.process(_frame(), ALL_OUTPUTS)


def test_confidence_is_published_and_gates_depth(estimators) -> None:
    est = estimators['anyview']
    cfg = validate({'mode': 'relative', 'input_size': 70})
    stage = CameraStage(est, cfg)
    out = stage.process(_frame(), ALL_OUTPUTS)
    res = est.estimate(_frame().pixels, 'rgb8')
    assert out.confidence.shape == out.disparity.shape == (H, W)
    assert out.confidence.dtype == np.float32
    np.testing.assert_array_equal(out.confidence, res.confidence)
    # relative depth is published as disparity (its inverse)
    np.testing.assert_allclose(out.disparity, 1 / res.depth, rtol=1e-6)
    threshold = float(np.median(res.confidence))
    stage.set_config(validate({'mode': 'relative', 'input_size': 70,
                               'min_confidence': threshold}))
    gated = stage.process(_frame(), ALL_OUTPUTS)
    low = res.confidence < threshold
    assert low.any() and np.isnan(gated.disparity[low]).all()
    assert np.isfinite(gated.disparity[~low]).all()
    np.testing.assert_array_equal(gated.confidence, out.confidence)   # reported unchanged
    stage.set_config(validate({'mode': 'relative', 'input_size': 70, 'output_stride': 2}))
    assert stage.process(_frame(), ALL_OUTPUTS).confidence.shape == (H // 2, W // 2)
    stage.set_config(validate({'mode': 'relative', 'input_size': 70,
                               'min_confidence': 1e5}))
    with pytest.raises(ValueError, match='no valid pixel'):
        stage.process(_frame(), ALL_OUTPUTS)


class _NodeHarness:
    """A DepthNode in this process on a real estimator, with subscribers to its outputs."""

    TOPICS = ('disparity/image', 'depth/image', 'depth/confidence', 'points', '/diagnostics')

    def __init__(self, ctx, estimator, **params) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import Image, PointCloud2

        from depth_anything_ros.ros.node import DepthNode
        overrides = [Parameter(k, value=v) for k, v in {'diagnostics_period': 0.1,
                                                        'input_size': 70, **params}.items()]
        self.node = DepthNode(estimator=estimator, context=ctx, parameter_overrides=overrides)
        self.sub = Node('harness', context=ctx)
        self.msgs: dict[str, list] = {}
        for topic in self.TOPICS:
            kind = {'points': PointCloud2, '/diagnostics': DiagnosticArray}.get(topic, Image)
            self.msgs[topic] = []
            self.sub.create_subscription(kind, topic, self.msgs[topic].append, 10)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.sub)

    def spin_until(self, predicate, timeout: float = 10.0) -> bool:
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def close(self) -> None:
        self.node.stop_worker(5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.sub.destroy_node()


def _image_msg(stamp_ns: int):
    from sensor_msgs.msg import Image
    pixels = _frame().pixels
    msg = Image(width=W, height=H, encoding='rgb8', step=W * 3, data=pixels.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = 'cam'
    return msg


def _info_msg(stamp_ns: int, fx: float):
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=[0.0] * 5)
    msg.k = [fx, 0.0, 40.0, 0.0, fx, 30.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, 40.0, 0.0, 0.0, fx, 30.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


@pytest.mark.ros
def test_the_node_publishes_confidence_with_the_depth_images_header(estimators,
                                                                     harness_ctx) -> None:
    from depth_anything_ros.ros.conversions import image_to_array
    from depth_anything_ros.ros.topics import DEPTH_CONFIDENCE, DISPARITY_IMAGE
    h = _NodeHarness(harness_ctx, estimators['anyview'], mode='relative')
    try:
        assert h.spin_until(lambda: all(
            h.node.publisher(t).get_subscription_count() > 0
            for t in (DEPTH_CONFIDENCE, DISPARITY_IMAGE)))
        h.node._on_image(_image_msg(1_000_000_000))
        assert h.spin_until(lambda: h.msgs['depth/confidence'] and h.msgs['disparity/image'])
        conf, disp = h.msgs['depth/confidence'][0], h.msgs['disparity/image'][0]
        assert conf.encoding == '32FC1' and conf.header == disp.header
        assert (conf.width, conf.height) == (disp.width, disp.height) == (W, H)
        res = estimators['anyview'].estimate(_frame().pixels, 'rgb8')
        np.testing.assert_array_equal(image_to_array(conf), res.confidence)
    finally:
        h.close()


@pytest.mark.ros
def test_the_node_scales_metric_depth_by_fx_and_says_why_without_intrinsics(
        estimators, harness_ctx, capfd: pytest.CaptureFixture) -> None:
    from depth_anything_ros.ros.conversions import image_to_array
    from depth_anything_ros.ros.topics import DEPTH_CONFIDENCE, DEPTH_IMAGE
    h = _NodeHarness(harness_ctx, estimators['metric'], mode='metric', max_depth=1000.0,
                     min_depth=0.0)
    try:
        assert h.node.publisher(DEPTH_CONFIDENCE) is None    # no confidence: no topic
        started = capfd.readouterr().err   # the start-up log names the weights' licence
        assert 'weights licence: none (deterministic test weights)' in started
        assert 'gives metres only with the camera' in started
        assert h.spin_until(lambda: h.node.publisher(DEPTH_IMAGE).get_subscription_count() > 0)
        h.node._on_image(_image_msg(1_000_000_000))           # no camera_info, no fx/fy
        assert h.spin_until(lambda: h.node.stats.bad_frames == 1)
        values = dict(h.node.stats.report().values)
        assert 'no metric depth' in values['last_error'] and 'focal length' in \
            values['last_error']
        assert not h.msgs['depth/image']
        depths = []
        for i, fx in enumerate((300.0, 450.0)):
            stamp = (2 + i) * 1_000_000_000
            h.node._on_camera_info(_info_msg(stamp, fx))
            h.node._on_image(_image_msg(stamp))
            assert h.spin_until(lambda n=i + 1: len(h.msgs['depth/image']) == n)
            depths.append(image_to_array(h.msgs['depth/image'][-1]))
        finite = np.isfinite(depths[0])
        assert finite.any() and (finite == np.isfinite(depths[1])).all()
        np.testing.assert_allclose(depths[1][finite], 1.5 * depths[0][finite], rtol=1e-6)
    finally:
        h.close()


def test_process_bag_writes_confidence_and_metric_depth_with_the_bags_intrinsics(
        tmp_path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    pytest.importorskip('rosbags')
    import json

    from ros_helpers.bags import read_bag, write_camera_bag

    from depth_anything_ros.commands import cli
    src = write_camera_bag(tmp_path / 'in', 2, h=28, w=42)
    runtime = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32', '--input-size',
               '70', '--allow-untrained', '--json']
    for name, mode in (('da3-tiny', 'relative'), ('da3metric-tiny', 'metric')):
        out = tmp_path / name
        rc = cli.main(['process-bag', str(src), '--out', str(out), '--checkpoint',
                       f'untrained:{name}', '--mode', mode, *runtime])
        stdout, err = capsys.readouterr()
        assert rc == 0, err
        assert json.loads(stdout)['processed'] == 2
        written = read_bag(out)
        confidence = [t for t in written if t.endswith('depth/confidence')]
        depth = [t for t in written if t.endswith('depth/image')]
        if mode == 'relative':
            assert len(confidence) == 1 and len(written[confidence[0]]) == 2
        else:   # the bag's camera_info gives the focal length: metres
            assert not confidence and len(depth) == 1 and len(written[depth[0]]) == 2
