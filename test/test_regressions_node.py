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

"""Hostile input to the running depth node over DDS: it refuses the bad, keeps serving the good.

Each test starts the real node process and publishes from this process (real rclpy, real DDS):
a CameraInfo with absurd binning, a 2000x2 frame, a PNG decompression bomb, a principal point
of 1e308, NaN distortion with rectification on, camera_info stamped a few ms off its image,
and SIGINT in the middle of a long inference.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import signal
import time
from typing import Any

from fuzz_strategies import good_camera_info, png_bomb
import numpy as np
import pytest
from ros_helpers.camera_publisher import make_pixels
from ros_helpers.harness import log_of, NODE_ARGS, Recorder, stamp_ns

from depth_anything_ros.ros.conversions import cloud_to_array

# Every test here runs the node as a process over DDS end to end: the slow lane (make test).
pytestmark = [pytest.mark.ros, pytest.mark.slow]

W, H = 64, 48
PERIOD_NS = 100_000_000        # frame stamps 100 ms apart
BAD_KEYS = ('frames_bad', 'images_bad', 'camera_info_bad', 'bad_messages')


class Camera:
    """Publish frames and camera_info from the test process with chosen stamps."""

    def __init__(self, node: Any, compressed: bool = False) -> None:
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        self.node = node
        topic = 'camera/image/compressed' if compressed else 'camera/image'
        self.pub_img = node.create_publisher(CompressedImage if compressed else Image, topic,
                                             10)
        self.pub_info = node.create_publisher(CameraInfo, 'camera/camera_info', 10)
        self.base_ns = node.get_clock().now().nanoseconds
        self.index = 0

    def stamp(self, index: int, offset_ns: int = 0) -> Any:
        from builtin_interfaces.msg import Time
        ns = self.base_ns + index * PERIOD_NS + offset_ns
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def image(self, width: int = W, height: int = H, encoding: str = 'rgb8') -> Any:
        from sensor_msgs.msg import Image
        channels = {'rgb8': 3, 'mono8': 1}[encoding]
        px = make_pixels(width, height, channels, self.index)
        msg = Image(width=width, height=height, encoding=encoding, step=width * channels,
                    data=px.tobytes())
        msg.header.frame_id = 'camera_optical_frame'
        return msg

    def jpeg(self) -> Any:
        import cv2
        from sensor_msgs.msg import CompressedImage
        px = make_pixels(W, H, 3, self.index)
        msg = CompressedImage(format='jpeg', data=cv2.imencode('.jpg', px)[1].tobytes())
        msg.header.frame_id = 'camera_optical_frame'
        return msg

    def send(self, img: Any, info: Any | None, info_offset_ns: int = 0) -> int:
        """Publish ``img`` (and ``info``, stamped ``info_offset_ns`` off); return its index."""
        index, self.index = self.index, self.index + 1
        img.header.stamp = self.stamp(index)
        if info is not None:
            info.header.frame_id = 'camera_optical_frame'
            info.header.stamp = self.stamp(index, info_offset_ns)
            self.pub_info.publish(info)
        self.pub_img.publish(img)
        return index

    def ns(self, index: int) -> int:
        return self.base_ns + index * PERIOD_NS


def stream(rec: Recorder, proc: Any, send: Callable[[], object], until: Callable[[], bool],
           timeout: float, rate: float = 10.0) -> bool:
    """Call ``send`` at ``rate`` Hz while spinning, until ``until()`` or ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        send()
        if rec.spin_until(until, 1.0 / rate, proc):
            return True
        if proc.poll() is not None:
            return until()
    return until()


def start(ros_node: Any, spawn: Any, tmp_path: Path, *params: str,
          outputs: tuple[tuple[type, str], ...] = (), compressed: bool = False
          ) -> tuple[Any, Path, Recorder, Camera]:
    """Start the node with ``params``; subscribe ``outputs`` and /diagnostics; wait for links."""
    from diagnostic_msgs.msg import DiagnosticArray
    log = tmp_path / 'node.log'
    # its own engine cache: no camera size remembered by an earlier test's node (a warm-up)
    args = [*NODE_ARGS, '-p', f'cache_dir:={tmp_path / "cache"}']
    for p in params:
        args += ['-p', p]
    proc = spawn(*args, stdout=log.open('w'))
    rec = Recorder(ros_node)
    rec.listen(DiagnosticArray, '/diagnostics')
    for msg_type, topic in outputs:
        rec.listen(msg_type, topic)
    cam = Camera(ros_node, compressed)
    linked = rec.spin_until(
        lambda: cam.pub_img.get_subscription_count() > 0
        and all(ros_node.count_publishers(t) > 0 for _, t in outputs), 60, proc)
    assert linked, log_of(log)
    return proc, log, rec, cam


def status(rec: Recorder) -> Any:
    """Return the newest depth_node DiagnosticStatus, or None."""
    for msg in reversed(rec.msgs['/diagnostics']):
        for s in msg.status:
            if 'depth' in s.name:
                return s
    return None


def status_text(s: Any) -> str:
    return s.message + ' ' + ' '.join(f'{kv.key}={kv.value}' for kv in s.values)


def bad_count(rec: Recorder) -> int:
    diag = rec.diagnostics()
    return max(int(diag.get(k, 0) or 0) for k in BAD_KEYS)


def peak_rss_mb(proc: Any) -> float:
    """Return the peak resident memory of ``proc`` (VmHWM) in MB."""
    for line in Path(f'/proc/{proc.pid}/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    raise AssertionError('no VmHWM in /proc status')


def stamps(rec: Recorder, topic: str) -> list[int]:
    return [stamp_ns(m.header) for m in rec.msgs[topic]]


def stop(proc: Any, log: Path) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, log_of(log)


def test_absurd_binning_is_reported_and_the_node_keeps_publishing(ros_node, spawn,
                                                                  tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import CameraInfo, Image
    proc, log, rec, cam = start(ros_node, spawn, tmp_path,
                                outputs=((Image, 'depth/image'),
                                         (CameraInfo, 'depth/camera_info')))

    def good() -> int:
        return cam.send(cam.image(), good_camera_info(W, H))

    def binned() -> int:
        info = good_camera_info(W, H)
        info.binning_x = 1000
        return cam.send(cam.image(), info)

    assert stream(rec, proc, good, lambda: len(rec.msgs['depth/image']) >= 3, 90), log_of(log)
    # absurd binning: the calibration is refused and /diagnostics says why, at WARN or ERROR
    seen: list[str] = []

    def reported() -> bool:
        s = status(rec)
        if s is not None and s.level in (DiagnosticStatus.WARN, DiagnosticStatus.ERROR) \
                and int(rec.diagnostics().get('camera_info_bad', 0)) > 0:
            seen.append(status_text(s))
        return bool(seen)

    stream(rec, proc, binned, reported, 15)
    first_good = cam.index
    # back to a valid calibration: depth flows again, with its camera_info
    assert stream(rec, proc, good, lambda: sum(
        s >= cam.ns(first_good) for s in stamps(rec, 'depth/image')) >= 3, 60), \
        'no depth after the bad camera_info: the worker died\n' + log_of(log)
    assert seen, ('/diagnostics stayed OK (or counted nothing) while every camera_info was '
                  f'refused: {status_text(status(rec))}')
    assert 'binning' in seen[-1], seen[-1]
    assert stream(rec, proc, good, lambda: status(rec).level == DiagnosticStatus.OK, 30), \
        status_text(status(rec))
    assert any(s >= cam.ns(first_good) for s in stamps(rec, 'depth/camera_info'))
    stop(proc, log)


def test_extreme_aspect_frame_is_refused_without_stalling(ros_node, spawn,
                                                          tmp_path: Path) -> None:
    from sensor_msgs.msg import Image
    proc, log, rec, cam = start(ros_node, spawn, tmp_path, outputs=((Image, 'depth/image'),))

    def good() -> int:
        return cam.send(cam.image(), good_camera_info(W, H))

    assert stream(rec, proc, good, lambda: len(rec.msgs['depth/image']) >= 3, 90), log_of(log)
    rss = peak_rss_mb(proc)
    line = cam.send(cam.image(2000, 2, 'mono8'), good_camera_info(2000, 2))
    sent = time.monotonic()
    rec.spin_until(lambda: False, 1.0, proc)    # alone in the slot: the worker must take it
    assert stream(rec, proc, good, lambda: any(s > cam.ns(line)
                                               for s in stamps(rec, 'depth/image')), 5.0), \
        f'no depth within 6 s after a 2000x2 frame\n{log_of(log)}'
    latency = time.monotonic() - sent
    assert not any(s == cam.ns(line) for s in stamps(rec, 'depth/image'))
    assert peak_rss_mb(proc) - rss < 100, f'peak RSS grew {peak_rss_mb(proc) - rss:.0f} MB'
    assert rec.spin_until(lambda: bad_count(rec) >= 1, 5, proc), rec.diagnostics()
    stop(proc, log)
    assert '2000' in log_of(log), f'the refusal does not name the size (after {latency:.1f} s)'


def test_png_bomb_is_refused_fast(ros_node, spawn, tmp_path: Path) -> None:
    from sensor_msgs.msg import CompressedImage, Image
    proc, log, rec, cam = start(ros_node, spawn, tmp_path, 'image_transport:=compressed',
                                outputs=((Image, 'depth/image'),), compressed=True)

    def good() -> int:
        return cam.send(cam.jpeg(), good_camera_info(W, H))

    assert stream(rec, proc, good, lambda: len(rec.msgs['depth/image']) >= 3, 90), log_of(log)
    rss = peak_rss_mb(proc)
    bomb = CompressedImage(format='png', data=png_bomb(12000, 12000, 3))   # ~420 KB -> 432 MB
    bomb.header.frame_id = 'camera_optical_frame'
    index = cam.send(bomb, None)
    rec.spin_until(lambda: False, 1.0, proc)    # alone in the slot: the worker must take it
    assert stream(rec, proc, good, lambda: any(s > cam.ns(index)
                                               for s in stamps(rec, 'depth/image')), 5.0), \
        f'no depth within 6 s after a PNG bomb\n{log_of(log)}'
    assert peak_rss_mb(proc) - rss < 100, f'peak RSS grew {peak_rss_mb(proc) - rss:.0f} MB'
    assert rec.spin_until(lambda: bad_count(rec) >= 1, 5, proc), rec.diagnostics()
    stop(proc, log)
    assert '12000' in log_of(log), 'the refusal does not name the decoded size'


def test_huge_principal_point_never_puts_inf_in_the_cloud(ros_node, spawn,
                                                           tmp_path: Path) -> None:
    from sensor_msgs.msg import Image, PointCloud2
    proc, log, rec, cam = start(ros_node, spawn, tmp_path,
                                outputs=((Image, 'depth/image'), (PointCloud2, 'points')))

    def far_cx() -> int:
        info = good_camera_info(W, H)
        info.k[2] = info.p[2] = 1e308
        return cam.send(cam.image(), info)

    refused = stream(rec, proc, far_cx, lambda: len(rec.msgs['points']) >= 3 or (
        bad_count(rec) >= 3 and len(rec.msgs['depth/image']) >= 3), 90)
    assert refused, log_of(log)
    for msg in rec.msgs['points']:
        cloud = cloud_to_array(msg)
        for axis in 'xyz':
            assert not np.isinf(cloud[axis]).any(), f'{axis} holds inf'
    stop(proc, log)


def test_rectify_with_nan_distortion_refuses_the_frame(ros_node, spawn,
                                                       tmp_path: Path) -> None:
    from sensor_msgs.msg import Image
    proc, log, rec, cam = start(ros_node, spawn, tmp_path, 'rectify:=true',
                                outputs=((Image, 'depth/image'),))

    def nan_d() -> int:
        info = good_camera_info(W, H)
        info.d = [float('nan'), 0.0, 0.0, 0.0, 0.0]
        return cam.send(cam.image(), info)

    stream(rec, proc, nan_d, lambda: bad_count(rec) >= 3 or len(rec.msgs['depth/image']) >= 3,
           90)
    assert not rec.msgs['depth/image'], 'published depth of an unrectifiable (black) frame'
    assert bad_count(rec) >= 3, rec.diagnostics()
    stop(proc, log)
    text = log_of(log)
    assert 'NaN' in text or 'nan' in text, text


def test_camera_info_a_few_ms_off_pairs_with_its_own_image(ros_node, spawn,
                                                           tmp_path: Path) -> None:
    from sensor_msgs.msg import CameraInfo, Image
    proc, log, rec, cam = start(ros_node, spawn, tmp_path, 'camera_info_slop:=0.01',
                                outputs=((Image, 'depth/image'),
                                         (CameraInfo, 'depth/camera_info')))

    def shifted() -> int:
        # fx encodes the frame index; the stamp is 3 ms after (even) or before (odd) the image
        index = cam.index
        info = good_camera_info(W, H, fx=100.0 + index)
        return cam.send(cam.image(), info, 3_000_000 if index % 2 == 0 else -3_000_000)

    # 20 Hz: faster than the node, so a newer camera_info is always waiting
    assert stream(rec, proc, shifted, lambda: len(rec.msgs['depth/camera_info']) >= 8, 120,
                  rate=20.0), log_of(log)
    wrong = []
    for info in rec.msgs['depth/camera_info']:
        index = (stamp_ns(info.header) - cam.base_ns) // PERIOD_NS
        if info.k[0] != 100.0 + index:
            wrong.append((index, info.k[0] - 100.0))
    assert not wrong, f'(frame, calibration of frame) pairs that differ: {wrong}'
    stop(proc, log)


@pytest.mark.slow
def test_sigint_during_a_long_inference_exits_cleanly(ros_node, spawn, tmp_path: Path) -> None:
    from sensor_msgs.msg import Image
    # input_size 770 on a 640x480 frame: one CPU inference of the vits network takes > 10 s
    proc, log, rec, cam = start(ros_node, spawn, tmp_path, 'input_size:=770',
                                outputs=((Image, 'depth/image'),))
    image, info = cam.image(640, 480), good_camera_info(640, 480)

    def received() -> bool:   # sent until counted: a frame sent as DDS matches can be lost
        if int(rec.diagnostics().get('frames_received', 0)) >= 1:
            return True
        cam.send(image, info)
        return False

    assert rec.spin_until(received, 30, proc), log_of(log)
    rec.spin_until(lambda: False, 2.0, proc)       # inference is under way
    assert not rec.msgs['depth/image'], 'the inference was not long enough for this test'
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    text = log_of(log)
    assert 'terminate called' not in text, text
    assert code == 0, text
