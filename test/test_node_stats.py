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

"""Node statistics for /diagnostics: rates, percentiles, counters, status levels."""

from __future__ import annotations

import math

from depth_anything_ros.core.stats import (
    is_status,
    NodeStats,
    RateMeter,
    RollingPercentiles,
    status_name,
)
from depth_anything_ros.core.sync import StampMatcher


def test_rate_meter_over_a_sliding_window() -> None:
    meter = RateMeter(window=2.0)
    for i in range(31):
        meter.tick(100.0 + i / 30.0)            # 30 Hz for one second
    assert abs(meter.rate(101.0) - 30.0) < 0.5
    assert meter.rate(110.0) == 0.0            # everything left the window


def test_rolling_percentiles() -> None:
    p = RollingPercentiles(size=100)
    assert math.isnan(p.percentile(50))
    for v in range(1000):
        p.add(float(v))
    assert len(p) == 100 and p.percentile(0) == 900.0 and p.percentile(50) == 949.5


def test_report_levels_and_values() -> None:
    stats = NodeStats(window=5.0)
    assert stats.report(now=0.0).level == 1        # no input yet: WARN
    for i in range(10):
        stats.frame_in(i * 0.1, dropped=i % 2 == 1)
    report = stats.report(now=1.0, model='metric_indoor_vits', device='cpu')
    assert report.level == 1 and 'no depth' in report.message
    for i in range(5):
        stats.frame_out(0.2 * i + 0.1, latency_ms=40.0 + i, infer_ms=30.0)
    stats.frame_bad('unsupported image encoding')
    report = stats.report(now=1.0, model='metric_indoor_vits', device='cpu')
    values = dict(report.values)
    assert report.level == 0
    assert values['frames_dropped'] == '5' and values['frames_processed'] == '5'
    assert values['latency_p50_ms'] == '42.0' and values['inference_p50_ms'] == '30.0'
    assert values['frames_bad'] == '1' and 'encoding' in values['last_error']
    assert values['model'] == 'metric_indoor_vits' and values['device'] == 'cpu'
    assert float(values['input_rate_hz']) > 5.0


def test_watchdog_failures_and_bad_input_counters() -> None:
    pairing: StampMatcher[str] = StampMatcher()
    stats = NodeStats(window=5.0, watchdog_timeout=2.0, pairing=pairing)
    for i in range(30):
        stats.frame_in(i * 0.1, dropped=False)
    report = stats.report(now=3.0)
    assert report.level == 2 and 'no depth published for 3 s while images arrive' in \
        report.message
    stats.frame_out(2.9, latency_ms=10.0, infer_ms=5.0)
    stats.frame_out(3.0, latency_ms=10.0, infer_ms=5.0)
    assert stats.report(now=3.1).level == 0
    stats.frame_failed('processing failed (RuntimeError): out of memory', now=3.2)
    report = stats.report(now=3.3)
    assert report.level == 2 and 'out of memory' in report.message
    stats.image_bad('image is 2000x2', now=3.4)
    stats.camera_info_refused('camera_info binning_x 1000 ...')
    stats.worker_restarted('worker loop died')
    pairing.add(1_000_000, 'calibration')
    assert pairing.match(1_500_000, slop=0.001) == ('calibration', 'nearest')
    values = dict(stats.report(now=3.5).values)
    assert (values['images_bad'], values['camera_info_bad'], values['bad_messages']) == \
        ('1', '1', '2')
    assert (values['frames_bad'], values['frames_failed'], values['worker_restarts']) == \
        ('2', '1', '1')
    assert values['camera_info_nearest'] == '1' and values['frames_received'] == '31'
    assert values['last_output_age_s'] == '0.50'
    assert (values['camera_info_exact'], values['camera_info_fallback']) == ('0', '0')
    assert stats.camera_info == {'exact': 0, 'nearest': 1, 'fallback': 0}


def test_status_names_single_out_one_camera() -> None:
    assert status_name('depth_node') == 'depth_node: depth'
    assert status_name('depth_node', 'front') == 'depth_node: depth front'
    assert is_status('depth_node: depth') and not is_status('depth_node: depth front')
    assert is_status('/ns/depth_node: depth front', 'front')
    assert not is_status('camera_driver: temperature')
