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


"""backend/precision auto: the pure choice for any machine, and its use by the estimator."""

from __future__ import annotations

import pytest

from depth_anything_ros.backends.select import (Choice, choose, cpu_flags, detect_hardware,
                                                Hardware)

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
    from depth_anything_ros.backends.engine_cache import (remember_camera_size,
                                                          remembered_camera_size)
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
    from depth_anything_ros.model import ModelConfig, untrained_model
    from depth_anything_ros.model import export_model
    path = export_model(untrained_model(ModelConfig.tiny(), warn=False), tmp_path / 'tiny.pth')
    est = DepthEstimator(path, device='cpu', backend='auto', precision='auto', input_size=70,
                         cache_dir=tmp_path / 'engines')
    assert est.config is not None and est.config.encoder == 'tiny'
    assert est.infer(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64)
