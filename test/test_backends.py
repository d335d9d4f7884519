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
import types
from typing import Any

import numpy as np
import pytest
import torch

from depth_anything_ros.backends import (
    available_backends,
    BackendUnavailableError,
    common,
    make_runner,
    onnxruntime_runner,
    Runner,
    tensorrt_runner,
)
from depth_anything_ros.backends.onnx_export import cached_onnx, export_onnx, probe_input
from depth_anything_ros.backends.onnxruntime_runner import (
    choose_providers,
    ort_engine_cache_dir,
    provider_options,
)
from depth_anything_ros.backends.tensorrt_runner import check_profile, engine_cache_key, in_profile
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
    pytest.param('onnxruntime', marks=needs_ort), pytest.param('openvino', marks=needs_ov)])
@pytest.mark.slow
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
@pytest.mark.slow
def test_openvino_compiles_once_per_shape_and_reuses_disk_exports(
        tiny: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.backends import onnx_export, openvino_runner
    runner = make_runner('openvino', tiny, cache_dir=tmp_path)
    compiles = []
    original = openvino_runner.OpenVINORunner._compile

    def spy(self: openvino_runner.OpenVINORunner, ov_model: object) -> object:
        # A cached export is compiled from its path, named after its shape.
        assert isinstance(ov_model, str)
        compiles.append(Path(ov_model).name.split('-')[0])
        return original(self, ov_model)

    monkeypatch.setattr(openvino_runner.OpenVINORunner, '_compile', spy)
    a, b = probe_input(140, 182), probe_input(266, 350)
    first = runner(a)
    runner(b)
    again = runner(a)
    assert compiles == ['1x140x182', '1x266x350']  # static shapes, once each
    assert torch.equal(first, again)
    exports = sorted(p.name for p in tmp_path.rglob('*.onnx'))
    assert len(exports) == 2 and all(p.startswith(('1x140x182', '1x266x350')) for p in exports)

    # A new runner on the same weights finds the exports on disk: no export at all.
    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError('export_onnx called despite a cached file')

    monkeypatch.setattr(onnx_export, 'export_onnx', no_export)
    fresh = make_runner('openvino', tiny, cache_dir=tmp_path)
    assert torch.equal(fresh(a), first)


@needs_ov
@pytest.mark.slow
def test_a_second_start_from_a_checkpoint_file_exports_and_hashes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warm start: the export, the file hash and OpenVINO's compiled blob all come from disk."""
    from depth_anything_ros.backends import onnx_export
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import export_model, load_model
    checkpoint = export_model(untrained_model(ModelConfig.tiny(), warn=False),
                              tmp_path / 'tiny.pth')
    cache = tmp_path / 'engines'
    exports: list[object] = []
    hashes: list[object] = []
    export, digest = onnx_export.export_onnx, common.file_digest
    monkeypatch.setattr(onnx_export, 'export_onnx',
                        lambda *a, **k: exports.append(a) or export(*a, **k))
    monkeypatch.setattr(common, 'file_digest', lambda p: hashes.append(p) or digest(p))

    def start() -> np.ndarray:
        est = DepthEstimator(load_model(checkpoint), device='cpu', backend='openvino',
                             precision='fp32', input_size=70, cache_dir=cache)
        est.warmup(48, 64)
        return est.infer(np.full((48, 64, 3), 90, np.uint8))

    first = start()
    assert (len(exports), len(hashes)) == (1, 1)
    blobs = sorted((cache / 'openvino').glob('*.blob'))
    assert len(blobs) == 1
    second = start()
    assert (len(exports), len(hashes)) == (1, 1)  # nothing exported or hashed again
    assert sorted((cache / 'openvino').glob('*.blob')) == blobs  # compiled blob reused
    np.testing.assert_array_equal(first, second)
    # New weights in the same file (new mtime/size): hashed and exported again.
    other = untrained_model(ModelConfig.tiny(), warn=False)
    with torch.no_grad():
        other.depth_head.scratch.output_conv2[0].bias.add_(1.0)
    export_model(other, checkpoint)
    start()
    assert (len(exports), len(hashes)) == (2, 2)


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


def test_an_engine_exported_by_an_earlier_graph_version_is_not_reused(
        tiny: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = cached_onnx(tiny, tmp_path, shape=(1, 140, 182))
    monkeypatch.setattr(common, 'GRAPH_VERSION', common.GRAPH_VERSION + 1)
    after = cached_onnx(tiny, tmp_path, shape=(1, 140, 182))
    assert after != before and after.is_file()


@needs_ov
@pytest.mark.slow
def test_openvino_dynamic_file_static_or_dynamic_compile(tiny: torch.nn.Module,
                                                         tiny_onnx: Path) -> None:
    per_shape = make_runner('openvino', tiny_onnx, engine_cache_size=2)
    one_graph = make_runner('openvino', tiny_onnx, static_shapes=False)
    for h, w in SIZES:
        x = probe_input(h, w)
        ref = reference(tiny, x)
        assert float((per_shape(x) - ref).abs().max()) <= 1e-4
        assert float((one_graph(x) - ref).abs().max()) <= 1e-4
    # One reshaped, compiled model per shape, the least recently used dropped beyond
    # engine_cache_size ...
    assert per_shape.shapes == [(1, 3, *SIZES[1]), (1, 3, *SIZES[2])]
    per_shape(probe_input(*SIZES[1]))   # used again: now the most recent
    per_shape(probe_input(*SIZES[0]))   # a new shape drops SIZES[2], not the older SIZES[1]
    assert per_shape.shapes == [(1, 3, *SIZES[1]), (1, 3, *SIZES[0])]
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
        make_runner('openvino', tiny, precision='int4')
    with pytest.raises(ValueError, match='backend "torch" has no runner'):
        make_runner('torch', tiny)
    with pytest.raises(FileNotFoundError, match='depth-anything-ros export'):
        make_runner('openvino', tmp_path / 'missing.onnx')
    (tmp_path / 'w.pth').write_bytes(b'')
    with pytest.raises(ValueError, match='.onnx'):
        make_runner('onnxruntime', tmp_path / 'w.pth')
    with pytest.raises(ValueError, match='multiples of 14'):
        Runner.check_input(torch.zeros(1, 3, 100, 140))
    with pytest.raises(ValueError, match=r'\[B, 3, H, W\]'):
        Runner.check_input(torch.zeros(3, 140, 140))


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


def test_onnxruntime_provider_options() -> None:
    trt_ep = provider_options('TensorrtExecutionProvider', device_id=1, precision='fp16',
                              engine_cache=Path('/c/ort_tensorrt/ab'))
    assert trt_ep == {'device_id': 1, 'trt_fp16_enable': True, 'trt_engine_cache_enable': True,
                      'trt_engine_cache_path': '/c/ort_tensorrt/ab',
                      'trt_timing_cache_enable': True,
                      'trt_timing_cache_path': '/c/ort_tensorrt/ab'}
    assert provider_options('TensorrtExecutionProvider', device_id=0, precision='fp32',
                            engine_cache=Path('/c'))['trt_fp16_enable'] is False
    assert provider_options('CUDAExecutionProvider', device_id=1, precision='fp32',
                            engine_cache=Path('/c')) == {'device_id': 1}
    assert provider_options('CPUExecutionProvider', device_id=0, precision='fp32',
                            engine_cache=Path('/c')) == {}


def test_onnxruntime_engine_cache_follows_file_content(tmp_path: Path) -> None:
    model = tmp_path / 'model.onnx'
    model.write_bytes(b'graph one')
    cache = tmp_path / 'not' / 'yet' / 'there'
    first = ort_engine_cache_dir(cache, model)
    assert first.is_dir() and first.parent == cache / 'ort_tensorrt'  # parents created too
    assert ort_engine_cache_dir(cache, model) == first
    model.write_bytes(b'graph two, same file name')  # re-exported with other weights
    assert ort_engine_cache_dir(cache, model) != first


@needs_ort
def test_onnxruntime_gpu_session_options(tiny_onnx: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The session for cuda:1 fp16 gets TensorRT + CUDA EPs on GPU 1 and a fresh cache dir."""
    import onnxruntime
    seen: dict[str, Any] = {}

    class Session:
        def __init__(self, path: str, opts: Any, providers: list[Any]) -> None:
            seen['providers'] = providers

        def get_providers(self) -> list[str]:
            return [p[0] if isinstance(p, tuple) else p for p in seen['providers']]

    eps = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: eps)
    monkeypatch.setattr(onnxruntime, 'InferenceSession', Session)
    onnxruntime_runner.OnnxRuntimeRunner(tiny_onnx, device=torch.device('cuda', 1),
                                         precision='fp16', cache_dir=tmp_path / 'cache')
    (trt_name, trt_opts), (cuda_name, cuda_opts), cpu = seen['providers']
    assert (trt_name, cuda_name, cpu) == tuple(eps)
    assert trt_opts['device_id'] == cuda_opts['device_id'] == 1
    assert trt_opts['trt_fp16_enable'] is True
    assert Path(trt_opts['trt_engine_cache_path']).is_dir()


# ----------------------------------------------------------------------------- TensorRT versions
class FakeEnum:
    """A pybind11 enum value as tensorrt has them: ``int()`` and ``.name``."""

    def __init__(self, name: str, value: int = 0) -> None:
        self.name, self.value = name, value

    def __int__(self) -> int:
        return self.value


class Recorder:
    """Records every method call as (name, args) in ``calls``; returns ``results[name]``."""

    def __init__(self, methods: list[str], results: dict[str, Any] | None = None,
                 **attrs: Any) -> None:
        self.calls: list[tuple[str, tuple]] = []
        results = results or {}
        for name in methods:
            setattr(self, name, self._method(name, results.get(name, True)))
        for key, value in attrs.items():
            setattr(self, key, value)

    def _method(self, name: str, result: Any) -> Any:
        def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return result
        return call


V3_CONTEXT = ['set_input_shape', 'get_tensor_shape', 'set_tensor_address', 'execute_async_v3']


def test_tensorrt_io_uses_tensor_names() -> None:
    engine = Recorder([], num_io_tensors=2)
    engine.get_tensor_name = ['image', 'depth'].__getitem__
    engine.get_tensor_dtype = {'image': FakeEnum('FLOAT'), 'depth': FakeEnum('HALF')}.__getitem__
    context = Recorder(V3_CONTEXT, {'get_tensor_shape': (2, 518, 686)})
    assert tensorrt_runner.io_tensor_names(engine) == ['image', 'depth']
    assert tensorrt_runner.io_dtype(engine, 'image') == torch.float32
    assert tensorrt_runner.io_dtype(engine, 'depth') == torch.float16
    assert tensorrt_runner.set_input_shape(engine, context, (2, 3, 518, 686)) == (2, 518, 686)
    tensorrt_runner.enqueue(engine, context, 1000, 2000, 77)
    assert context.calls == [
        ('set_input_shape', ('image', (2, 3, 518, 686))), ('get_tensor_shape', ('depth',)),
        ('set_tensor_address', ('image', 1000)), ('set_tensor_address', ('depth', 2000)),
        ('execute_async_v3', (77,))]


def test_tensorrt_io_failures_are_errors() -> None:
    engine = Recorder([], num_io_tensors=2)
    refused = Recorder(V3_CONTEXT, {'set_input_shape': False, 'get_tensor_shape': (1, 1, 1)})
    with pytest.raises(ValueError, match='refused input shape'):
        tensorrt_runner.set_input_shape(engine, refused, (1, 3, 14, 14))
    with pytest.raises(RuntimeError, match='execution failed'):
        tensorrt_runner.enqueue(engine, Recorder(V3_CONTEXT, {'execute_async_v3': False}),
                                1, 2, 0)
    with pytest.raises(ValueError, match='INT8'):
        tensorrt_runner.torch_dtype(FakeEnum('INT8'))


def fake_tensorrt(version: str, *, bf16: bool, parse_ok: bool = True,
                  built: bytes | None = b'plan') -> types.ModuleType:
    """Return a stand-in ``tensorrt`` module that records what build_engine asks of it."""
    trt = types.ModuleType('tensorrt')
    trt.__version__ = version
    log: dict[str, Any] = {'flags': [], 'shapes': [], 'parsers': 0}
    trt.log = log

    class Logger:
        WARNING = 'warning'

        def __init__(self, level: str) -> None:
            log['loggers'] = log.get('loggers', 0) + 1

    class Config:
        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            log['workspace'] = (pool, size)

        def set_flag(self, flag: FakeEnum) -> None:
            log['flags'].append(flag.name)

        def add_optimization_profile(self, profile: Any) -> None:
            log['profiles'] = log.get('profiles', 0) + 1

    class Profile:
        def set_shape(self, name: str, *shapes: tuple) -> None:
            log['shapes'].append((name, *shapes))

    class Builder:
        def __init__(self, logger: Logger) -> None:
            pass

        if int(version.split('.')[0]) < 10:
            max_batch_size = 1  # implicit-batch networks still exist: explicit needs the flag

        def create_network(self, flags: int) -> str:
            log['network_flags'] = flags
            return 'network'

        create_builder_config = staticmethod(Config)
        create_optimization_profile = staticmethod(Profile)

        def build_serialized_network(self, network: str, config: Config) -> bytes | None:
            return built

    class OnnxParser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network: str, logger: Logger) -> None:
            log['parsers'] += 1

        def parse_from_file(self, path: str) -> bool:
            return parse_ok

        def get_error(self, i: int) -> str:
            return 'node 7: unsupported op Foo'

    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, OnnxParser
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(
        EXPLICIT_BATCH=FakeEnum('EXPLICIT_BATCH', 0))
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE='workspace')
    flags = {'FP16': FakeEnum('FP16')}
    if bf16:
        flags['BF16'] = FakeEnum('BF16')
    trt.BuilderFlag = types.SimpleNamespace(**flags)
    return trt


PROFILE = ((1, 70, 70), (1, 518, 686), (2, 1036, 1372))


@pytest.mark.parametrize('version, explicit_batch', [('8.6.2.3', 1), ('10.3.0', 0)])
def test_tensorrt_build_engine_by_version(version: str, explicit_batch: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    trt = fake_tensorrt(version, bf16=version.startswith('10'))
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    monkeypatch.setattr(tensorrt_runner, '_logger', None)
    plan = tensorrt_runner.build_engine(Path('m.onnx'), precision='fp16', profile=PROFILE,
                                        workspace_bytes=1 << 20)
    assert plan == b'plan'
    assert trt.log['network_flags'] == explicit_batch  # 10 has explicit batch only
    assert trt.log['flags'] == ['FP16'] and trt.log['workspace'] == ('workspace', 1 << 20)
    assert trt.log['shapes'] == [('image', (1, 3, 70, 70), (1, 3, 518, 686),
                                  (2, 3, 1036, 1372))]
    assert trt.log['profiles'] == 1
    tensorrt_runner.build_engine(Path('m.onnx'), precision='fp32', profile=PROFILE)
    assert trt.log['flags'] == ['FP16'] and trt.log['loggers'] == 1  # one shared logger


def test_tensorrt_build_engine_bf16_and_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorrt_runner, '_logger', None)
    old = fake_tensorrt('8.6.2.3', bf16=False)
    monkeypatch.setitem(sys.modules, 'tensorrt', old)
    with pytest.raises(ValueError, match='no bf16 builder flag'):
        tensorrt_runner.build_engine(Path('m.onnx'), precision='bf16', profile=PROFILE)
    assert old.log['parsers'] == 0  # refused before the (slow) parse

    new = fake_tensorrt('10.3.0', bf16=True)
    monkeypatch.setitem(sys.modules, 'tensorrt', new)
    tensorrt_runner.build_engine(Path('m.onnx'), precision='bf16', profile=PROFILE)
    assert new.log['flags'] == ['BF16']

    monkeypatch.setitem(sys.modules, 'tensorrt', fake_tensorrt('10.3.0', bf16=True,
                                                               parse_ok=False))
    with pytest.raises(RuntimeError, match='unsupported op Foo'):
        tensorrt_runner.build_engine(Path('m.onnx'), precision='fp16', profile=PROFILE)
    monkeypatch.setitem(sys.modules, 'tensorrt', fake_tensorrt('10.3.0', bf16=True,
                                                               built=None))
    with pytest.raises(RuntimeError, match='failed to build'):
        tensorrt_runner.build_engine(Path('m.onnx'), precision='fp16', profile=PROFILE)


def test_tensorrt_network_flags_without_explicit_batch_enum() -> None:
    trt = fake_tensorrt('11.0.0', bf16=True)
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace()  # removed in a later release
    assert tensorrt_runner.network_flags(trt) == 0


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
    assert runner.providers[0] == 'CUDAExecutionProvider'  # refused otherwise
    x = probe_input(266, 350).cuda()
    # The CUDA provider computes fp32 convolutions and matmuls in TF32 on Ampere and newer
    # (its default), so the bound is TF32's, not fp32's.
    median, p99 = rel_stats(runner(x).cpu(), reference(tiny, x.cpu()))
    assert median <= 2e-3 and p99 <= 2e-2


def test_cuda_index_plain_cuda_means_the_current_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.backends.common import cuda_index
    assert cuda_index(torch.device('cuda', 2)) == 2
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 3)
    assert cuda_index(torch.device('cuda')) == 3
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert cuda_index(torch.device('cuda')) == 0
