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

"""Soak / load test of the depth node: a player feeds it a mixed stream for a long time.

The node under test runs unchanged in its own process (:class:`NodeProcess`). This process
plays camera frames (``Image`` + ``CameraInfo`` with the same stamp) at a fixed rate, mixes in
structurally bad images and bad camera_infos at a given fraction, gives every event a unique
stamp so each output can be traced to what caused it, records every output with its arrival
time and every ``/diagnostics`` message, and samples the node process's RSS and CPU.

A bad image comes with a valid CameraInfo of its stamp. A bad CameraInfo comes alone, with a
stamp of its own: the node refuses it and keeps its last good calibration, so a bad
calibration can only show up as a ``depth/camera_info`` whose K differs from the one sent with
that frame (``camera_info_altered``), never through a stamp.

Pure parts (tested without ROS): :func:`bad_pair` (the defects), :func:`bad_schedule`,
:func:`least_squares_slope`, :func:`latency_summary`, :func:`max_gap`, :func:`summarize`
(a :class:`Recording` -> the report), :func:`is_sustained` and :func:`find_peak`.

What "sustained" means for this node: it keeps only the newest frame, so above its inference
speed it drops frames by design and never builds a queue. A rate is sustained when the output
keeps up with the input (:attr:`SustainRule.min_delivered` of the valid frames published) and
latency does not grow over the trial (the median of the last third exceeds the median of the
first third by at most :attr:`SustainRule.max_latency_growth`, relative, or an absolute floor).
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
import copy
from dataclasses import asdict, dataclass, field
import logging
import math
import os
from pathlib import Path
import time
from typing import Any

import numpy as np

from depth_anything_ros.core import stats as keys
from depth_anything_ros.offline.node_process import (
    camera_remaps,
    depth_status,
    node_arguments,
    NodeProcess,
    parse_assignments,
)
from depth_anything_ros.ros import topics

log = logging.getLogger(__name__)

BAD_IMAGE_KINDS: tuple[str, ...] = ('wrong_step', 'truncated_data', 'unsupported_encoding',
                                    'zero_size', 'tiny_2000x2')
BAD_INFO_KINDS: tuple[str, ...] = ('binning_1000', 'nan_k', 'cx_1e308', 'fx_zero',
                                   'roi_outside_image')
BAD_KINDS: tuple[str, ...] = BAD_IMAGE_KINDS + BAD_INFO_KINDS
VALID = 'valid'

# Outputs recorded. The "primary" image is metric depth or relative disparity: a frame counts
# as published when one of them arrives. depth/colored is not subscribed (the node then skips
# colourising, as it does on a robot that does not display it).
PRIMARY: tuple[topics.Topic, ...] = (topics.DEPTH_IMAGE, topics.DISPARITY_IMAGE)
RECORDED: tuple[topics.Topic, ...] = (*PRIMARY, topics.DEPTH_CAMERA_INFO, topics.POINTS)
# Where the player publishes, under the node's namespace (remapped to the node's inputs).
CAMERA_IMAGE, CAMERA_INFO = 'camera/image', 'camera/camera_info'

# Acceptance limits of a soak run (docs/node.md, "Soak test").
RSS_SLOPE_LIMIT_MB_PER_HOUR = 20.0

# Node /diagnostics counters read by the report (absent keys read as None).
COUNTERS: tuple[str, ...] = (keys.FRAMES_RECEIVED, keys.FRAMES_PROCESSED, keys.FRAMES_DROPPED,
                             keys.FRAMES_BAD, keys.FRAMES_IDLE, keys.IMAGES_BAD,
                             keys.CAMERA_INFO_BAD, keys.BAD_MESSAGES, keys.WORKER_RESTARTS)
# Node /diagnostics strings copied into the report (what ran: model, device, runtime).
NODE_INFO: tuple[str, ...] = (keys.MODEL, keys.DEVICE, keys.BACKEND, keys.PRECISION,
                              keys.INPUT_SIZE)


# --------------------------------------------------------------------------- pure: stream
def bad_schedule(index: int, fraction: float) -> bool:
    """Whether event ``index`` (0, 1, ...) is bad so that exactly ``fraction`` of them are.

    Evenly spread, deterministic: event i is bad when ``floor((i + 1) f)`` steps up.
    """
    return math.floor((index + 1) * fraction) > math.floor(index * fraction)


def bad_pair(kind: str, image: Any, info: Any) -> tuple[Any, Any]:
    """Return copies of ``(image, info)`` (sensor_msgs Image, CameraInfo) with defect ``kind``.

    Image defects (:data:`BAD_IMAGE_KINDS`) leave the CameraInfo valid and vice versa.
    """
    image, info = copy.deepcopy(image), copy.deepcopy(info)
    w, h = image.width, image.height
    if kind == 'wrong_step':
        image.step = w * 3 - 1                      # rows shorter than width * 3 bytes
    elif kind == 'truncated_data':
        image.data = array.array('B', image.data[:len(image.data) // 2])
    elif kind == 'unsupported_encoding':
        image.encoding, image.step = 'bayer_rggb8', w   # consistent sizes, unknown encoding
        image.data = array.array('B', bytes(w * h))
    elif kind == 'zero_size':
        image.width = image.height = image.step = 0
        image.data = array.array('B')
    elif kind == 'tiny_2000x2':
        image.width, image.height, image.step = 2000, 2, 6000
        image.data = array.array('B', bytes(2 * 6000))
    elif kind == 'binning_1000':
        info.binning_x = info.binning_y = 1000
    elif kind == 'nan_k':
        info.k[0] = info.k[4] = math.nan
    elif kind == 'cx_1e308':
        info.k[2] = info.p[2] = 1e308
    elif kind == 'fx_zero':
        info.k[0] = info.p[0] = 0.0
    elif kind == 'roi_outside_image':
        info.roi.x_offset, info.roi.y_offset = info.width + 100, info.height + 100
        info.roi.width, info.roi.height = 50, 50
    else:
        raise ValueError(f'unknown bad message kind {kind!r}; choose from {", ".join(BAD_KINDS)}')
    return image, info


# --------------------------------------------------------------------------- pure: statistics
def least_squares_slope(t: Sequence[float], y: Sequence[float]) -> float | None:
    """Least-squares slope dy/dt of the points; None with fewer than 2 distinct ``t``."""
    ta, ya = np.asarray(t, np.float64), np.asarray(y, np.float64)
    if ta.size < 2 or np.ptp(ta) == 0:
        return None
    tc = ta - ta.mean()
    return float((tc * (ya - ya.mean())).sum() / (tc * tc).sum())


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | int | None]:
    """``p50, p90, p95, p99, max`` and ``n`` of latencies in ms (None values when empty)."""
    a = np.asarray(values_ms, np.float64)
    if a.size == 0:
        return {'p50': None, 'p90': None, 'p95': None, 'p99': None, 'max': None, 'n': 0}
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return {'p50': float(p50), 'p90': float(p90), 'p95': float(p95), 'p99': float(p99),
            'max': float(a.max()), 'n': int(a.size)}


def max_gap(times: Sequence[float], start: float, end: float) -> float:
    """Longest interval in ``[start, end]`` without an event (``times`` in seconds)."""
    inside = sorted(t for t in times if start <= t <= end)
    edges = [start, *inside, end]
    return float(max(b - a for a, b in zip(edges, edges[1:])))


def latency_growth(times: Sequence[float], values_ms: Sequence[float]) -> float | None:
    """Median latency of the last third minus that of the first third (ms), by time order."""
    if len(values_ms) < 6:
        return None
    order = np.argsort(np.asarray(times))
    v = np.asarray(values_ms, np.float64)[order]
    third = len(v) // 3
    return float(np.median(v[-third:]) - np.median(v[:third]))


# --------------------------------------------------------------------------- recording
@dataclass
class Recording:
    """Everything one run observed. Times are seconds since the run's start (``t0_ns``).

    ``sent``: ``(stamp_ns, kind, t)`` per event (kind is ``valid`` or a bad kind);
    ``outputs``: topic name -> ``[(stamp_ns, t)]``; ``samples``: ``(t, rss_bytes, cpu_percent)`` of
    the node process; ``diagnostics``: ``(t, counters)`` from the node's status;
    ``baseline``: the node's counters before the run (deltas are reported); ``node_info``:
    :data:`NODE_INFO` strings of the node's latest status; ``sent_k`` / ``output_k``: stamp ->
    ``(width, height, *K)`` of the CameraInfo sent with a frame / of ``depth/camera_info``;
    ``host``: ``(t, player_cpu_percent, loadavg_1min)``: how busy this process and the (shared)
    machine were; ``node_timing``: ``(t, inference_p50_ms, latency_p50_ms)`` as the node
    reports them (its own stamp -> publish latency, without the way back to the player);
    ``measure_from``: end of warm-up; ``send_end``: the last event sent.
    """

    t0_ns: int
    sent: list[tuple[int, str, float]] = field(default_factory=list)
    outputs: dict[str, list[tuple[int, float]]] = field(
        default_factory=lambda: {t.name: [] for t in RECORDED})
    samples: list[tuple[float, int, float]] = field(default_factory=list)
    diagnostics: list[tuple[float, dict[str, int | None]]] = field(default_factory=list)
    baseline: dict[str, int | None] = field(default_factory=dict)
    measure_from: float = 0.0
    send_end: float = 0.0
    node_exit_code: int | None = None
    node_info: dict[str, str] = field(default_factory=dict)
    sent_k: dict[int, tuple[float, ...]] = field(default_factory=dict)
    output_k: dict[int, tuple[float, ...]] = field(default_factory=dict)
    host: list[tuple[float, float, float]] = field(default_factory=list)
    node_timing: list[tuple[float, float, float]] = field(default_factory=list)


def node_counters(values: dict[str, str]) -> dict[str, int | None]:
    """Return the :data:`COUNTERS` of one diagnostics status; missing keys read as None."""
    out: dict[str, int | None] = {}
    for key in COUNTERS:
        try:
            out[key] = int(values[key])
        except (KeyError, ValueError):
            out[key] = None
    bad = (out[keys.IMAGES_BAD], out[keys.CAMERA_INFO_BAD])
    if out[keys.BAD_MESSAGES] is None and None not in bad:
        out[keys.BAD_MESSAGES] = sum(bad)
    return out


def _delta(end: dict[str, int | None], start: dict[str, int | None], key: str) -> int | None:
    if end.get(key) is None:
        return None
    return end[key] - (start.get(key) or 0)


def first_primary(rec: Recording) -> dict[int, float]:
    """Return ``{stamp: seconds}``: when the first primary output of each frame arrived."""
    primary: dict[int, float] = {}
    for topic in PRIMARY:
        for stamp, t in rec.outputs.get(topic.name, []):
            primary.setdefault(stamp, t)
    return primary


def summarize(rec: Recording) -> dict[str, Any]:
    """Return the report of a recording (the JSON contract of ``bench soak``)."""
    kind_of = {stamp: kind for stamp, kind, _ in rec.sent}
    sent_at = {stamp: t for stamp, _, t in rec.sent}
    valid_sent = sum(kind == VALID for kind in kind_of.values())
    images_sent = sum(kind not in BAD_INFO_KINDS for kind in kind_of.values())
    primary = first_primary(rec)
    from_bad: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for topic, rows in rec.outputs.items():
        for stamp, _ in rows:
            kind = kind_of.get(stamp, 'unknown')
            if kind != VALID:
                from_bad[topic] = from_bad.get(topic, 0) + 1
                by_kind[kind] = by_kind.get(kind, 0) + 1
    valid_published = sum(kind_of.get(s) == VALID for s in primary)
    measured = [(t, 1e3 * (t - sent_at[s])) for s, t in primary.items()
                if kind_of.get(s) == VALID and sent_at[s] >= rec.measure_from]
    arrival = [t for t, _ in measured]
    latencies = [ms for _, ms in measured]
    final = rec.diagnostics[-1][1] if rec.diagnostics else {}
    counters = {k: _delta(final, rec.baseline, k) for k in COUNTERS}
    dropped = counters['frames_dropped']
    after = [(t, rss, cpu) for t, rss, cpu in rec.samples if t >= rec.measure_from]
    slope = least_squares_slope([t for t, _, _ in after], [rss / 2**20 for _, rss, _ in after])
    duration = rec.send_end - rec.measure_from
    report: dict[str, Any] = {
        'sent': len(rec.sent), 'valid_sent': valid_sent, 'bad_sent': len(rec.sent) - valid_sent,
        'bad_sent_by_kind': _count(k for k in kind_of.values() if k != VALID),
        'published': len(primary), 'published_valid': valid_published,
        'published_from_bad': sum(from_bad.values()),
        'published_from_bad_by_topic': from_bad, 'published_from_bad_by_kind': by_kind,
        'outputs_by_topic': {t: len(rows) for t, rows in rec.outputs.items()},
        'bad_reported': counters['bad_messages'],
        'worker_restarts': counters['worker_restarts'],
        'frames_dropped': dropped,
        'valid_unaccounted': (None if dropped is None
                              else max(0, valid_sent - valid_published - dropped)),
        'images_sent': images_sent,
        'images_lost_in_transport': (None if counters['frames_received'] is None
                                     else images_sent - counters['frames_received']),
        'camera_info_altered': camera_info_altered(rec.sent_k, rec.output_k),
        'node_counters': counters,
        'max_output_gap_s': (max_gap(list(primary.values()), rec.measure_from,
                                     rec.send_end) if duration > 0 else None),
        'latency_ms': latency_summary(latencies),
        'latency_growth_ms': latency_growth(arrival, latencies),
        'delivered': valid_published / valid_sent if valid_sent else None,
        'send_rate_hz': (sum(t >= rec.measure_from for _, _, t in rec.sent) / duration
                         if duration > 0 else None),
        'output_rate_hz': len(arrival) / duration if duration > 0 else None,
        'rss_mb': {'start': after[0][1] / 2**20 if after else None,
                   'end': after[-1][1] / 2**20 if after else None,
                   'max': max(r for _, r, _ in after) / 2**20 if after else None,
                   'slope_mb_per_hour': None if slope is None else 3600.0 * slope},
        'cpu_percent': float(np.mean([c for _, _, c in after])) if after else None,
        'cpu_percent_p90': float(np.percentile([c for _, _, c in after], 90)) if after else None,
        'measured_s': duration, 'node_exit_code': rec.node_exit_code,
        'node_info': rec.node_info,
        'node_inference_p50_ms': _median([i for t, i, _ in rec.node_timing
                                          if t >= rec.measure_from]),
        'node_latency_p50_ms': _median([lat for t, _, lat in rec.node_timing
                                        if t >= rec.measure_from]),
        'player_cpu_percent': _mean([c for t, c, _ in rec.host if t >= rec.measure_from]),
        'host_loadavg_1min': {'mean': _mean([x for t, _, x in rec.host if t >= rec.measure_from]),
                              'max': max((x for t, _, x in rec.host if t >= rec.measure_from),
                                         default=None)},
    }
    report['checks'] = checks(report)
    return report


def camera_info_altered(sent: dict[int, tuple[float, ...]],
                        published: dict[int, tuple[float, ...]]) -> int | None:
    """How many ``depth/camera_info`` carry another K than the CameraInfo sent with the frame.

    Both map stamp -> ``(width, height, *K)``. Only outputs at the input size are compared
    (``output_stride`` > 1 rescales K); None when there is none.
    """
    same_size = [(sent[s], k) for s, k in published.items() if s in sent and sent[s][:2] == k[:2]]
    if not same_size:
        return None
    return sum(not np.allclose(a[2:], b[2:], rtol=1e-9, atol=1e-9) for a, b in same_size)


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def checks(report: dict[str, Any]) -> dict[str, bool | None]:
    """Return the soak's acceptance checks (None: the node did not report what one needs)."""
    slope = report['rss_mb']['slope_mb_per_hour']
    restarts, unaccounted = report['worker_restarts'], report['valid_unaccounted']
    return {
        'node_alive': report['node_exit_code'] is None,
        'no_worker_restarts': None if restarts is None else restarts == 0,
        'nothing_published_from_bad': report['published_from_bad'] == 0,
        'calibration_intact': (None if report['camera_info_altered'] is None
                               else report['camera_info_altered'] == 0),
        'rss_slope_under_limit': None if slope is None else slope < RSS_SLOPE_LIMIT_MB_PER_HOUR,
        'valid_frames_accounted': None if unaccounted is None else unaccounted == 0,
    }


# --------------------------------------------------------------------------- pure: peak search
@dataclass(frozen=True)
class SustainRule:
    """When a trial at one rate counts as sustained (see the module docstring)."""

    min_delivered: float = 0.95        # published / valid sent
    max_latency_growth: float = 0.5    # last-third median over first-third median, relative
    latency_growth_floor_ms: float = 50.0   # growth always tolerated (scheduling noise)
    min_frames: int = 40               # a trial lasts at least this many frames: one lost
                                       # frame in 20 would otherwise decide the verdict


def is_sustained(report: dict[str, Any], rule: SustainRule) -> bool:
    """Whether a trial's report meets ``rule``."""
    delivered, growth = report.get('delivered'), report.get('latency_growth_ms')
    p50 = report['latency_ms']['p50']
    if delivered is None or delivered < rule.min_delivered or p50 is None:
        return False
    return growth is None or growth <= max(rule.max_latency_growth * p50,
                                           rule.latency_growth_floor_ms)


@dataclass(frozen=True)
class PeakSearch:
    """Result of :func:`find_peak`: the highest sustained rate (None if none) and the trials."""

    rate_hz: float | None
    trials: tuple[tuple[float, bool], ...]


def find_peak(trial: Callable[[float], bool], start_hz: float, *, max_hz: float = 60.0,
              min_hz: float = 0.25, factor: float = 1.5, refine_steps: int = 3) -> PeakSearch:
    """Highest rate for which ``trial(rate)`` holds, searched as ros2_benchmark-style sweeps do.

    From ``start_hz``: step up by ``factor`` while trials pass (up to ``max_hz``), or down
    while they fail (down to ``min_hz``), then bisect between the last pass and the first
    failure ``refine_steps`` times. Assumes pass/fail is monotonic in the rate.
    """
    if not (0 < min_hz <= start_hz <= max_hz) or factor <= 1:
        raise ValueError(f'need 0 < min_hz <= start_hz <= max_hz and factor > 1; got '
                         f'{min_hz}, {start_hz}, {max_hz}, {factor}')
    trials: list[tuple[float, bool]] = []

    def run(rate: float) -> bool:
        ok = bool(trial(rate))
        trials.append((rate, ok))
        return ok

    rate = start_hz
    good: float | None = None
    bad: float | None = None
    if run(rate):
        good = rate
        while good < max_hz:
            rate = min(good * factor, max_hz)
            if not run(rate):
                bad = rate
                break
            good = rate
    else:
        bad = rate
        while bad > min_hz:
            rate = max(bad / factor, min_hz)
            if run(rate):
                good = rate
                break
            bad = rate
    if good is not None and bad is not None:
        for _ in range(refine_steps):
            rate = 0.5 * (good + bad)
            if run(rate):
                good = rate
            else:
                bad = rate
    return PeakSearch(good, tuple(trials))


# --------------------------------------------------------------------------- ROS: the player
@dataclass(frozen=True)
class Stream:
    """Frames to play: raw ``Image`` + ``CameraInfo`` pairs, played in a loop."""

    pairs: tuple[tuple[Any, Any], ...]

    @classmethod
    def from_bag(cls, bag: Path) -> Stream:
        """Decode the JPEG frames of a rosbag2 (directory or its ``.mcap`` file) to bgr8."""
        from depth_anything_ros.offline.demo import read_stream
        from depth_anything_ros.ros.conversions import array_to_image, compressed_to_array
        pairs = []
        for jpeg, info in read_stream(bag.parent if bag.is_file() else bag):
            pixels, encoding = compressed_to_array(jpeg)
            pairs.append((array_to_image(pixels, encoding, jpeg.header), info))
        return cls(tuple(pairs))


def soak_arguments(namespace: str, checkpoint: str, params: Sequence[str]) -> list[str]:
    """``--ros-args`` for the node under test: remappings, checkpoint, ``NAME=VALUE`` params."""
    values: dict[str, Any] = {'diagnostics_period': 0.5}
    if checkpoint:
        values['checkpoint'] = checkpoint
        if checkpoint.startswith('untrained'):
            values['allow_untrained_weights'] = True
    values.update(parse_assignments(params))
    return node_arguments(values, camera_remaps(namespace, CAMERA_IMAGE, CAMERA_INFO))


Progress = Callable[[str, float, float], None]   # (phase, seconds done, seconds planned)


class Player:
    """Plays a :class:`Stream` to the node of a :class:`NodeProcess` and records everything."""

    def __init__(self, node: NodeProcess, stream: Stream, namespace: str,
                 sample_period: float = 1.0) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        import psutil
        from rclpy.qos import QoSProfile, QoSReliabilityPolicy
        self.node, self.stream, self.namespace = node, stream, namespace
        self.sample_period = sample_period
        self._process = psutil.Process(node.process.pid)
        self._self = psutil.Process()
        self._rec = Recording(time.time_ns())
        harness = node.node
        reliable = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE)
        self._pub_image = harness.create_publisher(
            topics.IMAGE.message_class(), topics.resolve(namespace, CAMERA_IMAGE), reliable)
        self._pub_info = harness.create_publisher(
            topics.CAMERA_INFO.message_class(), topics.resolve(namespace, CAMERA_INFO), reliable)
        for topic in RECORDED:
            harness.create_subscription(topic.message_class(), topics.resolve(namespace, topic),
                                        self._keeper(topic.name), reliable)
        harness.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self._last_stamp = 0
        self._last_output = 0.0
        self._index = 0
        self._bad_count = 0
        self._diag_count = 0

    def _now(self) -> float:
        return 1e-9 * (time.time_ns() - self._rec.t0_ns)

    def _keeper(self, topic: str) -> Callable[[Any], None]:
        from depth_anything_ros.ros.conversions import stamp_ns

        def keep(msg: Any) -> None:
            now = self._now()
            stamp = stamp_ns(msg.header)
            self._rec.outputs[topic].append((stamp, now))
            if topic == topics.DEPTH_CAMERA_INFO.name:
                self._rec.output_k[stamp] = _calibration(msg)
            self._last_output = now
        return keep

    def _on_diagnostics(self, msg: Any) -> None:
        values = depth_status(msg)
        if values is not None:
            self._rec.diagnostics.append((self._now(), node_counters(values)))
            self._rec.node_info = {k: values[k] for k in NODE_INFO if k in values}
            self._rec.node_timing.append((self._now(), _float(values, keys.INFERENCE_P50_MS),
                                          _float(values, keys.LATENCY_P50_MS)))
            self._diag_count += 1

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the node subscribes to the camera and publishes its outputs."""
        harness = self.node.node
        ready = self.node.spin_until(
            lambda: harness.count_subscribers(topics.resolve(self.namespace, CAMERA_IMAGE)) > 0
            and harness.count_publishers(
                topics.resolve(self.namespace, topics.DEPTH_CAMERA_INFO)) > 0
            and self._diag_count > 0, timeout)
        self.node.spin_until(lambda: False, 1.0)   # let the reliable subscriptions match
        self._process.cpu_percent(None)             # start the CPU measurements
        self._self.cpu_percent(None)
        return ready

    def play(self, rate_hz: float, duration: float, bad_fraction: float, warmup: float = 0.0,
             drain_quiet: float = 2.0, progress: Progress | None = None) -> Recording:
        """Play for ``warmup + duration`` s at ``rate_hz``; drain; return the recording.

        Counters cover the whole run, warm-up included; latency, gaps, RSS and CPU only the
        time after warm-up. Returns early if the node process exits.
        """
        baseline = dict(self._rec.diagnostics[-1][1]) if self._rec.diagnostics else {}
        rec = self._rec = Recording(time.time_ns(), baseline=baseline,
                                   node_info=dict(self._rec.node_info))
        self._last_output = 0.0
        period = 1.0 / rate_hz
        start = self._now()
        rec.measure_from = start + warmup
        end = rec.measure_from + duration
        next_send = next_sample = start
        while self._now() < end:
            if self.node.process.poll() is not None:
                break
            now = self._now()
            if now >= next_sample:
                self._sample(now)
                next_sample += self.sample_period
                if progress is not None:
                    phase = 'warm-up' if now < rec.measure_from else 'soak'
                    done = now - start if now < rec.measure_from else now - rec.measure_from
                    progress(phase, done, warmup if now < rec.measure_from else duration)
            if now >= next_send:
                self._send(bad_fraction, now)
                # a late player does not burst to catch up: a camera would not either
                next_send = max(next_send + period, now - period)
            wake = min(next_send, next_sample, end)
            self.node.spin_until(lambda t=wake: self._now() >= t, max(1e-3, wake - self._now()))
        rec.send_end = self._now()
        self._drain(drain_quiet)
        rec.node_exit_code = self.node.process.poll()
        return rec

    def _send(self, bad_fraction: float, now: float) -> None:
        image, info = self.stream.pairs[self._index % len(self.stream.pairs)]
        kind = VALID
        if bad_schedule(self._index, bad_fraction):
            kind = BAD_KINDS[self._bad_count % len(BAD_KINDS)]   # every kind in turn
            self._bad_count += 1
            image, info = bad_pair(kind, image, info)
        self._index += 1
        stamp = max(time.time_ns(), self._last_stamp + 1)   # unique, increasing
        self._last_stamp = stamp
        sec, nanosec = divmod(stamp, 1_000_000_000)
        info.header.stamp.sec, info.header.stamp.nanosec = sec, nanosec
        info.header.frame_id = image.header.frame_id
        self._pub_info.publish(info)
        if kind not in BAD_INFO_KINDS:   # a bad calibration comes alone, on its own stamp
            image.header.stamp = info.header.stamp
            self._pub_image.publish(image)
            self._rec.sent_k[stamp] = _calibration(info)
        self._rec.sent.append((stamp, kind, 1e-9 * (stamp - self._rec.t0_ns)))

    def _sample(self, now: float) -> None:
        import psutil
        try:
            rss = self._process.memory_info().rss
            cpu = self._process.cpu_percent(None)
        except psutil.Error:   # the node exited; play() notices
            return
        self._rec.samples.append((now, rss, cpu))
        self._rec.host.append((now, self._self.cpu_percent(None), os.getloadavg()[0]))

    def _drain(self, quiet: float) -> None:
        """Wait for the last outputs (``quiet`` s without any), then two fresh diagnostics."""
        limit = self._now() + 60.0
        self.node.spin_until(lambda: self._now() - max(self._last_output,
                                                        self._rec.send_end) > quiet
                             or self._now() > limit, 70.0)
        seen = self._diag_count
        self.node.spin_until(lambda: self._diag_count >= seen + 2, 10.0)


def environment() -> dict[str, Any]:
    """Machine facts recorded with a soak report (load average: the host is shared)."""
    import platform
    with open('/proc/loadavg') as f:
        load = [float(x) for x in f.read().split()[:3]]
    from depth_anything_ros.backends.select import cpu_name
    return {'cpu': cpu_name(),
            'logical_cpus': os.cpu_count(), 'loadavg_1_5_15': load,
            'python': platform.python_version()}


def trial_summary(rate_hz: float, report: dict[str, Any], ok: bool) -> dict[str, Any]:
    """Return the fields of a peak-search trial kept in the report."""
    return {'rate_hz': rate_hz, 'sustained': ok, 'delivered': report['delivered'],
            'valid_sent': report['valid_sent'], 'published_valid': report['published_valid'],
            'frames_dropped': report['frames_dropped'], 'bad_sent': report['bad_sent'],
            'bad_reported': report['bad_reported'],
            'published_from_bad': report['published_from_bad'],
            'worker_restarts': report['worker_restarts'],
            'latency_p50_ms': report['latency_ms']['p50'],
            'latency_p95_ms': report['latency_ms']['p95'],
            'latency_growth_ms': report['latency_growth_ms'],
            'output_rate_hz': report['output_rate_hz']}


def _float(values: dict[str, str], key: str) -> float:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return math.nan


def _calibration(info: Any) -> tuple[float, ...]:
    """``(width, height, *K)`` of a CameraInfo."""
    return (float(info.width), float(info.height), *map(float, info.k))


class NodeExited(RuntimeError):
    """The node under test exited during a run."""


def search_peak(player: Player, start_hz: float, trial_s: float, bad_fraction: float,
                rule: SustainRule = SustainRule(), max_hz: float = 60.0,
                refine_steps: int = 3, warmup: float = 0.0,
                progress: Progress | None = None) -> dict[str, Any]:
    """Run :func:`find_peak` with real trials of ``trial_s`` seconds on the running node.

    A trial lasts ``trial_s`` or ``rule.min_frames`` frames, whichever is longer. First
    ``warmup`` s at ``start_hz``, not measured (the first inferences are slow). If the node
    exits, the search stops: ``rate_hz`` is None and ``error`` says why.
    """
    rows: list[dict[str, Any]] = []
    out = {'rate_hz': None, 'rule': asdict(rule), 'trial_s': trial_s, 'trials': rows}

    def trial(rate: float) -> bool:
        seconds = max(trial_s, rule.min_frames / rate)
        log.info('peak search: trial at %.2f Hz for %.0f s', rate, seconds)
        phase = f'trial {rate:.2f} Hz'
        report = summarize(player.play(
            rate, seconds, bad_fraction,
            progress=None if progress is None else lambda _, d, t: progress(phase, d, t)))
        ok = is_sustained(report, rule)
        rows.append(trial_summary(rate, report, ok))
        if report['node_exit_code'] is not None:
            raise NodeExited(f'the node exited with code {report["node_exit_code"]} during '
                             f'the trial at {rate:.2f} Hz')
        log.info('peak search: %.2f Hz %s (delivered %s, latency p50 %s ms, growth %s ms)',
                 rate, 'sustained' if ok else 'NOT sustained', _fmt(report['delivered']),
                 _fmt(report['latency_ms']['p50']), _fmt(report['latency_growth_ms']))
        return ok

    if warmup > 0:
        player.play(start_hz, 0.0, bad_fraction, warmup=warmup)
    try:
        out['rate_hz'] = find_peak(trial, start_hz, max_hz=max_hz, min_hz=min(0.25, start_hz),
                                   refine_steps=refine_steps).rate_hz
    except NodeExited as exc:
        out['error'] = str(exc)
    return out


def _fmt(value: float | None) -> str:
    return 'n/a' if value is None else f'{value:.3g}'


# --------------------------------------------------------------------------- plot
def plot(rec: Recording, path: Path, title: str) -> None:
    """Write a PNG: latency, input/output rate, and the node's RSS and CPU over time."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    kind_of = {stamp: kind for stamp, kind, _ in rec.sent}
    sent_at = {stamp: t for stamp, _, t in rec.sent}
    primary = first_primary(rec)
    valid = sorted((t, 1e3 * (t - sent_at[s])) for s, t in primary.items()
                   if kind_of.get(s) == VALID)
    # rates and running medians over windows of ~1/60 of the run (1 s at least)
    window = max(1.0, round(rec.send_end / 60.0))
    bins = np.arange(0.0, rec.send_end + 1e-9, window)   # whole windows only: no partial last
    if bins.size < 2:
        bins = np.array([0.0, max(rec.send_end, 1e-3)])
    centres = bins[:-1] + window / 2
    fig, (ax_lat, ax_rate, ax_mem) = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True)
    fig.suptitle(title, fontsize=10)
    if valid:
        t, ms = np.array(valid).T
        ax_lat.plot(t, ms, '.', ms=2, color='tab:blue', alpha=0.5,
                    label='stamp -> depth received')
        which = np.digitize(t, bins) - 1
        med = [np.median(ms[which == i]) if (which == i).any() else np.nan
               for i in range(len(centres))]
        ax_lat.plot(centres, med, color='navy', lw=1.2, label=f'median per {window:.0f} s')
    ax_lat.set_ylabel('latency (ms)')
    ax_lat.legend(loc='upper right', fontsize=8)
    sent_valid = [t for _, kind, t in rec.sent if kind == VALID]
    sent_bad = [t for _, kind, t in rec.sent if kind != VALID]
    for times, label, colour, style in (
            (sent_valid, 'valid frames sent', 'tab:gray', '--'),
            (sent_bad, 'bad messages sent', 'tab:red', '-'),
            ([t for t, _ in valid], 'depth published (valid frames)', 'tab:green', '-')):
        counts, _ = np.histogram(times, bins)
        ax_rate.plot(centres, counts / window, color=colour, ls=style, label=label, lw=1.2)
    ax_rate.set_ylabel(f'messages / s ({window:.0f} s bins)')
    ax_rate.set_ylim(bottom=0)
    ax_rate.legend(loc='center right', fontsize=8)
    if rec.samples:
        t, rss, cpu = np.array(rec.samples).T
        rss_mb = rss / 2**20
        ax_mem.plot(t, rss_mb, color='tab:purple', label='node RSS (MB)')
        after = t >= rec.measure_from
        slope = least_squares_slope(t[after], rss_mb[after])
        if slope is not None:
            fit = rss_mb[after].mean() + slope * (t[after] - t[after].mean())
            ax_mem.plot(t[after], fit, color='black', lw=0.8, ls=':',
                        label=f'fit after warm-up: {3600 * slope:+.1f} MB/h')
            low, high = rss_mb[after].min(), rss_mb[after].max()
            pad = max(5.0, 0.5 * (high - low))
            ax_mem.set_ylim(low - pad, high + pad)   # warm-up growth would flatten the rest
        ax_cpu = ax_mem.twinx()
        ax_cpu.plot(t, cpu, color='tab:orange', lw=0.5, alpha=0.5, label='node CPU (%)')
        ax_cpu.set_ylabel('node CPU (% of one core)')
        ax_cpu.set_ylim(bottom=0)
        ax_cpu.legend(loc='lower right', fontsize=8)
    ax_mem.set_ylabel('node RSS (MB)')
    ax_mem.set_xlabel('time since start (s)')
    ax_mem.legend(loc='upper left', fontsize=8)
    for ax in (ax_lat, ax_rate, ax_mem):
        if rec.measure_from > 0:
            ax.axvspan(0.0, rec.measure_from, color='0.9', zorder=0)
        ax.grid(alpha=0.3)
    ax_lat.text(0.005, 0.95, 'shaded: warm-up', transform=ax_lat.transAxes, fontsize=7,
                va='top')
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
