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

"""Depth Anything 3 on the exported runtimes: ONNX graphs, onnxruntime, OpenVINO, auto.

Deterministic weights; every exported graph is run at sizes, batches and view counts other
than the traced ones and compared with torch fp32 within the tolerance of the Depth Anything
V2 export tests (1e-4, here relative to each output's largest magnitude, at least 1).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything_ros.backends import make_runner
from depth_anything_ros.backends.onnx_export import (
    _probe,
    export_onnx,
    export_openvino,
    graph_of,
    verify_export,
    verify_onnx,
)
from depth_anything_ros.backends.select import choose, Hardware, ModelSupport
from depth_anything_ros.commands import cli
from depth_anything_ros.estimator import DepthEstimator, IntrinsicsRequired
from depth_anything_ros.models.da3 import vit, weights
from depth_anything_ros.models.da3.adapter import Da3Model, untrained_model
from depth_anything_ros.models.da3.config import NestedConfig
from depth_anything_ros.models.registry import family
from depth_anything_ros.offline.bench import format_table, run, synthetic_frame

HAS_ORT = importlib.util.find_spec('onnxruntime') is not None
HAS_OV = importlib.util.find_spec('openvino') is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason='onnxruntime not installed')
needs_ov = pytest.mark.skipif(not HAS_OV, reason='openvino not installed')
pytestmark = pytest.mark.usefixtures('one_torch_thread')

TOL = 1e-4
DATA = Path(__file__).parent / 'data'
FRAME = synthetic_frame(96, 128)
K = (100.0, 110.0)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(b).max())))


@pytest.fixture(scope='module')
def anyview() -> Da3Model:
    return untrained_model('da3-tiny')


@pytest.fixture(scope='module')
def metric() -> Da3Model:
    return untrained_model('da3metric-tiny')


@pytest.fixture(scope='module')
def anyview_onnx(anyview: Da3Model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(anyview, tmp_path_factory.mktemp('da3') / 'anyview.onnx', dynamic=True)


@pytest.fixture(scope='module')
def nested() -> Da3Model:
    golden = np.load(DATA / 'da3_goldens_reduced.npz', allow_pickle=False)
    cfg = json.loads(str(golden['da3nested-giant-large/config']))
    return Da3Model(weights.untrained_model(NestedConfig.from_dict(cfg), warn=False)).eval()


# ------------------------------------------------------------------------------- the graph
@needs_ort
def test_anyview_graph_is_dynamic_in_batch_views_height_and_width(
        anyview: Da3Model, anyview_onnx: Path) -> None:
    side = json.loads(anyview_onnx.with_suffix('.json').read_text())
    assert side['input_shape'] == ['batch', 'views', 3, 'height', 'width']
    assert side['output_names'] == ['depth', 'depth_conf'] and side['family'] == 'da3'
    errors = verify_onnx(anyview, anyview_onnx, [(70, 98), (98, 70), (140, 182)], batch=2,
                         views=[1, 2, 3, 4])
    assert len(errors) == 12 and max(errors.values()) <= TOL, errors


@needs_ort
def test_dynamic_graph_matches_torch_on_a_full_height_grid_of_any_width(
        anyview: Da3Model, anyview_onnx: Path) -> None:
    """518 rows are the stored 37-patch position grid: only a 37 x 37 grid skips the resize.

    A 640x480 camera runs at 518x686; the graph (traced at 140x182) must not take the
    no-resize shortcut there from the row count alone.
    """
    sizes = [(518, 686), (518, 616), (518, 518), (686, 518)]
    errors = verify_onnx(anyview, anyview_onnx, sizes, views=[1])
    assert len(errors) == len(sizes) and max(errors.values()) <= TOL, errors


@needs_ort
def test_the_reference_view_is_chosen_inside_the_graph(
        anyview: Da3Model, anyview_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From three views on, torch picks a reference view by the class tokens; so must the graph.

    The graph is traced with two views, where torch picks none.
    """
    import onnxruntime as ort
    chosen: list[list[int]] = []
    pick = vit.select_reference
    monkeypatch.setattr(vit, 'select_reference',
                        lambda x, s: chosen.append(pick(x, s).tolist()) or pick(x, s))
    session = ort.InferenceSession(str(anyview_onnx), providers=['CPUExecutionProvider'])
    graph = graph_of(anyview)
    for views in (3, 4, 5):
        x = _probe(graph, 70, 98, 1, views).flip(1)  # (1, S, 3, H, W)
        with torch.inference_mode():
            want = graph(x)
        got = session.run(list(graph.output_names), {'image': x.numpy()})
        for w, g in zip(want, got):
            assert _rel(g, w.numpy()) <= TOL
    assert any(r != [0] for r in chosen), chosen   # not the first view: the choice mattered


@pytest.mark.slow
@needs_ort
@needs_ov
def test_nested_graph_leaves_the_alignment_to_torch_and_matches(nested: Da3Model,
                                                               tmp_path: Path) -> None:
    path = export_onnx(nested, tmp_path / 'nested.onnx', dynamic=True)
    assert json.loads(path.with_suffix('.json').read_text())['output_names'] == [
        'depth', 'depth_conf', 'metric_depth', 'sky', 'fx', 'fy']
    errors = verify_onnx(nested, path, [(70, 98), (112, 84)], views=[1, 3])
    assert max(errors.values()) <= TOL, errors
    ref = DepthEstimator(nested, device='cpu', backend='torch', precision='fp32',
                         input_size=98).estimate(FRAME)
    for backend in ('onnxruntime', 'openvino'):
        got = DepthEstimator(path, device='cpu', backend=backend, precision='fp32',
                             input_size=98).estimate(FRAME)
        assert got.sky is not None and (got.sky == ref.sky).all()
        assert _rel(got.depth, ref.depth) <= TOL and _rel(got.confidence,
                                                          ref.confidence) <= TOL


# ----------------------------------------------------------------------- through the estimator
@needs_ort
@needs_ov
def test_every_backend_gives_depth_and_confidence_as_torch(anyview: Da3Model, anyview_onnx: Path,
                                                           tmp_path: Path) -> None:
    ref = DepthEstimator(anyview, device='cpu', backend='torch', precision='fp32',
                         input_size=70)
    want = ref.estimate(FRAME)
    assert want.confidence is not None
    runs = [(anyview, 'onnxruntime'), (anyview, 'openvino'), (anyview_onnx, 'onnxruntime'),
            (anyview_onnx, 'openvino')]
    for model, backend in runs:
        est = DepthEstimator(model, device='cpu', backend=backend, precision='fp32',
                             input_size=70, cache_dir=tmp_path)
        # an exported file is known by its sidecar: the family's own input rule and outputs
        assert est.network_size(96, 128) == ref.network_size(96, 128)
        assert est.has_confidence and est.output == 'depth'
        got = est.estimate(FRAME)
        assert got.depth.shape == FRAME.shape[:2] and got.sky is None
        assert _rel(got.depth, want.depth) <= TOL, (model, backend)
        assert _rel(got.confidence, want.confidence) <= TOL, (model, backend)


@needs_ort
def test_the_views_of_one_scene_run_in_one_exported_pass(anyview: Da3Model, anyview_onnx: Path,
                                                         metric: Da3Model,
                                                         tmp_path: Path) -> None:
    views = [FRAME, FRAME[::-1].copy(), np.roll(FRAME, 40, axis=1)]
    ref = DepthEstimator(anyview, device='cpu', backend='torch', precision='fp32',
                         input_size=70).estimate_views(views, 'bgr8')
    est = DepthEstimator(anyview_onnx, device='cpu', backend='onnxruntime', precision='fp32',
                         input_size=70)
    assert est.max_views == 8 and not est.takes_poses   # no pose inputs in the graph
    got = est.estimate_views(views, 'bgr8')
    for g, w in zip(got, ref):
        assert _rel(g.depth, w.depth) <= TOL and _rel(g.confidence, w.confidence) <= TOL
    with pytest.raises(ValueError, match='exported graphs have no pose inputs'):
        est.estimate_views(views, 'bgr8', [np.eye(3)] * 3, np.stack([np.eye(4)] * 3))
    one = DepthEstimator(metric, device='cpu', backend='onnxruntime', precision='fp32',
                         input_size=70, cache_dir=tmp_path)
    assert one.max_views == 1


@needs_ort
@needs_ov
def test_metric_scale_stays_outside_the_graph_and_exact(metric: Da3Model, tmp_path: Path) -> None:
    path = export_openvino(metric, tmp_path / 'metric.xml', dynamic=True)
    side = json.loads(path.with_suffix('.json').read_text())
    assert side['input_shape'] == ['batch', 3, 'height', 'width']
    assert side['output_names'] == ['depth', 'sky']
    assert max(verify_export(metric, path, [(70, 98), (126, 84)]).values()) <= TOL
    want = DepthEstimator(metric, device='cpu', backend='torch', precision='fp32',
                          input_size=70).estimate(FRAME, intrinsics=K)
    for model, backend in ((path, 'openvino'), (metric, 'onnxruntime')):
        est = DepthEstimator(model, device='cpu', backend=backend, precision='fp32',
                             input_size=70, cache_dir=tmp_path)
        assert est.needs_intrinsics and est.output == 'metric'
        got = est.estimate(FRAME, intrinsics=K)
        assert _rel(got.depth, want.depth) <= TOL and (got.sky == want.sky).all()
        double = est.estimate(FRAME, intrinsics=(2 * K[0], 2 * K[1]))
        np.testing.assert_array_equal(double.depth, 2 * got.depth)   # exact: outside
        with pytest.raises(IntrinsicsRequired, match='focal length'):
            est.estimate(FRAME)


def test_auto_selection_considers_the_family_like_depth_anything_v2() -> None:
    fam = family('da3')
    support = ModelSupport(fam.title, fam.backends, fam.precisions)
    cpu = Hardware('cpu', cpu_flags=frozenset({'avx512_bf16'}))
    assert choose(['openvino', 'onnxruntime'], cpu, support=support)[:2] == ('openvino', 'bf16')
    assert choose(['onnxruntime'], Hardware('cpu'), support=support)[:2] == ('torch', 'fp32')
    gpu = Hardware('cuda', cuda_capability=(8, 6))
    assert choose(['tensorrt'], gpu, support=support)[:2] == ('tensorrt', 'fp16')
    assert choose(['openvino'], cpu, backend='openvino', precision='fp32',
                  support=support)[:2] == ('openvino', 'fp32')


# ------------------------------------------------------------------------------- bad input
@needs_ort
def test_a_wrong_view_count_or_shape_is_one_line(anyview: Da3Model, metric: Da3Model,
                                                  tmp_path: Path) -> None:
    static = export_onnx(anyview, tmp_path / 'two.onnx', height=70, width=98, views=2)
    assert json.loads(static.with_suffix('.json').read_text())['input_shape'] == [1, 2, 3, 70,
                                                                                 98]
    runner = make_runner('onnxruntime', static, cache_dir=tmp_path)
    out = runner(torch.zeros(1, 2, 3, 70, 98))
    assert set(out) == {'depth', 'depth_conf'} and out['depth'].shape == (1, 2, 70, 98)
    cases = [(torch.zeros(1, 3, 3, 70, 98), 'exported for 2 views, got 3'),
             (torch.zeros(1, 2, 3, 84, 98), 'exported for 70x98 inputs, got 84x98'),
             (torch.zeros(1, 2, 3, 70, 99), 'multiples of 14')]
    mono = make_runner('onnxruntime', metric, cache_dir=tmp_path)
    for x, message in cases:
        with pytest.raises(ValueError, match=message) as got:
            runner(x)
        assert '\n' not in str(got.value)
    with pytest.raises(ValueError, match='takes one view per image') as got:
        mono(torch.zeros(1, 2, 3, 70, 98))
    assert '\n' not in str(got.value)


# ------------------------------------------------------------------------------- commands
@pytest.mark.slow
@needs_ort
@needs_ov
def test_export_command_writes_and_verifies_da3(tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    base = ['export', '--checkpoint', 'untrained:da3-tiny', '--allow-untrained']
    assert cli.main([*base, '--dynamic', '--out', str(tmp_path / 'a.onnx')]) == 0
    assert 'dynamic batch/views/H/W' in capsys.readouterr().out
    assert cli.main([*base, '--format', 'openvino', '--input-size', '98', '--height', '96',
                     '--width', '128', '--views', '2', '--out', str(tmp_path / 'b.xml')]) == 0
    assert 'input 1x2x3x70x98' in capsys.readouterr().out   # the longest side is 98
    # a metric model: its graph's errors are relative (it has no max_depth to scale by)
    assert cli.main(['export', '--checkpoint', 'untrained:da3metric-tiny', '--allow-untrained',
                     '--dynamic', '--out', str(tmp_path / 'm.onnx')]) == 0


def test_export_refuses_views_for_a_one_view_model_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(['export', '--checkpoint', 'untrained:da3metric-tiny', '--allow-untrained',
                     '--input-size', '70', '--views', '2', '--out',
                     str(tmp_path / 'c.onnx')]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'depth-anything-ros export: error: --views 2: da3metric-tiny takes one view per '
        'image; drop --views')


@needs_ort
def test_bench_times_da3_and_da2_at_the_same_network_input() -> None:
    rows = run(['vits', 'da3-tiny'], [70], ['fp32'], ['fast'], [1], ['torch', 'onnxruntime'],
               runs=1, warmup=0)
    assert [r['encoder'] for r in rows] == ['vits'] * 2 + ['da3-tiny'] * 2
    assert all('error' not in r and 'skipped' not in r for r in rows), rows
    assert {tuple(r['net_input']) for r in rows} == {(70, 98)}   # 480x640 at short side 70
    assert rows[2]['family_input_size'] == 98 and rows[0]['family_input_size'] == 70
    assert all(r['accuracy']['p99_rel'] <= 1e-3 for r in rows), rows
    assert 'da3-tiny' in format_table(rows)


@pytest.mark.slow
@needs_ort
@needs_ov
def test_full_small_config_exports_dynamic(tmp_path: Path) -> None:
    """The published da3-small configuration (34 M parameters), ONNX and OpenVINO."""
    model = untrained_model('da3-small')
    for path in (export_onnx(model, tmp_path / 's.onnx', dynamic=True),
                 export_openvino(model, tmp_path / 's.xml', dynamic=True)):
        errors = verify_export(model, path, [(140, 182), (182, 140)], views=[1, 3])
        assert max(errors.values()) <= TOL, (path, errors)
