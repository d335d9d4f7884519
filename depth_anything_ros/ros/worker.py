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

"""The node's one inference thread: pending frames in, published outputs out.

The image callbacks drop frames into a ``sync.CameraSlots`` (one newest frame per camera). The
worker takes every pending frame, longest-waiting camera first, decodes each (a compressed frame
only now, off the executor), hands them to ``camera_stage.process_frames`` (frames of one
network input share a forward pass; with an any-view model and ``multiview_slop``, frames of
several cameras stamped within the slop are the views of one pass) and publishes each result.
For such a model it first waits, at most ``multiview_slop`` s, until every camera has a frame
pending and their stamps agree within the slop: a frame never waits longer for a partner, and
one that finds none is processed alone. A fault in one frame costs that
frame only (:meth:`Worker.guarded`, the node's one broad catch); should the loop itself die it
is counted and started again. Between frames it runs the pending warm-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import functools
import threading
import time
from typing import Any

from depth_anything_ros.core.camera_stage import Frame, FrameResult, Lookup, process_frames
from depth_anything_ros.core.geometry import CameraInfoError
from depth_anything_ros.core.images import ImageFormatError
from depth_anything_ros.core.multiview import stamps_match
from depth_anything_ros.core.pipeline import Wanted
from depth_anything_ros.core.sync import CameraSlots
from depth_anything_ros.ros.conversions import camera_frame_to_array, stamp_ns
from depth_anything_ros.ros.publishing import PublishGate, RosCamera
from depth_anything_ros.ros.warmup import WarmUp

__all__ = ['PARTNER_SILENT_PERIODS', 'PARTNER_SILENT_S', 'Pending', 'stopped',
           'THROTTLE_S', 'Worker']

THROTTLE_S = 5.0   # seconds between repeats of one per-frame log message
# A camera silent for longer than this and than PARTNER_SILENT_PERIODS of its own last frame
# interval stopped publishing: the other cameras' frames no longer wait for it as a partner.
PARTNER_SILENT_S = 1.0
PARTNER_SILENT_PERIODS = 3.0


@dataclass(frozen=True)
class Pending:
    """A frame as it arrived: the message (checked, not decoded) and its arrival time."""

    msg: Any            # sensor_msgs Image or CompressedImage
    received: float     # time.monotonic() at arrival


def stopped(stats: Any, now: float) -> bool:
    """Return True when a camera stopped publishing (its ``NodeStats`` at ``now``).

    That is silent for longer than :data:`PARTNER_SILENT_S` and than
    :data:`PARTNER_SILENT_PERIODS` of its own last frame interval (a slow camera is no stopped
    one). A camera with fewer than two frames has no rate yet and counts as publishing.
    """
    last, interval = stats.last_input, stats.input_interval
    if last is None or interval is None:
        return False
    return now - last > max(PARTNER_SILENT_S, PARTNER_SILENT_PERIODS * interval)


class Worker:
    """The inference thread of a node's cameras (see the module docstring)."""

    def __init__(self, slot: CameraSlots[RosCamera, Pending], cameras: list[RosCamera],
                 estimator: Any, gate: PublishGate, warmup: WarmUp, logger: Any, clock: Any,
                 size_key: Callable[[RosCamera], str], lookup: Lookup | None = None) -> None:
        self.slot, self.cameras, self.estimator = slot, cameras, estimator
        self.gate, self.warmup, self.logger, self.clock = gate, warmup, logger, clock
        self.size_key, self.lookup = size_key, lookup
        self.thread = threading.Thread(target=self._run, name='depth_worker', daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def _run(self) -> None:
        """Thread target: the frame loop, started again should it ever die."""
        while not self.slot.closed:   # its own slot: a later activation has another worker
            try:
                self._work()
            except Exception as exc:   # noqa: BLE001 -- the loop itself must never end
                for camera in self.cameras:
                    camera.stats.worker_restarted(f'worker loop died: {type(exc).__name__}: '
                                                  f'{exc}')
                self.logger.error(f'worker loop died ({type(exc).__name__}: {exc}); '
                                  'restarting it', throttle_duration_sec=THROTTLE_S)
                time.sleep(0.1)   # never a hot loop
        self.cameras, self.estimator = [], None   # cleanup frees the model: hold none of it

    def _work(self) -> None:
        slot = self.slot
        while not slot.closed:
            timeout = 0.5 if self.warmup.pending is None else 0.02
            gather = self._gather()   # any-view: wait up to multiview_slop for partners
            pending = slot.take(timeout, gather, self._views_ready) if gather > 0.0 else \
                slot.take(timeout=timeout)
            if not pending:
                self.warmup.run(self.estimator, slot.closed)
                continue
            frames = [(camera, decoded) for camera, item in pending if (
                decoded := self.guarded(camera, self._decode, camera, item)) is not None]
            cameras = [camera for camera, _ in frames]
            results = process_frames(
                [(camera.stage, frame, wanted) for camera, (frame, wanted, _) in frames],
                functools.partial(self._guard_of, cameras), self.lookup)
            for (camera, (_, _, header)), result in zip(frames, results):
                if result is not None:
                    self.guarded(camera, self._publish, camera, result, header)

    def _gather(self) -> float:
        """Seconds to wait for partner frames: ``multiview_slop`` for an any-view model."""
        cameras = self.cameras
        if len(cameras) < 2 or int(getattr(self.estimator, 'max_views', 1)) < 2:
            return 0.0
        return cameras[0].stage.cfg.multiview_slop

    def _views_ready(self, pending: list[tuple[RosCamera, Pending]]) -> bool:
        """Return True when every camera has a frame pending, all stamped within the slop.

        Only cameras whose outputs someone wants and that still publish count: the frames
        of the others are never taken (``_on_image`` drops them) or not coming (see
        :func:`stopped`), so waiting for one would only add the slop.
        """
        now = time.monotonic()
        partners = sum(1 for camera in self.cameras
                       if self.gate.wanted(camera).any() and not stopped(camera.stats, now))
        return len(pending) >= partners and stamps_match(
            [stamp_ns(item.msg.header) for _, item in pending], self._gather())

    def _decode(self, camera: RosCamera,
                item: Pending) -> tuple[Frame, Wanted, Any] | None:
        """Return the decoded frame, its outputs and header (None: nothing to do or refused)."""
        wanted = self.gate.wanted(camera)
        if not wanted.any():
            camera.stats.frame_idle()
            return None
        try:   # a compressed frame is decoded only now, in the worker
            pixels, encoding = camera_frame_to_array(item.msg, camera.stage.limits)
        except ImageFormatError as exc:
            camera.stats.image_bad(str(exc))
            self.logger.error(f'{camera.prefix}image refused: {exc}',
                              throttle_duration_sec=THROTTLE_S)
            return None
        self.warmup.frame(self.size_key(camera), *pixels.shape[:2])
        header = item.msg.header
        return Frame(pixels, encoding, stamp_ns(header), header.frame_id,
                     item.received), wanted, header

    def _publish(self, camera: RosCamera, result: FrameResult, header: Any) -> None:
        if result.outputs.camera is None and result.wanted.points and not result.cfg.rectify:
            self.logger.warning(
                f'{camera.prefix}no intrinsics: nothing received on camera_info and '
                'fx/fy/cx/cy unset; points are not published', throttle_duration_sec=THROTTLE_S)
        if result.note:
            self.logger.warning(f'{camera.prefix}any-view pass of {result.views} cameras: '
                                f'{result.note}', throttle_duration_sec=THROTTLE_S)
        latency_ms = self.gate.publish_frame(camera, result, header, self.clock)
        if latency_ms is not None:
            camera.stats.frame_out(time.monotonic(), latency_ms, result.outputs.infer_ms)

    def _guard_of(self, cameras: list[RosCamera], index: int, fn: Callable[..., Any],
                  *args: Any) -> Any:
        return self.guarded(cameras[index], fn, *args)

    def guarded(self, camera: RosCamera, fn: Callable[..., Any], *args: Any) -> Any:
        """Return ``fn(*args)``; whatever goes wrong costs that frame only (None)."""
        try:
            return fn(*args)
        except (ImageFormatError, CameraInfoError) as exc:   # input found bad in the worker
            camera.stats.frame_bad(str(exc))
            self.logger.error(f'{camera.prefix}frame skipped: {exc}',
                              throttle_duration_sec=THROTTLE_S)
        # The one broad catch of the node: whatever one frame raises (a backend error, out
        # of memory, a bug on an input nobody foresaw) costs that frame only, is counted
        # and reported, and the stream goes on.
        except Exception as exc:   # noqa: BLE001
            reason = f'processing failed ({type(exc).__name__}): {exc}'
            camera.stats.frame_failed(reason, time.monotonic())
            self.logger.error(f'{camera.prefix}frame skipped, {reason}',
                              throttle_duration_sec=THROTTLE_S)
        return None
