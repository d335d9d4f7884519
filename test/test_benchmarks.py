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

"""The backend benchmark runs end to end on a tiny model and writes what it promises."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_backends_writes_table_and_json(tmp_path: Path) -> None:
    pytest.importorskip('openvino')
    out = tmp_path / 'backends.json'
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_backends.py'), '--encoder', 'tiny',
         '--backends', 'torch,openvino,tensorrt', '--precisions', 'fp32,bf16',
         '--input-sizes', '70,42', '--frame', '60x80', '--threads', '1', '--quick',
         '--rounds', '2',
         '--cache-dir', str(tmp_path / 'cache'), '--out', str(out)],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert (doc['rounds'], doc['repeats']) == (2, 3)  # --quick: 3 timed frames, 2 per round
    rows = {(r['backend'], r['precision'], r['input_size']): r for r in doc['results']}
    assert len(rows) == 3 * 2 * 2
    # torch fp32 is the accuracy reference: identical to itself.
    assert rows['torch', 'fp32', 70]['max_abs'] == 0.0
    for key in (('openvino', 'fp32', 70), ('openvino', 'fp32', 42)):
        assert rows[key]['max_abs'] < 1e-4, key  # OpenVINO fp32 is exact
    assert rows['openvino', 'fp32', 42]['network_hw'] == [42, 56]
    for row in rows.values():
        if 'skipped' in row:
            # only TensorRT may be skipped here, and the reason must say why (missing or no GPU)
            assert row['backend'] == 'tensorrt', row
            assert 'not installed' in row['skipped'] or 'CUDA' in row['skipped'], row
            continue
        assert 0 < row['min_ms'] <= row['median_ms'] <= row['p90_ms']
        # the reference row: --quick's 1 frame; the others: 2 rounds x ceil(3 / 2) frames
        assert row['frames'] == (1 if row['backend'] == 'torch' and row['precision'] == 'fp32'
                                 else 4)
        assert row['fps'] == pytest.approx(1e3 / row['median_ms'])
        assert row['p99_rel'] >= row['median_rel'] >= 0
    assert rows['openvino', 'bf16', 70]['p99_rel'] > 0  # bf16 is not bit-exact
    for probe in (doc['host_probe_before'], doc['host_probe_after']):
        assert probe['gemm_fp32_gflops'] > 0 and probe['gemm_bf16_gflops'] > 0
    assert doc['machine']['threads'] == 1 and doc['machine']['openvino']
    table = out.with_suffix('.md').read_text()
    assert '3 timed frames per row in 2 interleaved rounds' in table
    assert '| openvino | bf16 | 42 | 42x56 |' in table
    assert '| tensorrt | fp32 | 70 | skipped: ' in table
    assert table.strip() in proc.stdout


@pytest.mark.slow
def test_bench_alignment_writes_table_and_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_alignment.py'), '--quick',
         '--frames', '100', '--cases', 'sparse,lidar_shuffled,metric_lidar', '--no-timing',
         '--out', str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| sparse | filtered |' in proc.stdout
    report = json.loads((tmp_path / 'bench_alignment.json').read_text())
    cases = {r['case']: r for r in report['results']}
    assert cases['lidar_shuffled']['refused'] == cases['lidar_shuffled']['frames']
    sparse = cases['sparse']
    assert sparse['filtered']['flicker'] < sparse['per_frame']['flicker']
    metric = cases['metric_lidar']                    # a metric network 10 % too far
    assert metric['uncorrected']['absrel_median'] > 0.09
    assert metric['filtered']['absrel_median'] < 0.02


@pytest.mark.slow
@pytest.mark.ros
def test_bench_multicam_writes_table_and_json(tmp_path: Path, ros_domain: int) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_multicam.py'), '--quick',
         '--seconds', '2', '--input-size', '70', '--out', str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / 'bench_multicam.json').read_text())
    rows = {r['setup']: r for r in report['results']}
    assert set(rows) == {'one process', 'one process per camera'}
    assert (rows['one process']['processes'], rows['one process per camera']['processes']) \
        == (1, 2)
    assert all(r['frames'] > 0 and r['rss_mib'] > 0 for r in rows.values())
    assert '2 one process per camera' in ' '.join(proc.stdout.split())


@pytest.mark.slow
def test_bench_engine_cache_compares_bounded_static_engines_with_one_dynamic(
        tmp_path: Path) -> None:
    pytest.importorskip('openvino')
    out = tmp_path / 'engine_cache.json'
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_engine_cache.py'), '--encoder', 'tiny',
         '--precision', 'fp32', '--threads', '1', '--quick', '--out', str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r['variant']: r for r in json.loads(out.read_text())['rows']}
    assert set(rows) == {'static', 'dynamic'}
    for row in rows.values():
        assert len(row['first_call_s']) == 3 and row['steady_median_ms'] > 0
        assert 0 < row['rss_start_mb'] <= row['rss_peak_mb']
    assert rows['static']['cache_size'] == 2 and rows['dynamic']['cache_size'] is None
    assert '| static | 2 |' in proc.stdout and '| dynamic | - |' in proc.stdout


@pytest.mark.ros
@pytest.mark.slow
def test_bench_publish_times_both_setter_check_settings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_publish.py'), '--quick', '--width',
         '160', '--height', '120', '--out', str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / 'bench_publish.json').read_text())
    assert doc['size'] == [160, 120] and len(doc['load_average']) == 3
    off = doc['results']['ROS_PYTHON_CHECK_FIELDS=0']
    on = doc['results']['ROS_PYTHON_CHECK_FIELDS=1']
    assert off.keys() == on.keys() and len(off) == 7
    # with the checks, bytes are checked one by one and array('B') is not: the fast path is
    # faster by far (160x120: about 4 ms against 0.01 ms), and the child really had the checks
    before, now = 'depth Image, data from bytes (before)', 'depth Image, array_to_image (array B)'
    assert on[before]['median_ms'] > 20 * on[now]['median_ms']
    assert on[before]['median_ms'] > 5 * off[before]['median_ms']
    assert 'checks on (Humble)' in proc.stdout


def test_bench_anyview_agreement_is_zero_for_the_truth_and_sees_a_scaled_camera() -> None:
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import bench_anyview as bench
    import numpy as np

    from depth_anything_ros.training import synth
    camera = synth.Camera.from_fov(80, 60, synth.HFOV_DEG)
    rig = bench.rig(synth.random_indoor_scene(np.random.default_rng([0, 0])), 3, 0.15, 10.0)
    poses = [pose for _, pose in rig]
    truths = [synth.render(view, camera)[1] for view, _ in rig]
    truths = [np.where(np.isfinite(t), t, np.nan) for t in truths]
    same = bench.agreement(truths, truths, camera.matrix(), poses)
    assert same.size > 1000 and np.median(same) < 0.005 and np.mean(same > 0.05) == 0.0
    off = bench.agreement([truths[0], truths[1] * 1.1, truths[2]], truths, camera.matrix(),
                          poses)
    assert 0.05 < np.median(off) < 0.11


@pytest.mark.slow
def test_bench_anyview_writes_table_and_json(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_anyview.py'), '--quick',
         '--cameras', '2', '--out', str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'UNTRAINED weights' in proc.stdout and '| any-view + poses | shared |' in proc.stdout
    report = json.loads((tmp_path / 'bench_anyview.json').read_text())
    assert report['fidelity_only'] and report['cameras'] == 2
    rows = {(r['method'], r['alignment']): r for r in report['results']}
    assert len(rows) == 6 and all(r['pixels'] > 0 and r['ms_per_camera'] > 0
                                  for r in rows.values())


def test_bench_da3_times_both_families_at_one_network_input(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture
                                                             ) -> None:
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    try:
        import bench_da3
    finally:
        sys.path.remove(str(ROOT / 'benchmarks'))
    assert bench_da3.main(['--encoders', 'vits,da3-tiny', '--input-sizes', '70', '--backends',
                           'torch', '--precisions', 'fp32', '--quick', '--out',
                           str(tmp_path)]) == 0
    rows = json.loads((tmp_path / 'da3_vs_da2.json').read_text())['results']
    assert [(r['encoder'], r['net_input']) for r in rows] == [('vits', [70, 98]),
                                                              ('da3-tiny', [70, 98])]
    assert 'da3-tiny' in capsys.readouterr().out
