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

"""The transformers families (MiDaS/DPT, ZoeDepth, Depth Pro) off torch and in lower precision.

Each tiny library network (built from the library's own config class, saved in its format; see
test_hf_families.py) is exported for one camera size to ONNX and OpenVINO IR, and the exported
file runs in onnxruntime and OpenVINO with the library's processing around it: its depth equals
the torch model's within the tolerance the Depth Anything V2 exports are checked with. The
graph holds the network alone (ZoeDepth's average with the mirrored input included, Depth Pro's
field of view as a second output); the processing stays in Python. A dynamic-size export is
refused in one line that says what fails. bf16 (CPU autocast, as the estimator runs it) is
measured against fp32: bounded, not exact; fp16 runs on a CUDA GPU only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip('transformers')
torch = pytest.importorskip('torch')
pytest.importorskip('onnxruntime')

from test_hf_families import FAMILIES, frame, save_folder  # noqa: E402

from depth_anything_ros.backends.export import VERIFY_ATOL  # noqa: E402
from depth_anything_ros.commands import cli  # noqa: E402
from depth_anything_ros.errors import InvalidInputError  # noqa: E402
from depth_anything_ros.estimator import DepthEstimator  # noqa: E402
from depth_anything_ros.model import CheckpointError, load_model  # noqa: E402
from depth_anything_ros.models import registry  # noqa: E402

pytestmark = pytest.mark.usefixtures('one_torch_thread')

H, W = 30, 44   # the camera size the files are exported for
RUNTIMES = {'onnx': ('onnxruntime', 'openvino'), 'openvino': ('openvino',)}
SUFFIX = {'onnx': '.onnx', 'openvino': '.xml'}
#: bf16 autocast against fp32 on the tiny networks, as a fraction of the output's scale
#: (measured here: DPT 1.0e-2, ZoeDepth 5e-3, Depth Pro 1.1e-2 of its inverse depth).
BF16_BOUND = 3e-2


@pytest.fixture(scope='module')
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('hf_export')
    torch.set_num_threads(1)
    return {name: save_folder(name, root / name) for name in FAMILIES}


def torch_estimator(folder: Path, precision: str = 'fp32') -> DepthEstimator:
    return DepthEstimator(load_model(folder), device='cpu', backend='torch', precision=precision)


def export(folder: Path, out: Path, fmt: str = 'onnx', *extra: str) -> int:
    return cli.main(['export', '--checkpoint', str(folder), '--format', fmt, '--height', str(H),
                     '--width', str(W), '--out', str(out), *extra])


def scaled_error(got: np.ndarray, want: np.ndarray) -> float:
    """Max |got - want| relative to max |want| (the export checks' measure)."""
    return float(np.abs(got - want).max() / np.abs(want).max())


def exports() -> list:
    """(family, format) cases; all but DPT's ONNX take long on two cores (marked slow)."""
    return [pytest.param(name, fmt, marks=() if (name, fmt) == ('dpt', 'onnx')
                         else pytest.mark.slow)
            for name in FAMILIES for fmt in ('onnx', 'openvino')]


@pytest.mark.parametrize('name, fmt', exports())
def test_the_exported_file_runs_like_the_torch_model(name: str, fmt: str,
                                                     folders: dict[str, Path],
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / f'{name}{SUFFIX[fmt]}'
    rc = export(folders[name], out, fmt)
    assert rc == 0, capsys.readouterr().err
    meta = json.loads(out.with_suffix('.json').read_text())
    assert meta['family'] == name and not meta['dynamic']
    # what runs around the graph travels with it: the library's processor configuration
    assert isinstance(meta['library_processor'], dict)
    ref = torch_estimator(folders[name])
    image = frame(H, W)
    want = ref.infer(image, 'rgb8')
    estimated = list(ref.last_focal_px)
    assert tuple(meta['input_shape'][2:]) == ref.network_size(H, W)
    outputs = ['depth', 'field_of_view'] if name == 'depth_pro' else ['depth']
    assert meta['output_names'] == outputs
    for backend in RUNTIMES[fmt]:
        est = DepthEstimator(out, device='cpu', backend=backend, precision='fp32')
        assert est.backend == backend and est.is_metric == ref.is_metric
        got = est.infer(image, 'rgb8')
        assert got.shape == (H, W)
        assert scaled_error(got, want) < VERIFY_ATOL, backend
        if name == 'depth_pro':
            # the estimated focal length comes out of the graph's second output ...
            assert est.last_focal_px[0] == pytest.approx(estimated[0], rel=1e-5)
            # ... and the camera's replaces it after the graph, as in torch
            got = est.estimate_batch([image], 'rgb8', intrinsics=[(50.0, 50.0)])[0].depth
            want_f = ref.estimate_batch([image], 'rgb8', intrinsics=[(50.0, 50.0)])[0].depth
            assert scaled_error(got, want_f) < VERIFY_ATOL
            assert est.last_focal_px == [50.0]
            assert np.abs(got - want).max() > 1e-3   # the focal length changed the metres


def test_zoedepths_graph_holds_the_mirrored_pass(folders: dict[str, Path]) -> None:
    """The flip average is inside the graph: the graph's output is not one pass's."""
    net = load_model(folders['zoedepth'])
    graph = net.export_graph()
    x = net.prepare([frame(H, W)])
    with torch.no_grad():
        (both,) = graph(x)
        one = net.net(pixel_values=x).predicted_depth
        torch.testing.assert_close(both, net(x))
    assert float((both - one).abs().max()) > 1e-4


@pytest.mark.slow
def test_infer_and_process_bag_run_the_exported_file(folders: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    import cv2
    out = tmp_path / 'zoe.onnx'
    assert export(folders['zoedepth'], out) == 0, capsys.readouterr().err
    image = frame(H, W)
    cv2.imwrite(str(tmp_path / 'a.png'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    rc = cli.main(['infer', str(tmp_path / 'a.png'), '--out', str(tmp_path / 'o'),
                   '--checkpoint', str(out), '--mode', 'metric', '--device', 'cpu',
                   '--backend', 'onnxruntime', '--precision', 'fp32'])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    want = torch_estimator(folders['zoedepth']).infer(image, 'rgb8')
    assert scaled_error(np.load(tmp_path / 'o' / 'a.npy'), want) < VERIFY_ATOL

    pytest.importorskip('rosbags')
    from ros_helpers.bags import read_bag, write_camera_bag

    from depth_anything_ros.ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 2, h=H, w=W)
    depth = {}
    for tag, checkpoint, backend in (('torch', folders['zoedepth'], 'torch'),
                                     ('file', out, 'openvino')):
        rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / tag), '--checkpoint',
                       str(checkpoint), '--mode', 'metric', '--device', 'cpu', '--backend',
                       backend, '--precision', 'fp32', '--json'])
        printed, err = capsys.readouterr()
        assert rc == 0, err
        assert json.loads(printed)['processed'] == 2
        (msgs,) = [m for t, m in read_bag(tmp_path / tag).items() if t.endswith('depth/image')]
        depth[tag] = np.stack([image_to_array(m[1]) for m in msgs])
    assert depth['file'].shape == (2, H, W)
    assert scaled_error(depth['file'], depth['torch']) < VERIFY_ATOL


@pytest.mark.parametrize('name, says', [
    ('dpt', 'while running Add node'),
    ('zoedepth', "Value for partial shape evaluation can't be lower than zero"),
    ('depth_pro', 'Non concat axis dimensions must match')])
def test_a_dynamic_export_is_refused_in_one_line_that_says_what_fails(
        name: str, says: str, folders: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'x.onnx'
    rc = cli.main(['export', '--checkpoint', str(folders[name]), '--dynamic', '--out', str(out)])
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if 'error:' in line]
    assert rc == 2 and len(said) == 1 and 'Traceback' not in err
    assert 'no dynamic-size export' in said[0] and says in said[0]
    assert not out.exists()


def test_a_static_export_takes_the_camera_size_not_an_input_size(
        folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'x.onnx'
    for args, says in ((['--input-size', '28'], 'drop --input-size'),
                       ([], 'needs the camera --height and --width')):
        rc = cli.main(['export', '--checkpoint', str(folders['dpt']), '--out', str(out), *args])
        err = capsys.readouterr().err
        assert rc == 2 and says in err.splitlines()[-1], err
        assert not out.exists()


def test_a_library_folder_runs_off_torch_only_as_an_exported_file(
        folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import cv2
    net = load_model(folders['dpt'])
    with pytest.raises(InvalidInputError, match='from an exported file only'):
        DepthEstimator(net, device='cpu', backend='onnxruntime')
    # auto picks among what the folder can run: torch (not an internal export)
    assert DepthEstimator(net, device='cpu', backend='auto', precision='fp32').backend == 'torch'
    cv2.imwrite(str(tmp_path / 'a.png'), frame(H, W))
    rc = cli.main(['infer', str(tmp_path / 'a.png'), '--out', str(tmp_path / 'o'),
                   '--checkpoint', str(folders['dpt']), '--device', 'cpu', '--backend',
                   'openvino'])
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if 'error:' in line]
    assert rc == 2 and len(said) == 1 and 'exported file only' in said[0], err


def test_an_exported_file_without_its_processor_is_one_clear_error(
        folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'dpt.onnx'
    assert export(folders['dpt'], out, 'onnx', '--no-verify') == 0, capsys.readouterr().err
    sidecar = out.with_suffix('.json')
    meta = json.loads(sidecar.read_text())
    del meta['library_processor']
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='no image processor configuration.*re-export'):
        DepthEstimator(out, device='cpu', backend='onnxruntime')


@pytest.mark.parametrize('name', FAMILIES)
def test_bf16_autocast_on_the_cpu_stays_close_to_fp32(name: str,
                                                      folders: dict[str, Path]) -> None:
    image = frame(H, W)
    ref = torch_estimator(folders[name])
    low = torch_estimator(folders[name], 'bf16')
    assert low.precision == 'bf16'
    want, got = ref.infer(image, 'rgb8'), low.infer(image, 'rgb8')
    if name == 'depth_pro':   # compare what the network predicts: inverse depth
        want, got = 1.0 / want, 1.0 / got
        assert low.last_focal_px[0] == pytest.approx(ref.last_focal_px[0], rel=1e-2)
    err = scaled_error(got, want)
    assert 1e-6 < err < BF16_BOUND   # it ran in bf16 (not fp32), and close


def test_fp16_on_the_cpu_is_refused_with_the_reason(folders: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match='fp16 needs a CUDA GPU'):
        DepthEstimator(load_model(folders['dpt']), device='cpu', backend='torch',
                       precision='fp16')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='fp16 autocast needs a CUDA GPU')
@pytest.mark.parametrize('name', FAMILIES)
def test_fp16_on_a_cuda_gpu_stays_close_to_fp32(name: str, folders: dict[str, Path]) -> None:
    image = frame(H, W)
    want = DepthEstimator(load_model(folders[name]), device='cuda', backend='torch',
                          precision='fp32').infer(image, 'rgb8')
    got = DepthEstimator(load_model(folders[name]), device='cuda', backend='torch',
                         precision='fp16').infer(image, 'rgb8')
    if name == 'depth_pro':
        want, got = 1.0 / want, 1.0 / got
    assert np.isfinite(got).all() and scaled_error(got, want) < BF16_BOUND


def test_the_families_declare_what_they_run_on() -> None:
    for name in FAMILIES:
        fam = registry.family(name)
        assert {'torch', 'onnxruntime', 'openvino'} <= set(fam.backends)
        assert 'tensorrt' not in fam.backends   # no GPU has run their graphs
        assert set(fam.precisions) == {'fp32', 'bf16', 'fp16'}


def test_the_backends_table_in_the_docs_is_current() -> None:
    import importlib.util
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location('update_doc_tables',
                                                  root / 'tools' / 'update_doc_tables.py')
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    doc = (root / 'docs' / 'backends.md').read_text()
    assert '<!-- backends:begin' in doc and tables.update(doc) == doc
    for fam in registry.families():
        assert f'| {fam.title} |' in doc
