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


"""backend/precision/exact: the one pure rule for any machine, and every path's use of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depth_anything_ros.backends import select
from depth_anything_ros.backends.select import Choice, choose, cpu_flags, detect_hardware, Hardware

AMX = frozenset({'avx512f', 'amx_bf16', 'amx_tile'})
AVX512_BF16 = frozenset({'avx512f', 'avx512_bf16'})
AVX2 = frozenset({'avx2', 'fma'})
ALL = ('torch', 'openvino', 'onnxruntime', 'tensorrt')


def gpu(major: int, minor: int = 0) -> Hardware:
    return Hardware(device='cuda', cuda_capability=(major, minor), cpu_flags=AVX2)


def cpu(flags: frozenset[str]) -> Hardware:
    return Hardware(device='cpu', cpu_flags=flags)


@pytest.mark.parametrize('installed, hardware, expected', [
    (ALL, gpu(8, 7), ('tensorrt', 'fp16')),                     # Jetson Orin with TensorRT
    (('torch', 'openvino'), gpu(7, 2), ('torch', 'fp16')),      # Xavier: no native bf16
    (('torch', 'onnxruntime'), gpu(8, 6), ('torch', 'bf16')),   # Ampere without TensorRT
    (ALL, cpu(AMX), ('openvino', 'bf16')),                      # Sapphire Rapids
    (('torch', 'openvino'), cpu(AVX512_BF16), ('openvino', 'bf16')),  # Cooper Lake, Zen 4
    (('torch', 'openvino'), cpu(AVX2), ('openvino', 'fp32')),   # older CPU
    (('torch', 'onnxruntime'), cpu(AMX), ('torch', 'bf16')),    # no OpenVINO
    (('torch',), cpu(AVX2), ('torch', 'fp32')),                 # a plain laptop
    ((), Hardware(device='mps'), ('torch', 'fp32')),            # Apple: torch only
])
def test_auto_picks_the_fastest_accurate_runtime(installed: tuple[str, ...],
                                                 hardware: Hardware,
                                                 expected: tuple[str, str]) -> None:
    choice = choose(installed, hardware)
    assert (choice.backend, choice.precision) == expected
    assert choice.backend in choice.reason and choice.precision in choice.reason


def test_exact_forces_torch_fp32_and_refuses_other_requests() -> None:
    assert choose(ALL, cpu(AMX), exact=True) == Choice(
        'torch', 'fp32', 'exact: bit-faithful fp32 torch path')
    assert choose(ALL, gpu(8), exact=True, precision='fp32').backend == 'torch'
    with pytest.raises(ValueError, match='exact forces torch fp32'):
        choose(ALL, cpu(AMX), exact=True, precision='bf16')
    with pytest.raises(ValueError, match='exact forces torch fp32'):
        choose(ALL, cpu(AMX), exact=True, backend='openvino')
    with pytest.raises(ValueError, match='exported file'):
        choose(ALL, cpu(AMX), exact=True, model_file='model.onnx')


def test_an_explicit_backend_or_precision_is_obeyed() -> None:
    assert choose(ALL, cpu(AMX), backend='torch')[:2] == ('torch', 'bf16')
    assert choose(ALL, cpu(AMX), backend='onnxruntime')[:2] == ('onnxruntime', 'fp32')
    assert choose(ALL, cpu(AMX), precision='fp32')[:2] == ('openvino', 'fp32')
    assert choose(ALL, gpu(8), precision='fp32')[:2] == ('tensorrt', 'fp32')
    assert choose(('torch',), gpu(7), precision='fp32')[:2] == ('torch', 'fp32')
    # An emulated bf16 is slow but was asked for: obeyed, and the reason says so.
    slow = choose(('torch',), cpu(AVX2), precision='bf16')
    assert slow[:2] == ('torch', 'bf16') and 'emulated' in slow.reason
    assert 'requested backend' in choose(ALL, cpu(AMX), backend='torch').reason


@pytest.mark.parametrize('kwargs, hardware, message', [
    ({'precision': 'fp16'}, cpu(AMX), 'CPUs have no fast fp16'),
    ({'precision': 'bf16'}, gpu(7, 5), 'compute capability 8.0'),
    ({'backend': 'tensorrt'}, cpu(AMX), 'does not run on this CPU'),
    ({'backend': 'openvino'}, gpu(8), 'does not run on a CUDA device'),
    ({'backend': 'openvino', 'precision': 'bf16'}, cpu(AVX2), 'openvino offers fp32'),
    ({'backend': 'cuda'}, cpu(AMX), 'unknown backend'),
])
def test_impossible_requests_are_refused_with_the_reason(kwargs: dict, hardware: Hardware,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose(ALL, hardware, **kwargs)


def test_a_missing_runtime_is_refused_with_the_install_hint() -> None:
    with pytest.raises(ValueError, match='pip install tensorrt'):
        choose(('torch',), gpu(8), backend='tensorrt')


@pytest.mark.parametrize('installed, hardware, model_file, expected', [
    (ALL, gpu(8), 'da.engine', ('tensorrt', 'fp16')),
    (ALL, cpu(AMX), 'da.xml', ('openvino', 'bf16')),
    (ALL, gpu(8), 'da.onnx', ('tensorrt', 'fp16')),
    (('torch', 'onnxruntime'), gpu(8), 'da.onnx', ('onnxruntime', 'fp32')),
    (('torch', 'onnxruntime'), cpu(AMX), 'da.ONNX', ('onnxruntime', 'fp32')),
])
def test_an_exported_file_constrains_the_backend(installed: tuple[str, ...], hardware: Hardware,
                                                 model_file: str,
                                                 expected: tuple[str, str]) -> None:
    assert choose(installed, hardware, model_file=model_file)[:2] == expected


def test_an_exported_file_no_installed_runtime_can_load_is_refused() -> None:
    with pytest.raises(ValueError, match='needs one of tensorrt'):
        choose(('torch', 'openvino'), cpu(AMX), model_file='da.engine')
    with pytest.raises(ValueError, match='cannot load da.xml'):
        choose(ALL, cpu(AMX), backend='onnxruntime', model_file='da.xml')
    with pytest.raises(ValueError, match='cannot tell the runtime'):
        choose(ALL, cpu(AMX), model_file='da.pth.gz')


def test_this_machine_is_described_from_its_own_facts() -> None:
    hw = detect_hardware('cpu')
    assert hw.device == 'cpu' and hw.cuda_capability is None
    assert hw.cpu_flags == cpu_flags()
    assert hw.cpu_bf16 == bool({'amx_bf16', 'avx512_bf16'} & hw.cpu_flags)


def test_the_estimator_runs_what_auto_chose(one_torch_thread: None) -> None:
    from depth_anything_ros.backends.select import installed_backends
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import untrained_model
    est = DepthEstimator(untrained_model('tiny', warn=False), device='cpu', backend='auto',
                         precision='auto', input_size=70)
    expected = choose(installed_backends(), detect_hardware('cpu'))
    assert est.choice == expected
    assert (est.backend, est.precision) == (expected.backend, expected.precision)
    exact = DepthEstimator(untrained_model('tiny', warn=False), device='cpu', backend='auto',
                           precision='auto', exact=True, input_size=70)
    assert (exact.backend, exact.precision) == ('torch', 'fp32')


def test_camera_sizes_are_remembered_per_key(tmp_path) -> None:
    from depth_anything_ros.backends.engine_cache import (
        remember_camera_size,
        remembered_camera_size,
    )
    assert remembered_camera_size(tmp_path, '/depth_node') is None
    remember_camera_size(tmp_path, '/depth_node', 480, 640)
    remember_camera_size(tmp_path, '/front/depth_node', 720, 1280)
    assert remembered_camera_size(tmp_path, '/depth_node') == (480, 640)
    remember_camera_size(tmp_path, '/depth_node', 240, 320)   # the camera changed
    assert remembered_camera_size(tmp_path, '/depth_node') == (240, 320)
    assert remembered_camera_size(tmp_path, '/front/depth_node') == (720, 1280)
    (tmp_path / 'camera_sizes.json').write_text('{"/depth_node": [0, "x"]')   # damaged
    assert remembered_camera_size(tmp_path, '/depth_node') is None


def test_auto_from_a_checkpoint_path_loads_it_for_any_backend(tmp_path, one_torch_thread) -> None:
    """A checkpoint file given by path works whichever backend auto picks (it is exported)."""
    import numpy as np

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import export_model, ModelConfig, untrained_model
    path = export_model(untrained_model(ModelConfig.tiny(), warn=False), tmp_path / 'tiny.pth')
    est = DepthEstimator(path, device='cpu', backend='auto', precision='auto', input_size=70,
                         cache_dir=tmp_path / 'engines')
    assert est.config is not None and est.config.encoder == 'tiny'
    assert est.infer(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)


# Requests the estimator once let past the rule (an explicit backend and precision skipped it)
# or refused in words of its own: each is now refused by the rule, in the rule's words, on every
# path. (name, device, hardware, request, exported file, what the refusal says)
DISAGREEMENTS = [
    ('exact with openvino fp32', 'cpu', cpu(AMX),
     {'backend': 'openvino', 'precision': 'fp32', 'exact': True}, None,
     'exact forces torch fp32'),
    ('openvino bf16 on a CPU without bf16', 'cpu', cpu(AVX2),
     {'backend': 'openvino', 'precision': 'bf16'}, None, 'openvino offers fp32'),
    ('onnxruntime bf16', 'cpu', cpu(AMX), {'backend': 'onnxruntime', 'precision': 'bf16'}, None,
     'onnxruntime offers fp32'),
    ('an OpenVINO .xml with backend tensorrt', 'cuda', gpu(8, 6),
     {'backend': 'tensorrt', 'precision': 'fp16'}, 'da.xml', "backend 'tensorrt' cannot load "
     'da.xml'),
    ('bf16 on mps', 'mps', Hardware(device='mps'), {'backend': 'torch', 'precision': 'bf16'},
     None, 'use fp16 or fp32 on the Apple GPU'),
]


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """Make this process see the machine a test describes (device, facts, every runtime)."""
    from depth_anything_ros import estimator

    def describe(device: str, hardware: Hardware) -> None:
        monkeypatch.setattr(estimator, 'resolve_device', lambda _: torch.device(device))
        monkeypatch.setattr(select, 'detect_hardware', lambda _: hardware)
        monkeypatch.setattr(select, 'installed_backends',
                            lambda names=None: [b for b in ALL if names is None or b in names])
    return describe


@pytest.mark.parametrize('name, device, hardware, request_, model_file, message', DISAGREEMENTS,
                         ids=[d[0] for d in DISAGREEMENTS])
def test_every_path_refuses_what_the_rule_refuses_in_its_words(
        name: str, device: str, hardware: Hardware, request_: dict, model_file: str | None,
        message: str, machine, tmp_path: Path) -> None:
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import untrained_model
    machine(device, hardware)
    with pytest.raises(ValueError, match=message) as pure:
        choose(ALL, hardware, model_file=model_file, **request_)
    model = str(tmp_path / model_file) if model_file else untrained_model('tiny', warn=False)
    with pytest.raises(ValueError) as constructed:   # the library path
        DepthEstimator(model, device=device, input_size=70, **request_)
    with pytest.raises(ValueError) as configured:    # the node's and every command's path
        DepthEstimator.from_config(model if model_file else 'untrained:tiny', device=device,
                                   allow_untrained=True, input_size=70, **request_)
    assert str(constructed.value) == str(configured.value) == str(pure.value)


def test_the_cli_refuses_what_the_node_refuses(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """--exact with another backend, and a bad engine cache size: one line, exit code 2."""
    import cv2
    import numpy as np

    from depth_anything_ros.commands.cli import main as cli
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.zeros((20, 30, 3), np.uint8))
    common = ['infer', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--input-size',
              '70', str(image), '--out', str(tmp_path / 'out')]
    assert cli([*common, '--exact', '--backend', 'onnxruntime', '--precision', 'fp32']) == 2
    err = capsys.readouterr().err.strip()
    refusal = _refusal(exact=True, backend='onnxruntime', precision='fp32')
    assert err == f'depth-anything-ros infer: error: {refusal}'
    assert cli([*common, '--engine-cache-size', '0']) == 2
    err = capsys.readouterr().err.strip()
    assert err == ('depth-anything-ros infer: error: --engine-cache-size must be in [1, 64], '
                   'got 0')
    assert not (tmp_path / 'out').exists()


def _refusal(**request: object) -> str:
    with pytest.raises(ValueError) as refused:
        select.choose_here('cpu', **request)
    return str(refused.value)


def test_cuda_bf16_needs_native_support_on_that_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 on CUDA needs compute capability 8+ on the chosen GPU, not emulation; ROCm has it."""
    capability = {0: (8, 6), 1: (7, 5), 2: (7, 2)}  # RTX 30xx, T4, Jetson Xavier
    asked: list[torch.device] = []

    def get_device_capability(device: torch.device) -> tuple[int, int]:
        asked.append(device)
        return capability[device.index]

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'get_device_capability', get_device_capability)
    monkeypatch.setattr(torch.version, 'hip', None)

    def torch_on(index: int, precision: str) -> Choice:
        return choose(['torch'], detect_hardware(f'cuda:{index}'), backend='torch',
                      precision=precision)

    assert torch_on(0, 'bf16').precision == 'bf16'
    for index in (1, 2):
        with pytest.raises(ValueError, match='compute capability 8.0'):
            torch_on(index, 'bf16')
    assert [d.index for d in asked] == [0, 1, 2]
    assert torch_on(2, 'fp16').precision == 'fp16'
    monkeypatch.setattr(torch.version, 'hip', '6.2')
    rocm = detect_hardware('cuda:1')
    assert rocm.rocm and rocm.cuda_bf16 and torch_on(1, 'bf16').precision == 'bf16'
    assert choose(ALL, rocm)[:2] == ('torch', 'bf16')   # no TensorRT on an AMD GPU
    with pytest.raises(ValueError, match='does not run on a ROCm GPU'):
        choose(ALL, rocm, backend='tensorrt')


def test_make_runner_loads_files_by_the_same_suffix_table(tmp_path: Path) -> None:
    from depth_anything_ros.backends import make_runner
    xml = tmp_path / 'da.xml'
    xml.write_text('<net/>')
    with pytest.raises(ValueError, match="backend 'onnxruntime' cannot load da.xml: it loads "
                                         'in openvino'):
        make_runner('onnxruntime', xml)
    with pytest.raises(ValueError, match='run the torch model in'):
        make_runner('torch', xml)


def test_a_family_declaration_narrows_the_choice_instead_of_refusing_auto() -> None:
    """A family that runs torch fp32 only gets torch fp32 from auto, on any machine."""
    from depth_anything_ros.backends.select import ModelSupport
    torch_only = ModelSupport('Toy', ('torch',), ('fp32',))
    assert choose(ALL, cpu(AMX), support=torch_only)[:2] == ('torch', 'fp32')
    assert choose(ALL, gpu(8, 6), support=torch_only)[:2] == ('torch', 'fp32')
    assert choose(ALL, cpu(AMX), exact=True, support=torch_only).backend == 'torch'
    with pytest.raises(ValueError, match='Toy models run with backend torch, not openvino'):
        choose(ALL, cpu(AMX), backend='openvino', support=torch_only)
    with pytest.raises(ValueError, match='Toy models run with precision fp32, not bf16'):
        choose(ALL, cpu(AMX), precision='bf16', support=torch_only)
    exported_only = ModelSupport('Engine', ('openvino',), ('fp32', 'bf16'))
    assert choose(ALL, cpu(AMX), support=exported_only)[:2] == ('openvino', 'bf16')
    with pytest.raises(ValueError, match='which Engine models do not run'):
        choose(ALL, cpu(AMX), exact=True, support=exported_only)
