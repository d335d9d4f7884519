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

"""The ``infer`` and ``bench`` commands, run in-process on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything_ros.commands.cli import main as cli
from depth_anything_ros.model import build_model, export_model, ModelConfig
from depth_anything_ros.offline import bench


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    import torch
    torch.manual_seed(0)
    return export_model(build_model(ModelConfig.tiny(), 'metric', 10.0),
                        tmp_path / 'tiny.pth')


def test_infer_writes_npy_and_png(tiny_ckpt: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    frame = bench.synthetic_frame(60, 80)
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'a.png'), frame)
    cv2.imwrite(str(images / 'b.png'), frame[:, ::-1])
    out = tmp_path / 'out'
    rc = cli(['infer', '--checkpoint', str(tiny_ckpt), '--input-size', '42', str(images),
              '--out', str(out)])
    assert rc == 0
    depth = np.load(out / 'a.npy')
    assert depth.shape == (60, 80) and depth.dtype == np.float32
    assert (depth > 0).all() and (depth < 10).all()  # metres from the metric head
    png = cv2.imread(str(out / 'a.png'))
    assert png.shape == (60, 80, 3)
    assert not np.allclose(np.load(out / 'b.npy'), depth)
    text = capsys.readouterr().out
    assert '2/2 images written' in text and ' m;' in text
    # A missing image is a user error, found before the model loads.
    capsys.readouterr()
    assert cli(['infer', '--checkpoint', str(tiny_ckpt), '--input-size', '42',
                str(tmp_path / 'nope.png'), '--out', str(out)]) == 2
    assert 'nope.png does not exist' in capsys.readouterr().err
    # Untrained weights need the explicit flag.
    assert cli(['infer', '--checkpoint', 'untrained:tiny', str(images / 'a.png'),
                '--out', str(out)]) == 2
    assert 'allow_untrained' in capsys.readouterr().err


def test_bench_quick_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / 'bench.json'
    rc = cli(['bench', '--quick', '--encoder', 'tiny', '--precision', 'fp32,bf16',
              '--input-size', '70', '--batch', '1,2', '--threads', '1', '--out', str(path)])
    assert rc == 0
    result = json.loads(path.read_text())
    rows = result['results']
    assert [(r['precision'], r['batch']) for r in rows] == [
        ('fp32', 1), ('fp32', 2), ('bf16', 1), ('bf16', 2)]
    for r in rows:
        assert r['net_input'] == [70, 98]
        assert 0 < r['forward']['median_ms'] <= r['forward']['p90_ms']
        assert r['infer']['fps'] > 0
        assert set(r['stages_ms']) == {'preprocess_ms', 'forward_ms', 'postprocess_ms'}
    assert rows[0]['accuracy']['max_abs'] < 1e-4  # fast fp32 vs exact fp32
    assert rows[2]['accuracy']['max_abs'] > rows[0]['accuracy']['max_abs']  # bf16 costs
    assert result['environment']['torch']
    assert 'fwd med' in capsys.readouterr().out


def test_bench_all_backends_runs_what_is_installed(tmp_path: Path) -> None:
    from depth_anything_ros.backends import available_backends
    path = tmp_path / 'bench.json'
    rc = cli(['bench', '--quick', '--encoder', 'tiny', '--precision', 'fp32,bf16,fp16',
              '--input-size', '42', '--backend', 'all,tensorrt', '--threads', '1',
              '--out', str(path)])
    assert rc == 0  # combinations this machine cannot run are skipped, not errors
    rows = json.loads(path.read_text())['results']
    installed = available_backends()
    assert installed[0] == 'torch'
    backends = installed + [b for b in ['tensorrt'] if b not in installed]
    assert len(rows) == 3 * len(backends)  # precision x backend, backends innermost
    assert [r['backend'] for r in rows[:len(backends)]] == backends
    by = {(r['backend'], r['precision']): r for r in rows}
    assert 'error' not in by['torch', 'fp32'] and 'skipped' not in by['torch', 'fp32']
    assert "backend 'tensorrt'" in by['tensorrt', 'fp32']['skipped']
    assert 'no fast fp16' in by['torch', 'fp16']['skipped']
    if 'onnxruntime' in installed:
        assert 'onnxruntime offers fp32' in by['onnxruntime', 'bf16']['skipped']
        assert by['onnxruntime', 'fp32']['accuracy']['max_abs'] < 1e-4
    if 'openvino' in installed:
        assert 'no fast fp16' in by['openvino', 'fp16']['skipped']
        assert by['openvino', 'fp32']['accuracy']['max_abs'] < 1e-4


def test_skip_reason_follows_device_and_precision() -> None:
    from depth_anything_ros.backends import available_backends
    assert bench.skip_reason('torch', 'fp32', 'cpu') is None
    assert 'no fast fp16' in bench.skip_reason('torch', 'fp16', 'cpu')
    assert 'unknown backend' in bench.skip_reason('nope', 'fp32', 'cpu')
    assert bench.skip_reason('auto', 'auto', 'cpu') is None
    if 'openvino' in available_backends():
        assert bench.skip_reason('openvino', 'bf16', 'cpu') is None
        assert 'does not run on CUDA' in bench.skip_reason('openvino', 'fp32', 'cuda')
    assert bench.expand_backends(['torch', 'all']) == available_backends()


def test_accuracy_metrics() -> None:
    ref = np.array([1.0, 2.0, 4.0, 8.0])
    acc = bench.accuracy(np.array([1.0, 2.2, 4.0, 8.0]), ref)
    assert acc['max_abs'] == pytest.approx(0.2)
    assert acc['median_rel'] == pytest.approx(0.0)
    assert acc['p99_rel'] == pytest.approx(0.1, rel=0.05)
