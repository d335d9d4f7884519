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

"""DepthEstimator end to end with non-torch backends: same depth semantics as torch fp32.

Camera frames go through the estimator's shared pre/post-processing; only the network runs in
OpenVINO / onnxruntime. Frames are small (120x160 at input size 140) to keep CI fast.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything_ros.backends.onnx_export import export_onnx, export_openvino
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import ModelConfig, untrained_model

pytestmark = [pytest.mark.skipif(importlib.util.find_spec('openvino') is None,
                                 reason='openvino is not installed'),
              pytest.mark.usefixtures('one_torch_thread')]
INPUT_SIZE = 140


@pytest.fixture(scope='module')
def frames() -> list[np.ndarray]:
    """Two deterministic 120x160 BGR frames with structure (gradients + blocks)."""
    yy, xx = np.mgrid[0:120, 0:160]
    a = np.stack([xx * 1.5, yy * 2.0, (xx + yy) % 64 * 4], axis=-1)
    b = np.stack([(xx // 20) * 30, 255 - yy * 2, xx + yy], axis=-1)
    return [np.clip(f, 0, 255).astype(np.uint8) for f in (a, b)]


@pytest.fixture(scope='module')
def torch_depth(tiny: torch.nn.Module, frames: list[np.ndarray]) -> list[np.ndarray]:
    return DepthEstimator(tiny, device='cpu', input_size=INPUT_SIZE).infer_batch(frames)


def test_openvino_fp32_estimator_matches_torch(tiny: torch.nn.Module, frames: list[np.ndarray],
                                               torch_depth: list[np.ndarray],
                                               tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))  # default engine cache lands here
    est = DepthEstimator(tiny, device='cpu', input_size=INPUT_SIZE, backend='openvino')
    out = est.infer_batch(frames)
    for depth, ref in zip(out, torch_depth):
        assert depth.shape == (120, 160) and depth.dtype == np.float32
        assert np.abs(depth - ref).max() <= 1e-4
    assert est.last_timings['forward_ms'] > 0
    assert list((tmp_path / 'depth_anything_ros' / 'engines').rglob('*.onnx'))


def test_onnxruntime_estimator_matches_torch(tiny: torch.nn.Module, frames: list[np.ndarray],
                                             torch_depth: list[np.ndarray],
                                             tmp_path: Path) -> None:
    if importlib.util.find_spec('onnxruntime') is None:
        pytest.skip('onnxruntime is not installed')
    path = export_onnx(tiny, tmp_path / 'tiny.onnx', dynamic=True)
    est = DepthEstimator(path, device='cpu', input_size=INPUT_SIZE, backend='onnxruntime')
    assert np.abs(est.infer(frames[0]) - torch_depth[0]).max() <= 1e-4


@pytest.mark.slow
def test_openvino_bf16_estimator_within_bound(tiny: torch.nn.Module, frames: list[np.ndarray],
                                              torch_depth: list[np.ndarray],
                                              tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    est = DepthEstimator(tiny, device='cpu', precision='bf16', input_size=INPUT_SIZE,
                         backend='openvino')
    depth = est.infer(frames[0])
    rel = np.abs(depth - torch_depth[0]) / np.abs(torch_depth[0]).clip(1e-6)
    assert np.quantile(rel, 0.99) <= 0.05 and np.median(rel) <= 0.01


def test_estimator_from_static_camera_export_keeps_metric_semantics(
        frames: list[np.ndarray], tmp_path: Path) -> None:
    metric = untrained_model(ModelConfig.tiny(), 'metric', 10.0, warn=False)
    ref_est = DepthEstimator(metric, device='cpu', input_size=INPUT_SIZE)
    h, w = ref_est.network_size(120, 160)
    path = export_openvino(metric, tmp_path / 'cam.xml', height=h, width=w)
    est = DepthEstimator(path, device='cpu', input_size=INPUT_SIZE, backend='openvino')
    assert est.is_metric and est.max_depth == pytest.approx(10.0)
    depth, ref = est.infer(frames[1]), ref_est.infer(frames[1])
    assert 0.0 < depth.min() and depth.max() < 10.0  # metres within (0, max_depth)
    assert np.abs(depth - ref).max() <= 2e-4
    # A static file serves its camera size only, and says how to get another.
    with pytest.raises(ValueError, match='--dynamic'):
        est.infer(np.zeros((120, 240, 3), np.uint8))  # another aspect: 140x280 input
