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

"""Inference backends against torch fp32 on the tiny model: accuracy, caching, errors.

Tolerances: fp32 backends <= 1e-4 absolute on relative outputs (2e-4 on metric metres, range
up to 20); bf16 on this tiny random-weight model p99 relative <= 5% and median <= 1% (the
ViT-S bound of 3% p99 is checked in test_export.py on the full-size model).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import sys

import pytest
import torch

from depth_anything_ros.backends import (available_backends, BackendUnavailableError,
                                         make_runner, Runner)
from depth_anything_ros.backends import common
from depth_anything_ros.backends.onnx_export import cached_onnx, export_onnx, probe_input
from depth_anything_ros.backends.onnxruntime_runner import choose_providers
from depth_anything_ros.backends.tensorrt_runner import (check_profile, engine_cache_key,
                                                         in_profile)
from depth_anything_ros.model import ModelConfig, untrained_model

HAS_OV = importlib.util.find_spec('openvino') is not None
HAS_ORT = importlib.util.find_spec('onnxruntime') is not None
HAS_TRT = importlib.util.find_spec('tensorrt') is not None
needs_ov = pytest.mark.skipif(not HAS_OV, reason='openvino is not installed')
needs_ort = pytest.mark.skipif(not HAS_ORT, reason='onnxruntime is not installed')
SIZES = [(140, 182), (518, 518), (266, 350)]  # incl. the 518x518 no-interpolation path


pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def tiny_metric() -> torch.nn.Module:
    return untrained_model(ModelConfig.tiny(), 'metric', 20.0, warn=False)


@pytest.fixture(scope='module')
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp('engines')


@pytest.fixture(scope='module')
def tiny_onnx(tiny: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tiny, tmp_path_factory.mktemp('onnx') / 'tiny.onnx', dynamic=True)


@torch.inference_mode()
def reference(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


def rel_stats(y: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(median, p99) of |y - ref| / |ref| over all pixels."""
    r = ((y - ref).abs() / ref.abs().clamp_min(1e-6)).flatten()
    return float(r.median()), float(r.quantile(0.99))


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize('backend', [
    pytest.param('onnxruntime', marks=needs_ort), pytest.param('openvino', marks=needs_ov),
    'torch'])
def test_fp32_backend_matches_torch_from_module(backend: str, tiny: torch.nn.Module,
                                                cache: Path) -> None:
    runner = make_runner(backend, tiny, precision='fp32', cache_dir=cache)
    assert isinstance(runner, Runner)
    assert (runner.backend, runner.precision, runner.is_metric) == (backend, 'fp32', False)
    for h, w in SIZES:
        x = probe_input(h, w, batch=2)
        y = runner(x)
        ref = reference(tiny, x)
        assert y.shape == (2, h, w) and y.dtype == torch.float32
        assert float((y - ref).abs().max()) <= 1e-4, (backend, h, w)


@pytest.mark.parametrize('backend', [
    pytest.param('onnxruntime', marks=needs_ort), pytest.param('openvino', marks=needs_ov)])
def test_fp32_backend_matches_torch_from_dynamic_onnx_file(backend: str, tiny: torch.nn.Module,
                                                           tiny_onnx: Path) -> None:
    runner = make_runner(backend, tiny_onnx, precision='fp32')
    assert runner.encoder == 'tiny' and not runner.is_metric
    for h, w in SIZES:
        x = probe_input(h, w)
        assert float((runner(x) - reference(tiny, x)).abs().max()) <= 1e-4, (backend, h, w)


@pytest.mark.parametrize('backend', [
    pytest.param('onnxruntime', marks=needs_ort), pytest.param('openvino', marks=needs_ov)])
def test_metric_model_keeps_metres_and_metadata(backend: str, tiny_metric: torch.nn.Module,
                                                cache: Path) -> None:
    runner = make_runner(backend, tiny_metric, cache_dir=cache)
    assert runner.is_metric and runner.max_depth == pytest.approx(20.0)
    x = probe_input(140, 182)
    y, ref = runner(x), reference(tiny_metric, x)
    assert 0.0 < float(ref.min()) and float(ref.max()) < 20.0
    assert float((y - ref).abs().max()) <= 2e-4


@needs_ov
def test_openvino_bf16_within_documented_bound(tiny: torch.nn.Module, cache: Path) -> None:
    runner = make_runner('openvino', tiny, precision='bf16', cache_dir=cache)
    if runner.config['INFERENCE_PRECISION_HINT'] != 'bf16':
        pytest.fail('bf16 must be requested explicitly')
    x = probe_input(266, 350)
    y, ref = runner(x), reference(tiny, x)
    median, p99 = rel_stats(y, ref)
    assert p99 <= 0.05 and median <= 0.01
    # bf16 really ran: an f32 compile would be ~1e-6 away.
    assert float((y - ref).abs().max()) > 1e-4


@needs_ov
def test_openvino_fp32_is_requested_explicitly(tiny: torch.nn.Module, cache: Path) -> None:
    runner = make_runner('openvino', tiny, precision='fp32', cache_dir=cache, num_threads=1)
    # The CPU plugin defaults to bf16 on AMX machines: f32 must be in the compile config.
    assert runner.config['INFERENCE_PRECISION_HINT'] == 'f32'
    assert runner.config['INFERENCE_NUM_THREADS'] == 1


@pytest.mark.skipif(not HAS_OV, reason='openvino is not installed')
def test_openvino_default_threads_follow_torch(tiny: torch.nn.Module, cache: Path) -> None:
    torch.set_num_threads(2)
    try:
        runner = make_runner('openvino', tiny, cache_dir=cache)
    finally:
        torch.set_num_threads(1)
    assert runner.config['INFERENCE_NUM_THREADS'] == 2


# ----------------------------------------------------------------------------- caching
@needs_ov
def test_openvino_compiles_once_per_shape_and_reuses_disk_exports(
        tiny: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.backends import onnx_export, openvino_runner
    runner = make_runner('openvino', tiny, cache_dir=tmp_path)
    compiles = []
    original = openvino_runner.OpenVINORunner._compile

    def spy(self: openvino_runner.OpenVINORunner, ov_model: object) -> object:
        compiles.append(str(ov_model.inputs[0].get_partial_shape()))
        return original(self, ov_model)

    monkeypatch.setattr(openvino_runner.OpenVINORunner, '_compile', spy)
    a, b = probe_input(140, 182), probe_input(266, 350)
    first = runner(a)
    runner(b)
    again = runner(a)
    assert compiles == ['[1,3,140,182]', '[1,3,266,350]']  # static shapes, once each
    assert torch.equal(first, again)
    exports = sorted(p.name for p in tmp_path.rglob('*.onnx'))
    assert len(exports) == 2 and all(p.startswith(('1x140x182', '1x266x350')) for p in exports)

    # A new runner on the same weights finds the exports on disk: no export at all.
    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError('export_onnx called despite a cached file')

    monkeypatch.setattr(onnx_export, 'export_onnx', no_export)
    fresh = make_runner('openvino', tiny, cache_dir=tmp_path)
    assert torch.equal(fresh(a), first)


def test_cache_key_depends_on_weights(tiny: torch.nn.Module, tmp_path: Path) -> None:
    other = untrained_model(ModelConfig.tiny(), warn=False)
    assert common.weights_fingerprint(other) == common.weights_fingerprint(tiny)
    with torch.no_grad():
        other.depth_head.scratch.output_conv2[0].bias.add_(1.0)
    assert common.weights_fingerprint(other) != common.weights_fingerprint(tiny)
    p1 = cached_onnx(tiny, tmp_path, shape=(1, 140, 182))
    p2 = cached_onnx(other, tmp_path, shape=(1, 140, 182))
    assert p1 != p2 and p1.is_file() and p2.is_file()
    assert cached_onnx(tiny, tmp_path, shape=(1, 140, 182)) == p1


@needs_ov
def test_openvino_dynamic_file_static_or_dynamic_compile(tiny: torch.nn.Module,
                                                         tiny_onnx: Path) -> None:
    per_shape = make_runner('openvino', tiny_onnx, max_shapes=2)
    one_graph = make_runner('openvino', tiny_onnx, static_shapes=False)
    for h, w in SIZES:
        x = probe_input(h, w)
        ref = reference(tiny, x)
        assert float((per_shape(x) - ref).abs().max()) <= 1e-4
        assert float((one_graph(x) - ref).abs().max()) <= 1e-4
    # One reshaped, compiled model per shape, the oldest dropped beyond max_shapes ...
    assert list(per_shape._compiled) == [(1, 3, *SIZES[1]), (1, 3, *SIZES[2])]
    # ... or a single dynamic-shape model.
    assert not one_graph._compiled and one_graph._dynamic_request is not None


@needs_ov
def test_openvino_static_file_serves_only_its_shape(tiny: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(tiny, tmp_path / 'static.onnx', height=140, width=182)
    runner = make_runner('openvino', path)
    x = probe_input(140, 182)
    assert float((runner(x) - reference(tiny, x)).abs().max()) <= 1e-4
    with pytest.raises(ValueError, match='--dynamic'):
        runner(probe_input(266, 350))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize('module,backend,hint', [
    ('openvino', 'openvino', 'pip install openvino'),
    ('onnxruntime', 'onnxruntime', 'pip install onnxruntime'),
    ('tensorrt', 'tensorrt', 'pip install tensorrt'),
])
def test_missing_runtime_names_the_package(module: str, backend: str, hint: str,
                                           tiny: torch.nn.Module,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" fail
    with pytest.raises(BackendUnavailableError, match=hint):
        make_runner(backend, tiny)
    assert backend not in available_backends()


@pytest.mark.skipif(HAS_TRT and torch.cuda.is_available(), reason='TensorRT usable here')
def test_tensorrt_without_gpu_or_package_is_a_clear_error(tiny: torch.nn.Module) -> None:
    with pytest.raises(BackendUnavailableError, match='tensorrt|CUDA'):
        make_runner('tensorrt', tiny, device='cpu', precision='fp16')


def test_bad_arguments_are_named(tiny: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='unknown backend'):
        make_runner('tflite', tiny)
    with pytest.raises(ValueError, match='unknown precision'):
        make_runner('torch', tiny, precision='int4')
    with pytest.raises(FileNotFoundError, match='depth-anything-ros export'):
        make_runner('openvino', tmp_path / 'missing.onnx')
    (tmp_path / 'w.pth').write_bytes(b'')
    with pytest.raises(ValueError, match='.onnx'):
        make_runner('onnxruntime', tmp_path / 'w.pth')
    runner = make_runner('torch', tiny)
    with pytest.raises(ValueError, match='multiples of 14'):
        runner(torch.zeros(1, 3, 100, 140))
    with pytest.raises(ValueError, match=r'\[B, 3, H, W\]'):
        runner(torch.zeros(3, 140, 140))


@needs_ort
def test_missing_sidecar_is_explained(tiny_onnx: Path, tmp_path: Path) -> None:
    lone = tmp_path / 'lone.onnx'
    lone.write_bytes(tiny_onnx.read_bytes())
    with pytest.raises(FileNotFoundError, match='sidecar'):
        make_runner('onnxruntime', lone)


def test_provider_choice_by_device_and_precision() -> None:
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    gpu_eps = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert choose_providers(cpu, 'fp32', gpu_eps) == ['CPUExecutionProvider']
    assert choose_providers(cuda, 'fp32', gpu_eps) == gpu_eps[1:]
    assert choose_providers(cuda, 'fp16', gpu_eps) == gpu_eps
    with pytest.raises(ValueError, match='openvino'):
        choose_providers(cpu, 'bf16', gpu_eps)
    with pytest.raises(BackendUnavailableError, match='onnxruntime-gpu'):
        choose_providers(cuda, 'fp32', ['CPUExecutionProvider'])
    with pytest.raises(ValueError, match='TensorrtExecutionProvider'):
        choose_providers(cuda, 'fp16', gpu_eps[1:])


def test_tensorrt_profile_and_cache_key() -> None:
    check_profile((1, 70, 70), (1, 518, 686), (1, 1036, 1372))
    with pytest.raises(ValueError, match='multiples of 14'):
        check_profile((1, 70, 70), (1, 518, 680), (1, 1036, 1372))
    with pytest.raises(ValueError, match='min <= opt <= max'):
        check_profile((1, 518, 686), (1, 70, 70), (1, 1036, 1372))
    assert in_profile((1, 518, 686), (1, 70, 70), (1, 1036, 1372))
    assert not in_profile((1, 518, 1722), (1, 70, 70), (1, 1036, 1372))
    profile = ((1, 70, 70), (1, 518, 686), (1, 1036, 1372))
    base = engine_cache_key('abc', 'fp16', 'Orin (sm_87)', '10.3.0', profile)
    assert base == engine_cache_key('abc', 'fp16', 'Orin (sm_87)', '10.3.0', profile)
    changed = [engine_cache_key('abd', 'fp16', 'Orin (sm_87)', '10.3.0', profile),
               engine_cache_key('abc', 'fp32', 'Orin (sm_87)', '10.3.0', profile),
               engine_cache_key('abc', 'fp16', 'RTX 4090 (sm_89)', '10.3.0', profile),
               engine_cache_key('abc', 'fp16', 'Orin (sm_87)', '8.6.2', profile),
               engine_cache_key('abc', 'fp16', 'Orin (sm_87)', '10.3.0',
                                (profile[0], profile[1], (1, 1036, 1848)))]
    assert len({base, *changed}) == 6


# ----------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TRT, reason='tensorrt is not installed')
def test_tensorrt_fp16_matches_torch(tiny: torch.nn.Module, tmp_path: Path) -> None:
    runner = make_runner('tensorrt', tiny, device='cuda', precision='fp16', cache_dir=tmp_path,
                         max_shape=(2, 518, 518))
    for h, w in SIZES:
        x = probe_input(h, w).cuda()
        y = runner(x)
        assert y.is_cuda and y.shape == (1, h, w)
        _, p99 = rel_stats(y.cpu(), reference(tiny, x.cpu()))
        assert p99 <= 0.05
    assert list((tmp_path / 'tensorrt').glob('*.engine'))  # cached for the next start


@pytest.mark.gpu
@needs_ort
def test_onnxruntime_cuda_matches_torch(tiny: torch.nn.Module, tiny_onnx: Path) -> None:
    import onnxruntime
    if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
        pytest.skip('onnxruntime has no CUDA provider (pip install onnxruntime-gpu)')
    runner = make_runner('onnxruntime', tiny_onnx, device='cuda')
    x = probe_input(266, 350).cuda()
    assert float((runner(x).cpu() - reference(tiny, x.cpu())).abs().max()) <= 1e-3
