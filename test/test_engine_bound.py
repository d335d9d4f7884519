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

"""Compiled engines per input shape are bounded: frames of ever new sizes cannot grow memory."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything_ros.backends import make_runner
from depth_anything_ros.backends.onnx_export import export_onnx, probe_input
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import untrained_model

pytestmark = [pytest.mark.skipif(importlib.util.find_spec('openvino') is None,
                                 reason='openvino is not installed'),
              pytest.mark.usefixtures('one_torch_thread')]


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith('VmRSS:'))


def test_a_new_shape_drops_the_least_recently_used_engine_before_compiling(
        tiny: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.backends import openvino_runner
    path = export_onnx(tiny, tmp_path / 'tiny.onnx', dynamic=True)
    blobs = tmp_path / 'engines' / 'openvino'   # OpenVINO's compiled-model cache
    blobs.mkdir(parents=True)
    (blobs / 'earlier.blob').write_bytes(b'a warm start')   # a file of an earlier run
    runner = make_runner('openvino', path, engine_cache_size=2, cache_dir=tmp_path / 'engines')
    held_at_compile: list[int] = []

    class Request:
        def infer(self, inputs: dict, **_: object) -> list[np.ndarray]:
            x = inputs[0]
            return [np.zeros((x.shape[0], *x.shape[2:]), np.float32)]

    def compile_(self: openvino_runner.OpenVINORunner, ov_model: object) -> Request:
        (blobs / f'compile{len(held_at_compile)}.blob').write_bytes(b'blob')   # as OpenVINO does
        held_at_compile.append(len(self._compiled))
        return Request()

    monkeypatch.setattr(openvino_runner.OpenVINORunner, '_compile', compile_)
    a, b, c = (1, 3, 70, 70), (1, 3, 70, 84), (1, 3, 70, 98)
    for shape in (a, b, a, c, a, b):
        runner(probe_input(*shape[2:]))
    # a stays (used again before c came), b goes when c comes, c goes when b comes back
    assert runner.shapes == [a, b]
    assert held_at_compile == [0, 1, 1, 1]   # never more than engine_cache_size at once
    # compiles: a (0), b (1), c (2), b (3); what b's first and c's compile wrote went with them
    assert sorted(p.name for p in blobs.iterdir()) == ['compile0.blob', 'compile3.blob',
                                                       'earlier.blob']
    with pytest.raises(ValueError, match='engine_cache_size must be at least 1'):
        make_runner('openvino', path, engine_cache_size=0)


@pytest.mark.slow
def test_twenty_frame_sizes_keep_memory_within_the_engine_bound(tmp_path: Path) -> None:
    """20 frames of 20 sizes through the estimator: engines past the bound are freed.

    Without the bound every new network input shape keeps a compiled ViT-S (about 160 MB in
    fp32 at these sizes): 20 sizes would add some 3 GB. With ``engine_cache_size`` 2, the
    memory after the second size stays within one engine of where it was, and the disk cache
    holds the compiled blobs of the two shapes held, not of all 20.
    """
    onnx = export_onnx(untrained_model('vits', warn=False), tmp_path / 'vits.onnx', dynamic=True)
    est = DepthEstimator(onnx, device='cpu', backend='openvino', precision='fp32', input_size=70,
                         engine_cache_size=2, cache_dir=tmp_path / 'engines')
    sizes = [(70, 70 + 14 * i) for i in range(20)]
    assert len({est.network_size(h, w) for h, w in sizes}) == 20
    before = rss_mb()
    rss = []
    for h, w in sizes:
        depth = est.infer(np.full((h, w, 3), 128, np.uint8))
        assert depth.shape == (h, w)
        rss.append(rss_mb())
    engine = rss[1] - rss[0]   # what the second engine added
    assert engine > 50, (before, rss)   # a ViT-S engine is large: the measure is meaningful
    assert len(est._runner.shapes) == 2
    assert max(rss[2:]) - rss[1] < engine, (before, rss)
    assert len(list((tmp_path / 'engines' / 'openvino').iterdir())) == 2


def test_a_dropped_shape_takes_its_export_and_blob_from_the_disk_cache(
        tiny: torch.nn.Module, tmp_path: Path) -> None:
    """From a module: each shape's static export and compiled blob go when the shape goes."""
    runner = make_runner('openvino', tiny, engine_cache_size=1, cache_dir=tmp_path)
    runner(probe_input(70, 70))
    exports = {p.name for p in tmp_path.rglob('*.onnx')}
    assert len(exports) == 1 and next(iter(exports)).startswith('1x70x70-')
    runner(probe_input(70, 84))
    assert [p.name.split('-')[0] for p in tmp_path.rglob('*.onnx')] == ['1x70x84']
    assert len(list((tmp_path / 'openvino').iterdir())) == 1
    assert runner.shapes == [(1, 3, 70, 84)]
