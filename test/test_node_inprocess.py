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

"""DepthNode in this process with a stand-in estimator: fault handling without a network.

The estimator is a stand-in (constant depth, optional delay or exception) because these tests
are about the node's worker, counters, diagnostics and shutdown, not about the network; the
node, its publishers and the harness subscribers are real rclpy in one private context.
Messages are handed to the node's subscription callbacks directly, as the executor would.
"""

from __future__ import annotations

from pathlib import Path
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

W, H = 64, 48


class FakeEstimator:
    """Constant 2 m depth; ``fail`` raises on the next calls, ``gate`` blocks inference."""

    device = 'cpu'
    is_metric = True

    def __init__(self) -> None:
        self.input_size = 154
        self.calls = 0
        self.fail = 0
        self.gate: threading.Event | None = None
        self.started = threading.Event()

    def infer(self, pixels: np.ndarray, encoding: str) -> np.ndarray:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10.0)
        if self.fail:
            self.fail -= 1
            raise RuntimeError('CUDA out of memory (stand-in)')
        return np.full(pixels.shape[:2], 2.0, np.float32)


def image(stamp_ns: int, width: int = W, height: int = H, encoding: str = 'rgb8'):
    from sensor_msgs.msg import Image
    channels = 1 if encoding == 'mono8' else 3
    msg = Image(width=width, height=height, encoding=encoding, step=width * channels,
                data=bytes(range(256)) * (width * height * channels // 256) +
                bytes(width * height * channels % 256))
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = 'cam'
    return msg


def info(stamp_ns: int, fx: float = 50.0):
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=[0.0] * 5)
    msg.k = [fx, 0.0, 30.0, 0.0, fx, 20.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, 30.0, 0.0, 0.0, fx, 20.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return msg


class Harness:
    """A DepthNode in this process with a stand-in estimator and a subscriber to its outputs."""

    def __init__(self, ctx, estimator: object = None, **params: object) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        from depth_anything_ros.ros.node import DepthNode
        from depth_anything_ros.ros.topics import DEPTH_IMAGE
        self.estimator = FakeEstimator() if estimator is None else estimator
        overrides = [Parameter(k, value=v) for k, v in {'diagnostics_period': 0.1,
                                                        **params}.items()]
        self.node = DepthNode(estimator=self.estimator, context=ctx,
                              parameter_overrides=overrides)
        self.sub = Node('harness', context=ctx)
        self.msgs: dict[str, list] = {}
        for msg_type, topic in ((Image, 'depth/image'), (Image, 'disparity/image'),
                                (CameraInfo, 'depth/camera_info'), (PointCloud2, 'points'),
                                (DiagnosticArray, '/diagnostics')):
            self.msgs[topic] = []
            self.sub.create_subscription(msg_type, topic, self.msgs[topic].append, 10)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.sub)
        self.spin_until(lambda: self.node.publisher(DEPTH_IMAGE).get_subscription_count() > 0,
                        10)

    def spin_until(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def diag(self) -> tuple[int, dict[str, str]]:
        report = self.node.stats.report()
        return report.level, dict(report.values)

    def close(self) -> None:
        self.node.stop_worker(5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.sub.destroy_node()


@pytest.fixture
def harness(harness_ctx):
    h = Harness(harness_ctx)
    yield h
    h.close()


def test_an_exception_in_inference_costs_one_frame(harness: Harness) -> None:
    h = harness
    h.estimator.fail = 1
    h.node._on_camera_info(info(1000))
    h.node._on_image(image(1000))
    assert h.spin_until(lambda: h.node.stats.failed == 1, 10)
    level, values = h.diag()
    assert level == 2 and 'RuntimeError' in values['last_error']
    assert 'out of memory' in values['last_error'] and values['frames_failed'] == '1'
    h.node._on_image(image(2000))
    assert h.spin_until(lambda: len(h.msgs['depth/image']) == 1, 10)
    assert h.node.stats.processed == 1 and h.node.stats.bad_frames == 1


def test_a_dying_worker_loop_is_restarted_and_counted(harness: Harness) -> None:
    h = harness
    slot = h.node._slot
    take = slot.take
    broken = {'once': True}

    def take_once_broken(timeout=None):
        if broken.pop('once', False):
            raise RuntimeError('broken slot (stand-in)')
        return take(timeout)

    slot.take = take_once_broken
    assert h.spin_until(lambda: h.node.stats.worker_restarts == 1, 10)
    h.node._on_image(image(1000))
    assert h.spin_until(lambda: len(h.msgs['depth/image']) == 1, 10)
    assert h.diag()[1]['worker_restarts'] == '1'


def test_bad_camera_info_is_refused_on_arrival_and_the_last_good_kept(harness: Harness) -> None:
    h = harness
    h.node._on_camera_info(info(1000, fx=50.0))
    bad = info(2000, fx=60.0)
    bad.binning_x = 1000
    h.node._on_camera_info(bad)
    nan_d = info(2000, fx=70.0)
    nan_d.d = [float('nan')] * 5
    h.node._on_camera_info(nan_d)
    far = info(2000, fx=80.0)
    far.k[2] = far.p[2] = 1e308
    h.node._on_camera_info(far)
    level, values = h.diag()
    assert values['camera_info_bad'] == '3' and values['bad_messages'] == '3'
    assert 'principal point' in values['last_error']
    h.node._on_image(image(2_000_000_000))          # 2 s later: no calibration within slop
    assert h.spin_until(lambda: len(h.msgs['depth/camera_info']) == 1, 10)
    assert h.msgs['depth/camera_info'][0].k[0] == 50.0
    assert h.node.stats.camera_info['fallback'] == 1


def test_bad_images_are_counted_on_arrival_even_when_replaced(harness: Harness) -> None:
    h = harness
    h.estimator.gate = threading.Event()            # hold the worker inside the first frame
    h.node._on_image(image(1000))
    assert h.estimator.started.wait(5.0)
    h.node._on_image(image(2000, width=2000, height=2, encoding='mono8'))
    truncated = image(3000)
    truncated.data = truncated.data[:-5]
    h.node._on_image(truncated)
    h.node._on_image(image(4000, encoding='bayer_rggb8'))
    h.node._on_image(image(5000))
    h.node._on_image(image(6000))                    # replaces 5000: a dropped valid frame
    _, values = h.diag()
    assert values['images_bad'] == '3' and values['frames_dropped'] == '1'
    assert values['frames_received'] == '6' and values['bad_messages'] == '3'
    h.estimator.gate.set()
    assert h.spin_until(lambda: len(h.msgs['depth/image']) == 2, 10)
    assert [m.header.stamp.nanosec for m in h.msgs['depth/image']] == [1000, 6000]


def test_watchdog_turns_diagnostics_error_when_nothing_is_published(harness_ctx) -> None:
    h = Harness(harness_ctx, watchdog_timeout=0.3)
    try:
        h.estimator.gate = threading.Event()        # an inference that never ends
        h.node._on_image(image(1000))
        h.spin_until(lambda: False, 0.5)
        h.node._on_image(image(2000))
        level, _ = h.diag()
        report = h.node.stats.report()
        assert level == 2 and 'no depth published for' in report.message
        h.estimator.gate.set()
        assert h.spin_until(lambda: h.node.stats.processed == 2, 10)
        assert h.diag()[0] == 0
    finally:
        h.close()


def test_shutdown_waits_for_the_inference_in_flight_and_never_publishes_after(
        harness: Harness) -> None:
    h = harness
    h.estimator.gate = threading.Event()
    h.node._on_image(image(1000))
    assert h.estimator.started.wait(5.0)
    assert h.node.stop_worker(0.2) is False          # still inside the network: timed out
    h.estimator.gate.set()
    assert h.node.stop_worker(5.0) is True
    h.spin_until(lambda: False, 0.3)
    assert h.msgs['depth/image'] == [] and h.node.stats.processed == 0


def test_each_frame_gets_its_own_calibration_even_behind_a_slow_inference(
        harness: Harness) -> None:
    """More camera_infos than any fixed-length history arrive during one inference."""
    h = harness
    h.estimator.gate = threading.Event()
    ms = 1_000_000
    h.node._on_camera_info(info(1000 * ms + 3 * ms, fx=40.0))
    h.node._on_image(image(1000 * ms))
    assert h.estimator.started.wait(5.0)
    for i in range(1, 60):                           # 2 s at 30 Hz while the worker is busy
        stamp = (1000 + 33 * i) * ms
        h.node._on_camera_info(info(stamp + 3 * ms, fx=40.0 + i))
        h.node._on_image(image(stamp))
    h.estimator.gate.set()
    assert h.spin_until(lambda: len(h.msgs['depth/camera_info']) == 2, 10)
    fx = [m.k[0] for m in h.msgs['depth/camera_info']]
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
              for m in h.msgs['depth/camera_info']]
    assert fx == [40.0, 99.0] and stamps == [1000 * ms, (1000 + 33 * 59) * ms]
    assert h.node.stats.camera_info['nearest'] == 2


def test_a_compressed_bomb_is_refused_from_its_header(harness: Harness) -> None:
    """Only the PNG header says 12000x12000: it is refused on arrival, never decoded."""
    import struct
    import zlib

    from sensor_msgs.msg import CompressedImage
    h = harness
    ihdr = struct.pack('>IIBBBBB', 12000, 12000, 8, 0, 0, 0, 0)
    chunk = struct.pack('>I', len(ihdr)) + b'IHDR' + ihdr + \
        struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
    bomb = CompressedImage(format='png', data=b'\x89PNG\r\n\x1a\n' + chunk + bytes(100))
    h.node._on_image(bomb)
    _, values = h.diag()
    assert values['images_bad'] == '1' and 'max_image_pixels' in values['last_error']
    assert h.estimator.calls == 0


def test_a_scaled_calibration_does_not_rewrite_the_remembered_size_every_frame(
        harness_ctx, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """camera_info calibrated at twice the image size: the image's size is remembered once."""
    from depth_anything_ros.ros import warmup
    writes: list[tuple[int, int]] = []
    monkeypatch.setattr(warmup, 'remember_camera_size',
                        lambda _dir, _key, height, width: writes.append((height, width)))
    h = Harness(harness_ctx, cache_dir=str(tmp_path))   # nothing remembered from earlier tests
    try:
        for i in range(5):
            scaled = info(1000 * (i + 1), fx=100.0)
            scaled.width, scaled.height = 2 * W, 2 * H   # a driver's binned/scaled mode
            h.node._on_camera_info(scaled)
            h.node._on_image(image(1000 * (i + 1)))
            assert h.spin_until(lambda i=i: len(h.msgs['depth/image']) > i, 10)
    finally:
        h.close()
    assert writes == [(2 * H, 2 * W), (H, W)], writes


def test_backend_facts_reach_diagnostics(harness_ctx) -> None:
    """A runtime's facts are published on /diagnostics beside backend and precision.

    E.g. TensorRT's activation memory, or an onnxruntime session that lost its GPU provider.
    """
    estimator = FakeEstimator()
    estimator.backend_report = {'activation_memory_mb': '212.5',
                                'provider_warning': 'onnxruntime did not start '
                                                    'CUDAExecutionProvider'}
    h = Harness(harness_ctx, estimator)
    try:
        def published() -> dict[str, str]:
            for msg in reversed(h.msgs['/diagnostics']):
                for status in msg.status:
                    return {kv.key: kv.value for kv in status.values}
            return {}

        assert h.spin_until(lambda: 'activation_memory_mb' in published(), 10)
        values = published()
        assert values['activation_memory_mb'] == '212.5'
        assert values['provider_warning'].startswith('onnxruntime did not start')
    finally:
        h.close()
