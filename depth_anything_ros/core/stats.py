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

"""Running statistics for the node's /diagnostics: rates, latency percentiles, counters.

Pure Python and thread-safe (the image callback and the worker both record). The node turns
:meth:`NodeStats.report` into a ``diagnostic_msgs/DiagnosticStatus``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import threading
import time
from typing import Protocol

import numpy as np

__all__ = ['DiagnosticReport', 'is_status', 'NodeStats', 'RateMeter', 'RollingPercentiles',
           'STATUS_NAME', 'status_name']

OK, WARN, ERROR = 0, 1, 2   # diagnostic_msgs/DiagnosticStatus levels

# The node's /diagnostics words, for the node and for the tools that read them.
STATUS_NAME = 'depth'   # a camera's status is named '<node>: depth' ('<node>: depth <camera>')
INPUT_RATE_HZ, OUTPUT_RATE_HZ = 'input_rate_hz', 'output_rate_hz'
LATENCY_P50_MS, LATENCY_P95_MS, INFERENCE_P50_MS = \
    'latency_p50_ms', 'latency_p95_ms', 'inference_p50_ms'
FRAMES_RECEIVED, FRAMES_PROCESSED, FRAMES_DROPPED = \
    'frames_received', 'frames_processed', 'frames_dropped'
FRAMES_BAD, IMAGES_BAD, CAMERA_INFO_BAD, BAD_MESSAGES = \
    'frames_bad', 'images_bad', 'camera_info_bad', 'bad_messages'
FRAMES_FAILED, WORKER_RESTARTS, FRAMES_IDLE = 'frames_failed', 'worker_restarts', 'frames_idle'
CAMERA_INFO_PAIRED = {kind: f'camera_info_{kind}' for kind in ('exact', 'nearest', 'fallback')}
LAST_ERROR, LAST_OUTPUT_AGE_S = 'last_error', 'last_output_age_s'
# what runs, appended by the node
MODEL, DEVICE, BACKEND, PRECISION, INPUT_SIZE, WARMUP_MS = \
    'model', 'device', 'backend', 'precision', 'input_size', 'warmup_ms'
# any-view passes across cameras (multiview_slop), appended by the node
ANYVIEW_FRAMES, ANYVIEW_POSED, ANYVIEW_NOTE = 'anyview_frames', 'anyview_posed', 'anyview_note'
# the temporal state of a camera (core.temporal.CameraTemporal.status), where temporal is on
TEMPORAL, TEMPORAL_FRAMES, TEMPORAL_FRAMES_FUSED = \
    'temporal', 'temporal_frames', 'temporal_frames_fused'
TEMPORAL_RESETS, TEMPORAL_RESET_REASONS, TEMPORAL_LAST_REASON, TEMPORAL_POSE_PROBLEM = \
    'temporal_resets', 'temporal_reset_reasons', 'temporal_last_reason', 'temporal_pose_problem'


def status_name(node: str, camera: str = '') -> str:
    """Return the name of ``camera``'s status of the node named ``node``."""
    return f'{node}: {STATUS_NAME}' + (f' {camera}' if camera else '')


def is_status(name: str, camera: str = '') -> bool:
    """Return True when a status ``name`` is that of the depth node's ``camera``."""
    return name.endswith(status_name('', camera))


class Pairing(Protocol):
    """How frames found their camera_info (``sync.StampMatcher`` counts them)."""

    exact: int
    nearest: int
    fallback: int


class RateMeter:
    """Events per second over a sliding window of ``window`` seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        """Record one event at monotonic time ``now`` (seconds)."""
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        """Return events per second over the last ``window`` seconds (0 with < 2 events)."""
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()


class RollingPercentiles:
    """Percentiles of the last ``size`` samples."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        """Record one sample."""
        self._values.append(value)

    def percentile(self, q: float) -> float:
        """Return the ``q``-th percentile (0..100), NaN when empty."""
        if not self._values:
            return float('nan')
        return float(np.percentile(np.fromiter(self._values, float), q))

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class DiagnosticReport:
    """One status: level (0 OK, 1 WARN, 2 ERROR), a message and key/value strings."""

    level: int
    message: str
    values: tuple[tuple[str, str], ...]


class NodeStats:
    """Counters and timings of the depth node.

    Bad input is counted where it is found: ``image_bad`` / ``camera_info_bad`` on arrival
    (structure, sizes) or decoding; ``frame_bad`` for a valid image refused in the worker
    (e.g. no usable calibration for rectify); ``frame_failed`` for an exception while
    processing. ``frames_bad`` totals the refused and failed frames. How frames were paired with
    their camera_info is read from ``pairing`` (the camera's ``sync.StampMatcher``).
    """

    def __init__(self, window: float = 5.0, watchdog_timeout: float = 5.0,
                 pairing: Pairing | None = None) -> None:
        self._lock = threading.Lock()
        self.window = window
        self.watchdog_timeout = watchdog_timeout
        self.input_rate = RateMeter(window)
        self.output_rate = RateMeter(window)
        self.latency_ms = RollingPercentiles()
        self.infer_ms = RollingPercentiles()
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.bad_frames = 0
        self.images_bad = 0
        self.camera_info_bad = 0
        self.failed = 0
        self.worker_restarts = 0
        self.idle_skipped = 0
        self.pairing = pairing
        self.last_error = ''
        self.first_input: float | None = None
        self.last_input: float | None = None
        self.input_interval: float | None = None   # seconds between the last two images
        self.last_output: float | None = None
        self.last_failure: float | None = None
        self.last_refusal: float | None = None   # an image or CameraInfo refused

    def frame_in(self, now: float, dropped: bool) -> None:
        """Record a valid image arriving; ``dropped`` if it replaced an unprocessed frame."""
        with self._lock:
            self.received += 1
            self.dropped += int(dropped)
            self.input_rate.tick(now)
            self.first_input = now if self.first_input is None else self.first_input
            if self.last_input is not None:
                self.input_interval = now - self.last_input
            self.last_input = now

    def frame_idle(self) -> None:
        """Record an image ignored because no output had subscribers."""
        with self._lock:
            self.idle_skipped += 1

    def frame_out(self, now: float, latency_ms: float, infer_ms: float) -> None:
        """Record a published frame: stamp-to-publish latency and inference time (ms)."""
        with self._lock:
            self.processed += 1
            self.output_rate.tick(now)
            self.latency_ms.add(latency_ms)
            self.infer_ms.add(infer_ms)
            self.last_output = now

    def image_bad(self, reason: str, now: float | None = None) -> None:
        """Record an image refused on arrival (``now``: counted as received) or at decoding."""
        with self._lock:
            if now is not None:
                self.received += 1
                self.input_rate.tick(now)
                self.first_input = now if self.first_input is None else self.first_input
                self.last_input = now
            self.images_bad += 1
            self.bad_frames += 1
            self.last_error = reason
            self.last_refusal = time.monotonic() if now is None else now

    def camera_info_refused(self, reason: str, now: float | None = None) -> None:
        """Record a CameraInfo refused on arrival (the last good calibration is kept)."""
        with self._lock:
            self.camera_info_bad += 1
            self.last_error = reason
            self.last_refusal = time.monotonic() if now is None else now

    def frame_bad(self, reason: str) -> None:
        """Record a valid image the worker could not use (e.g. rectify without camera_info)."""
        with self._lock:
            self.bad_frames += 1
            self.last_error = reason

    def frame_failed(self, reason: str, now: float) -> None:
        """Record an exception while processing a frame."""
        with self._lock:
            self.bad_frames += 1
            self.failed += 1
            self.last_error = reason
            self.last_failure = now

    def worker_restarted(self, reason: str) -> None:
        """Record the worker loop dying and being started again."""
        with self._lock:
            self.worker_restarts += 1
            self.last_error = reason

    @property
    def camera_info(self) -> dict[str, int]:
        """Return how many frames found their camera_info exact, nearest or as a fallback."""
        return {kind: getattr(self.pairing, kind, 0) for kind in CAMERA_INFO_PAIRED}

    def report(self, now: float | None = None, **extra: object) -> DiagnosticReport:
        """Return the current status; ``extra`` key/values (model, device, ...) are appended."""
        now = time.monotonic() if now is None else now
        paired = self.camera_info
        with self._lock:
            rate_in, rate_out = self.input_rate.rate(now), self.output_rate.rate(now)
            since_output = now - (self.last_output if self.last_output is not None
                                  else self.first_input if self.first_input is not None
                                  else now)
            age = '' if self.last_output is None else f'{now - self.last_output:.2f}'
            values = [
                (INPUT_RATE_HZ, f'{rate_in:.2f}'), (OUTPUT_RATE_HZ, f'{rate_out:.2f}'),
                (LATENCY_P50_MS, f'{self.latency_ms.percentile(50):.1f}'),
                (LATENCY_P95_MS, f'{self.latency_ms.percentile(95):.1f}'),
                (INFERENCE_P50_MS, f'{self.infer_ms.percentile(50):.1f}'),
                (FRAMES_RECEIVED, str(self.received)), (FRAMES_PROCESSED, str(self.processed)),
                (FRAMES_DROPPED, str(self.dropped)), (FRAMES_BAD, str(self.bad_frames)),
                (IMAGES_BAD, str(self.images_bad)), (CAMERA_INFO_BAD, str(self.camera_info_bad)),
                (BAD_MESSAGES, str(self.images_bad + self.camera_info_bad)),
                (FRAMES_FAILED, str(self.failed)), (WORKER_RESTARTS, str(self.worker_restarts)),
                *((CAMERA_INFO_PAIRED[kind], str(n)) for kind, n in paired.items()),
                (FRAMES_IDLE, str(self.idle_skipped)), (LAST_ERROR, self.last_error),
                (LAST_OUTPUT_AGE_S, age),
            ]
            recent_input = self.last_input is not None and now - self.last_input <= self.window
            recent_failure = self.last_failure is not None and \
                now - self.last_failure <= self.window
            recent_refusal = self.last_refusal is not None and \
                now - self.last_refusal <= self.window
            refused = self.images_bad + self.camera_info_bad
            failed, last_error, idle = self.failed, self.last_error, self.idle_skipped
        values += [(k, str(v)) for k, v in extra.items()]
        if recent_input and since_output > self.watchdog_timeout and idle == 0:
            level, message = ERROR, (f'no depth published for {since_output:.0f} s while images '
                                     f'arrive; last error: {last_error or "none"}')
        elif recent_failure:
            level, message = ERROR, f'{failed} frames failed; last: {last_error}'
        elif rate_in == 0.0:
            level, message = WARN, 'no camera images'
        elif rate_out == 0.0 and idle == 0:
            level, message = WARN, 'images arrive but no depth is published'
        elif recent_refusal:   # output flows, but from part of the input or a stale calibration
            level, message = WARN, f'{refused} bad messages refused; last: {last_error}'
        else:
            level, message = OK, f'{rate_out:.1f} Hz out of {rate_in:.1f} Hz in'
        return DiagnosticReport(level, message, tuple(values))
