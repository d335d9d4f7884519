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

"""``bench soak``: the pure parts (defects, statistics, peak search) and a short real run."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from depth_anything_ros.offline.soak import (
    BAD_KINDS,
    bad_pair,
    bad_schedule,
    camera_info_altered,
    COUNTERS,
    find_peak,
    is_sustained,
    latency_growth,
    latency_summary,
    least_squares_slope,
    max_gap,
    node_counters,
    plot,
    Recording,
    search_peak,
    summarize,
    SustainRule,
    VALID,
)


def _pair():
    from sensor_msgs.msg import CameraInfo, Image
    image = Image(width=4, height=3, encoding='bgr8', step=12, data=bytes(range(36)))
    info = CameraInfo(width=4, height=3)
    info.k = [2.0, 0.0, 1.5, 0.0, 2.0, 1.0, 0.0, 0.0, 1.0]
    info.p = [2.0, 0.0, 1.5, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return image, info


def test_bad_schedule_gives_the_exact_fraction_evenly() -> None:
    for fraction in (0.0, 0.1, 0.25, 1 / 3, 1.0):
        flags = [bad_schedule(i, fraction) for i in range(300)]
        assert sum(flags) == round(300 * fraction)
    flags = [bad_schedule(i, 0.1) for i in range(100)]
    assert all(sum(flags[k:k + 10]) == 1 for k in range(0, 100, 10))   # never bunched


def test_each_bad_kind_breaks_exactly_one_message_and_copies() -> None:
    image, info = _pair()
    for kind in BAD_KINDS:
        bad_image, bad_info = bad_pair(kind, image, info)
        image_changed = (bad_image.width, bad_image.height, bad_image.step, bad_image.encoding,
                         bytes(bad_image.data)) != (4, 3, 12, 'bgr8', bytes(range(36)))
        info_changed = (bad_info.binning_x != 0 or bad_info.roi.x_offset != 0
                        or not np.array_equal(bad_info.k, info.k, equal_nan=False))
        assert image_changed != info_changed, kind
    assert (image.step, len(image.data), info.k[0], info.k[2]) == (12, 36, 2.0, 1.5)  # intact
    image2, _ = bad_pair('wrong_step', image, info)
    assert image2.step < image2.width * 3
    image2, _ = bad_pair('truncated_data', image, info)
    assert len(image2.data) < image2.step * image2.height
    image2, _ = bad_pair('tiny_2000x2', image, info)
    assert (image2.width, image2.height, len(image2.data)) == (2000, 2, 12000)
    _, info2 = bad_pair('nan_k', image, info)
    assert math.isnan(info2.k[0])
    _, info2 = bad_pair('roi_outside_image', image, info)
    assert info2.roi.x_offset > info2.width
    with pytest.raises(ValueError, match='unknown bad message kind'):
        bad_pair('nonsense', image, info)


def test_least_squares_slope() -> None:
    t = np.linspace(0.0, 600.0, 601)
    noise = np.random.default_rng(0).normal(0.0, 0.5, t.size)
    assert least_squares_slope(t, 100.0 + 0.01 * t + noise) == pytest.approx(0.01, abs=1e-3)
    assert least_squares_slope([1.0, 2.0], [5.0, 3.0]) == pytest.approx(-2.0)
    assert least_squares_slope([1.0], [5.0]) is None
    assert least_squares_slope([1.0, 1.0], [5.0, 6.0]) is None


def test_latency_summary_gap_and_growth() -> None:
    values = list(range(1, 101))
    s = latency_summary(values)
    assert (s['p50'], s['max'], s['n']) == (50.5, 100.0, 100)
    assert s['p90'] == pytest.approx(np.percentile(values, 90))
    assert s['p50'] <= s['p90'] <= s['p95'] <= s['p99'] <= s['max']
    assert latency_summary([]) == {'p50': None, 'p90': None, 'p95': None, 'p99': None,
                                   'max': None, 'n': 0}
    assert max_gap([1.0, 1.5, 4.0], 0.0, 5.0) == 2.5
    assert max_gap([], 2.0, 3.0) == 1.0
    assert max_gap([0.5, 9.0], 1.0, 2.0) == 1.0    # events outside the window do not count
    t = np.arange(30.0)
    assert latency_growth(t, 100.0 + 10.0 * t) == pytest.approx(200.0)
    assert latency_growth(t[::-1], 100.0 + 10.0 * t[::-1]) == pytest.approx(200.0)
    assert latency_growth(t[:5], t[:5]) is None


def test_node_counters_reads_missing_keys_as_none() -> None:
    got = node_counters({'frames_dropped': '4', 'images_bad': '2', 'camera_info_bad': '3',
                         'worker_restarts': 'x'})
    assert set(got) == set(COUNTERS)
    assert (got['frames_dropped'], got['bad_messages'], got['worker_restarts']) == (4, 5, None)
    assert node_counters({})['bad_messages'] is None
    assert node_counters({'bad_messages': '7', 'images_bad': '1'})['bad_messages'] == 7


def _recording() -> Recording:
    """Ten events a second for 20 s (every 5th bad), warm-up 5 s; the node drops one frame."""
    rec = Recording(t0_ns=0, measure_from=5.0, send_end=19.9)
    k = (320.0, 240.0, 300.0, 0.0, 150.0, 0.0, 300.0, 110.0, 0.0, 0.0, 1.0)
    for i in range(200):
        t = 0.1 * i
        kind = VALID if i % 5 else 'wrong_step' if i % 10 == 0 else 'nan_k'
        rec.sent.append((10**9 + i, kind, t))
        if kind != 'nan_k':     # a bad camera_info comes without an image
            rec.sent_k[10**9 + i] = k
    for stamp, kind, t in rec.sent:
        if kind == VALID and stamp != 10**9 + 101:
            rec.outputs['depth/image'].append((stamp, t + 0.05))
            rec.outputs['points'].append((stamp, t + 0.06))
            rec.output_k[stamp] = k
    rec.outputs['depth/camera_info'].append((10**9 + 5, 0.6))     # from a bad event
    rec.output_k[10**9 + 7] = (*k[:2], 0.0, *k[3:])                 # fx = 0 went through
    rec.samples = [(float(t), int(500 * 2**20 + t * 2**20 / 3600), 150.0) for t in range(20)]
    rec.host = [(float(t), 40.0, 3.0 + t % 2) for t in range(20)]
    rec.node_timing = [(float(t), 100.0 + t, math.nan if t < 10 else 120.0) for t in range(20)]
    rec.baseline = {'frames_dropped': 2, 'bad_messages': 0}
    rec.diagnostics = [(19.0, {**dict.fromkeys(COUNTERS), 'frames_dropped': 3,
                               'bad_messages': 40, 'worker_restarts': 0,
                               'frames_received': 178})]
    return rec


def test_summarize_counts_and_attributes_every_output() -> None:
    r = summarize(_recording())
    assert (r['sent'], r['valid_sent'], r['bad_sent']) == (200, 160, 40)
    assert r['bad_sent_by_kind'] == {'wrong_step': 20, 'nan_k': 20}
    assert r['images_sent'] == 180 and r['camera_info_altered'] == 1
    assert (r['published'], r['published_valid']) == (159, 159)
    assert r['published_from_bad'] == 1
    assert r['published_from_bad_by_topic'] == {'depth/camera_info': 1}
    assert r['published_from_bad_by_kind'] == {'nan_k': 1}
    assert (r['frames_dropped'], r['bad_reported'], r['worker_restarts']) == (1, 40, 0)
    assert r['valid_unaccounted'] == 0 and r['images_lost_in_transport'] == 2
    assert r['latency_ms']['p50'] == pytest.approx(50.0)
    assert r['latency_ms']['n'] == 159 - 40     # only frames sent after the warm-up
    assert r['max_output_gap_s'] == pytest.approx(0.3)   # bad event 100, dropped 101
    assert r['rss_mb']['slope_mb_per_hour'] == pytest.approx(1.0, rel=0.05)
    assert r['rss_mb']['start'] == pytest.approx(500.0, abs=0.01)
    assert r['cpu_percent'] == 150.0 and r['delivered'] == pytest.approx(159 / 160)
    assert r['player_cpu_percent'] == 40.0
    assert r['host_loadavg_1min'] == {'mean': pytest.approx(3.5, abs=0.05), 'max': 4.0}
    assert r['node_inference_p50_ms'] == 112.0 and r['node_latency_p50_ms'] == 120.0
    assert r['checks'] == {'node_alive': True, 'no_worker_restarts': True,
                           'nothing_published_from_bad': False, 'calibration_intact': False,
                           'rss_slope_under_limit': True, 'valid_frames_accounted': True}


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / 'plots' / 'soak.png'
    plot(_recording(), path, 'title\nsecond line')
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_summary_table_prints_percentiles_counters_and_checks() -> None:
    from depth_anything_ros.commands.soak import format_summary
    report = {**summarize(_recording()), 'rate_hz': 10.0,
              'peak': {'rate_hz': 10.0, 'rule': {'min_delivered': 0.95},
                       'trials': [{'rate_hz': 10.0, 'sustained': True, 'delivered': 1.0,
                                   'latency_p50_ms': 50.0, 'latency_p95_ms': None,
                                   'latency_growth_ms': None}]}}
    text = format_summary(report)
    assert 'stamp -> depth received (ms)' in text and '50.0' in text
    assert 'sent (valid + bad)' in text and '200 (160 + 40)' in text
    assert 'nothing_published_from_bad FAIL' in text and 'no_worker_restarts pass' in text
    assert 'peak: 10.00 Hz' in text
    rec = _recording()
    rec.diagnostics = [(19.0, dict.fromkeys(COUNTERS))]
    text = format_summary({**summarize(rec), 'rate_hz': 10.0})
    assert 'worker restarts' in text and 'n/a (not reported by the node)' in text


def test_summarize_without_the_nodes_new_counters() -> None:
    rec = _recording()
    rec.diagnostics = [(19.0, dict.fromkeys(COUNTERS))]
    r = summarize(rec)
    assert r['bad_reported'] is None and r['worker_restarts'] is None
    assert r['valid_unaccounted'] is None
    assert r['checks']['no_worker_restarts'] is None


def test_camera_info_altered_compares_k_at_the_input_size() -> None:
    k = (64.0, 48.0, 50.0, 0.0, 31.5, 0.0, 50.0, 23.5, 0.0, 0.0, 1.0)
    sent = {1: k, 2: k, 3: k}
    assert camera_info_altered(sent, {1: k, 2: k}) == 0
    assert camera_info_altered(sent, {1: k, 2: (*k[:4], 1e308, *k[5:])}) == 1
    assert camera_info_altered(sent, {1: (32.0, 24.0, *k[2:])}) is None   # output_stride 2
    assert camera_info_altered(sent, {9: k}) is None                        # not a frame sent


def test_is_sustained() -> None:
    rule = SustainRule()
    ok = {'delivered': 0.97, 'latency_growth_ms': 10.0, 'latency_ms': {'p50': 100.0}}
    assert is_sustained(ok, rule)
    assert not is_sustained({**ok, 'delivered': 0.9}, rule)          # output falls behind
    assert not is_sustained({**ok, 'latency_growth_ms': 400.0}, rule)   # a queue builds up
    assert is_sustained({**ok, 'latency_growth_ms': 45.0, 'latency_ms': {'p50': 5.0}}, rule)
    assert not is_sustained({**ok, 'latency_ms': {'p50': None}}, rule)   # nothing published


@pytest.mark.parametrize('capacity, start', [(7.3, 2.0), (7.3, 20.0), (7.3, 7.0), (1.0, 1.0)])
def test_find_peak_brackets_the_capacity(capacity: float, start: float) -> None:
    tried: list[float] = []

    def trial(rate: float) -> bool:
        tried.append(rate)
        return rate <= capacity

    result = find_peak(trial, start, max_hz=60.0, factor=1.5, refine_steps=4)
    assert result.rate_hz is not None and result.rate_hz <= capacity
    failed = [r for r, ok in result.trials if not ok]
    assert failed and capacity < min(failed) <= capacity * 1.5   # bracketed, then refined
    assert min(failed) - result.rate_hz <= capacity * 0.5 / 2**4 + 1e-9
    assert [r for r, _ in result.trials] == tried


def test_find_peak_limits() -> None:
    top = find_peak(lambda rate: True, 10.0, max_hz=30.0)
    assert top.rate_hz == 30.0 and all(ok for _, ok in top.trials)
    none = find_peak(lambda rate: False, 2.0, min_hz=0.5)
    assert none.rate_hz is None and min(r for r, _ in none.trials) == 0.5
    with pytest.raises(ValueError, match='factor > 1'):
        find_peak(lambda rate: True, 10.0, factor=1.0)


class _FakePlayer:
    """Stands in for the ROS player: a node that publishes every frame up to ``capacity`` Hz."""

    def __init__(self, capacity: float, dies_above: float = math.inf) -> None:
        self.capacity, self.dies_above = capacity, dies_above
        self.calls: list[tuple[float, float, float]] = []

    def play(self, rate: float, duration: float, bad_fraction: float, warmup: float = 0.0,
             progress=None) -> Recording:
        self.calls.append((rate, duration, warmup))
        rec = Recording(t0_ns=0, measure_from=warmup, send_end=warmup + duration)
        keep = min(1.0, self.capacity / rate)
        for i in range(int(rate * (warmup + duration))):
            stamp, t = 10**9 + i, i / rate
            rec.sent.append((stamp, VALID, t))
            if math.floor((i + 1) * keep) > math.floor(i * keep):
                rec.outputs['depth/image'].append((stamp, t + 0.1))
        rec.node_exit_code = -6 if rate > self.dies_above else None
        return rec


def test_search_peak_runs_long_enough_trials_and_stops_when_the_node_dies() -> None:
    player = _FakePlayer(capacity=3.0)
    peak = search_peak(player, 2.0, 10.0, 0.1, SustainRule(min_frames=40), warmup=5.0)
    assert 2.9 < peak['rate_hz'] <= 3.0 and 'error' not in peak
    assert player.calls[0] == (2.0, 0.0, 5.0)                   # the unmeasured warm-up
    assert player.calls[1] == (2.0, 20.0, 0.0)                  # 40 frames at 2 Hz
    assert all(d >= 10.0 and d * r >= 40 - 1e-9 for r, d, _ in player.calls[1:])
    assert [(t['rate_hz'], t['sustained']) for t in peak['trials']][:3] == [
        (2.0, True), (3.0, True), (4.5, False)]
    dying = search_peak(_FakePlayer(capacity=30.0, dies_above=4.0), 2.0, 10.0, 0.1)
    assert dying['rate_hz'] is None
    assert dying['error'] == 'the node exited with code -6 during the trial at 4.50 Hz'
    assert [t['rate_hz'] for t in dying['trials']] == [2.0, 3.0, 4.5]


def test_cli_routes_bench_soak_to_its_adapter(capsys: pytest.CaptureFixture) -> None:
    import importlib

    from depth_anything_ros.commands import cli
    module = importlib.import_module(cli.SUBCOMMANDS['bench']['soak'][0])
    assert callable(module.add_arguments) and callable(module.main)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(['bench', 'soak', '--help'])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ('--duration', '--rate', '--bad-fraction', '--out', '--plot', '--find-peak',
                 '--param', '--checkpoint', '--warmup', '--bag'):
        assert flag in text


@pytest.mark.ros
@pytest.mark.slow
def test_soak_command_short_run(ros_domain: int, tmp_path: Path) -> None:
    out, png = tmp_path / 'soak.json', tmp_path / 'soak.png'
    cmd = [sys.executable, '-m', 'depth_anything_ros.commands.cli', 'bench', 'soak',
           '--duration', '8', '--rate', '4', '--bad-fraction', '0.25', '--warmup', '2',
           '--out', str(out), '--plot', str(png), '--checkpoint', 'untrained:tiny',
           '--param', 'encoder=auto', '--param', 'input_size=70', '--param', 'device=cpu',
           '--param', 'cpu_threads=1']
    proc = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    for key in ('sent', 'valid_sent', 'bad_sent', 'published', 'bad_reported',
                'worker_restarts', 'max_output_gap_s', 'latency_ms', 'rss_mb', 'cpu_percent',
                'published_from_bad', 'frames_dropped', 'valid_unaccounted', 'checks'):
        assert key in r, key
    assert set(r['latency_ms']) >= {'p50', 'p95', 'p99', 'max'}
    assert set(r['rss_mb']) >= {'start', 'end', 'slope_mb_per_hour'}
    assert r['sent'] == r['valid_sent'] + r['bad_sent'] and r['bad_sent'] > 0
    assert r['published_valid'] > 0 and r['latency_ms']['p50'] > 0
    assert r['published_from_bad'] == 0, r['published_from_bad_by_kind']
    assert r['worker_restarts'] == 0
    assert r['node_exit_code'] is None
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'stamp -> depth received (ms)' in proc.stdout
