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

"""ONNX / OpenVINO export: really dynamic H/W, static folding, sidecars, the export command.

The dynamic-shape claim is checked where it breaks when sizes get baked in: the exported file is
run in onnxruntime at sizes other than the traced one, including 518x518 (the official
no-interpolation path), and compared with torch fp32 (<= 1e-4).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

from depth_anything_ros.backends import make_runner
from depth_anything_ros.backends.export import network_input_hw
from depth_anything_ros.backends.onnx_export import (
    export_onnx,
    export_openvino,
    probe_input,
    verify_onnx,
)
from depth_anything_ros.commands import cli
from depth_anything_ros.model import ModelConfig, untrained_model
from depth_anything_ros.models.sidecar import read_sidecar, SIDECAR_FORMAT

pytestmark = [pytest.mark.skipif(
    importlib.util.find_spec('onnxruntime') is None or importlib.util.find_spec('onnx') is None,
    reason='export checks need onnx and onnxruntime'),
    pytest.mark.usefixtures('one_torch_thread')]
HAS_OV = importlib.util.find_spec('openvino') is not None
DYNAMIC_SIZES = [(518, 518), (266, 350), (364, 490), (532, 518), (140, 182)]


def graph_input_dims(path: Path) -> list[int | str]:
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField('dim_value') else d.dim_param for d in dims]


def op_types(path: Path) -> set[str]:
    import onnx
    return {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}


@pytest.mark.slow
def test_dynamic_export_is_really_dynamic(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(tiny, tmp_path / 'tiny.onnx', dynamic=True)
    dims = graph_input_dims(path)
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))
    errors = verify_onnx(tiny, path, DYNAMIC_SIZES)
    assert set(errors) == set(DYNAMIC_SIZES)
    assert max(errors.values()) <= 1e-4, errors
    meta = read_sidecar(path, required=True)
    assert meta['format'] == SIDECAR_FORMAT and meta['dynamic'] is True
    assert meta['input_names'] == ['image'] and meta['output_names'] == ['depth']
    assert meta['opset'] == 17 and meta['encoder'] == 'tiny' and meta['head'] == 'relative'
    assert ModelConfig.from_dict(meta['config']) == tiny.config
    assert path.with_suffix('.json').is_file()  # model.onnx -> model.json, like checkpoints


@pytest.mark.slow
def test_static_export_folds_the_position_embedding(tiny: torch.nn.Module,
                                                    tmp_path: Path) -> None:
    path = export_onnx(tiny, tmp_path / 'static.onnx', height=266, width=350, batch=2)
    assert graph_input_dims(path) == [2, 3, 266, 350]
    # The interpolated pos-embed became a constant: the shape-derived resize-matrix ops
    # (arange, floor) that a dynamic export needs are gone.
    assert not {'Range', 'Floor'} & op_types(path)
    assert {'Range', 'Floor'} <= op_types(export_onnx(tiny, tmp_path / 'dyn.onnx', dynamic=True))
    errors = verify_onnx(tiny, path, [(266, 350)], batch=2)
    assert errors[(266, 350)] <= 1e-4
    assert read_sidecar(path, required=True)['input_shape'] == [2, 3, 266, 350]


def test_export_leaves_the_callers_module_alone(tiny: torch.nn.Module, tmp_path: Path) -> None:
    half = copy.deepcopy(tiny).to(torch.bfloat16).train()
    path = export_onnx(half, tmp_path / 'from_bf16.onnx', height=140, width=182)
    assert next(half.parameters()).dtype == torch.bfloat16 and half.training
    # The export ran in fp32 on the bf16-rounded weights.
    fp32_of_half = copy.deepcopy(half).float().eval()
    assert verify_onnx(fp32_of_half, path, [(140, 182)])[(140, 182)] <= 1e-4


def test_export_rejects_sizes_that_are_not_multiples_of_14(tiny: torch.nn.Module,
                                                          tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='multiple of 14'):
        export_onnx(tiny, tmp_path / 'x.onnx', height=480, width=640)
    with pytest.raises(ValueError, match='height and width'):
        export_onnx(tiny, tmp_path / 'x.onnx')


@pytest.mark.skipif(not HAS_OV, reason='openvino is not installed')
@pytest.mark.slow
def test_openvino_ir_export_keeps_fp32(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = export_openvino(tiny, tmp_path / 'tiny.xml', dynamic=True)
    assert path.with_suffix('.bin').is_file()
    meta = read_sidecar(path, required=True)
    assert meta['dynamic'] is True and meta['format_detail'] == 'openvino_ir'
    runner = make_runner('openvino', path, precision='fp32')
    for h, w in [(518, 518), (266, 350)]:
        x = probe_input(h, w)
        with torch.no_grad():
            ref = tiny(x)
        assert float((runner(x) - ref).abs().max()) <= 1e-4  # weights not compressed to f16


def test_network_input_hw() -> None:
    assert network_input_hw(518, 480, 640) == (518, 686)
    assert network_input_hw(364, 480, 640) == (364, 490)
    assert network_input_hw(266, None, None) == (266, 266)
    assert network_input_hw(None, 518, 686) == (518, 686)
    with pytest.raises(ValueError, match='multiples of 14'):
        network_input_hw(None, 480, 640)
    with pytest.raises(ValueError, match='both'):
        network_input_hw(518, 480, None)
    with pytest.raises(ValueError, match='--dynamic'):
        network_input_hw(None, None, None)


def test_export_command_dynamic_onnx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / 'cli.onnx'
    rc = cli.main(['export', '--checkpoint', 'untrained:tiny', '--allow-untrained',
                   '--dynamic', '--out', str(out)])
    assert rc == 0, capsys.readouterr().out
    assert out.is_file() and 'dynamic H/W' in capsys.readouterr().out
    assert json.loads(out.with_suffix('.json').read_text())['dynamic'] is True


@pytest.mark.skipif(not HAS_OV, reason='openvino is not installed')
def test_export_command_static_openvino_for_a_camera(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / 'cam.xml'
    with caplog.at_level('INFO'):
        rc = cli.main(['export', '--checkpoint', 'untrained:tiny', '--allow-untrained',
                       '--format', 'openvino', '--input-size', '266', '--height', '480',
                       '--width', '640', '--out', str(out)])
    assert rc == 0
    assert read_sidecar(out, required=True)['input_shape'] == [1, 3, 266, 350]
    assert 'verify 266x350: max |OpenVINO f32 - torch|' in caplog.text  # checked after export


@pytest.mark.parametrize('argv,message', [
    (['--checkpoint', 'untrained:tiny', '--dynamic', '--out', 'x.onnx'], 'allow_untrained'),
    (['--checkpoint', 'untrained:tiny', '--allow-untrained', '--format', 'openvino',
      '--dynamic', '--out', 'x.onnx'], 'writes a .xml file'),
    (['--checkpoint', 'untrained:tiny', '--allow-untrained', '--out', 'x.onnx'],
     '--input-size'),
    (['--checkpoint', 'untrained:tiny', '--allow-untrained', '--input-size', '500',
      '--out', 'x.onnx'], 'multiple of 14'),
    (['--checkpoint', 'no_such_file.pth', '--dynamic', '--out', 'x.onnx'], 'does not exist'),
    (['--checkpoint', 'model.xml', '--dynamic', '--out', 'x.onnx'],
     'model.xml is an exported model; give the torch checkpoint'),
])
def test_export_command_errors(argv: list[str], message: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(['export', *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'x.onnx').exists()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get('DEPTH_ANYTHING_ROS_TEST_DYNAMO'),
                    reason='the dynamo exporter takes ~45 s even for the tiny model; set '
                           'DEPTH_ANYTHING_ROS_TEST_DYNAMO=1 to run it')
def test_dynamo_exporter_is_dynamic_too(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(tiny, tmp_path / 'dynamo.onnx', dynamic=True, exporter='dynamo')
    errors = verify_onnx(tiny, path, [(518, 518), (266, 350), (140, 182)])
    assert max(errors.values()) <= 1e-4, errors


@pytest.mark.slow
def test_vits_dynamic_export_matches_torch_and_bf16_bound(tmp_path: Path) -> None:
    """ViT-S, deterministic weights: ORT/OpenVINO fp32 <= 1e-4; OpenVINO bf16 p99 <= 3%."""
    model = untrained_model('vits', warn=False)
    path = export_onnx(model, tmp_path / 'vits.onnx', dynamic=True)
    errors = verify_onnx(model, path, [(518, 518), (266, 350), (140, 182)])
    assert max(errors.values()) <= 1e-4, errors
    if not HAS_OV:
        return
    x = probe_input(140, 182)
    with torch.no_grad():
        ref = model(x)
    fp32 = make_runner('openvino', path, precision='fp32')(x)
    assert float((fp32 - ref).abs().max()) <= 1e-4
    bf16 = make_runner('openvino', path, precision='bf16')(x)
    rel = ((bf16 - ref).abs() / ref.abs()).flatten()
    assert float(rel.quantile(0.99)) <= 0.03 and float(rel.median()) <= 0.01
