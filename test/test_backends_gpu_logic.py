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

"""The GPU paths' logic, without a GPU: TensorRT 10 / 11, onnxruntime providers, the profile.

Where only a GPU can answer, a **stand-in** does: ``standin_tensorrt('10')`` and
``standin_tensorrt('11')`` are fake ``tensorrt`` modules with the Python API surface of those
releases as NVIDIA documents it (the 11 one has no ``BuilderFlag.FP16`` / ``BF16``, builds
strongly typed networks, and creates execution contexts from a runtime config); they record
what the runner asks of them and compute nothing. ``StandInCuda`` stands in for the CUDA calls
torch would make (device count, names, the current device). A real GPU runs the ``gpu``-marked
tests and ``tools/gpu_smoke.sh`` instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path
import sys
import types
from typing import Any

import pytest
import torch

from depth_anything_ros.backends import (
    BackendUnavailableError,
    make_runner,
    onnxruntime_runner,
    tensorrt_runner,
)
from depth_anything_ros.backends.onnx_export import export_onnx
from depth_anything_ros.vocabulary import parse_hw, trt_profile

HAS_ORT = importlib.util.find_spec('onnxruntime') is not None
pytestmark = pytest.mark.usefixtures('one_torch_thread')


# ----------------------------------------------------------------------------- stand-ins
class Enum:
    """A pybind11 enum value as tensorrt has them: ``int()`` and ``.name``."""

    def __init__(self, name: str, value: int = 0) -> None:
        self.name, self.value = name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f'Enum({self.name})'


def standin_tensorrt(surface: str, *, normalization: bool = True) -> types.ModuleType:
    """Return a STAND-IN ``tensorrt`` module with the TensorRT ``surface`` ('10' or '11') API.

    10: weakly typed builder (``BuilderFlag.FP16`` / ``BF16`` / ``TF32``), networks created with
    flag 0 (explicit batch is the only mode), ``create_execution_context(strategy)``,
    ``engine.device_memory_size`` and ``device_memory_size_v2``.
    11: no precision builder flags (strongly typed only; ``STRONGLY_TYPED`` accepted), contexts
    from ``engine.create_runtime_config()``, ``device_memory_size_v2`` only.
    ``trt.calls`` records every request; ``trt.current_device`` is read from StandInCuda.
    """
    trt = types.ModuleType('tensorrt')
    trt.__version__ = {'10': '10.13.3.9', '11': '11.4.0.1'}[surface]
    calls: dict[str, Any] = {'flags': [], 'shapes': [], 'network_flags': [], 'build_device': [],
                             'strategy': [], 'device_memory': [], 'timing_cache_seed': [],
                             'executed': []}
    trt.calls = calls

    class Logger:
        WARNING = 'warning'

        def __init__(self, level: str) -> None:
            calls['loggers'] = calls.get('loggers', 0) + 1

    class TimingCache:
        def __init__(self, seed: bytes) -> None:
            self.data = seed

        def serialize(self) -> bytes:
            return self.data + b'+timings'

    class Config:
        def __init__(self) -> None:
            self.cache = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls['workspace'] = (pool, size)

        def set_flag(self, flag: Enum) -> None:
            calls['flags'].append(flag.name)

        def add_optimization_profile(self, profile: Any) -> None:
            calls['profiles'] = calls.get('profiles', 0) + 1

        def create_timing_cache(self, seed: bytes) -> TimingCache:
            calls['timing_cache_seed'].append(seed)
            return TimingCache(seed)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.cache

    class Profile:
        def set_shape(self, name: str, *shapes: tuple) -> None:
            calls['shapes'].append((name, *shapes))

    class Builder:
        def __init__(self, logger: Logger) -> None:
            pass

        def create_network(self, flags: int = 0) -> str:
            calls['network_flags'].append(flags)
            return 'network'

        create_builder_config = staticmethod(Config)
        create_optimization_profile = staticmethod(Profile)

        def build_serialized_network(self, network: str, config: Config) -> bytes:
            calls['build_device'].append(StandInCuda.current)
            return b'plan'

    class OnnxParser:
        num_errors = 0

        def __init__(self, network: str, logger: Logger) -> None:
            pass

        def parse_from_file(self, path: str) -> bool:
            calls['parsed'] = path
            return True

    class IExecutionContext:
        def __init__(self) -> None:
            self.shape: tuple = ()
            self.addresses: dict[str, int] = {}

        def execute_async_v3(self, stream: int) -> bool:
            calls['executed'].append(dict(self.addresses))
            return True

        def set_input_shape(self, name: str, shape: tuple) -> bool:
            self.shape = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple:
            # an image (B, [S,] 3, H, W) -> each output (B, [S,] H, W); focal lengths (B, S)
            return self.shape[:-3] if name in ('fx', 'fy') else \
                self.shape[:-3] + self.shape[-2:]

        def set_tensor_address(self, name: str, ptr: int) -> None:
            self.addresses[name] = ptr

        def update_device_memory_size_for_shapes(self) -> int:
            b, h, w = self.shape[0], self.shape[-2], self.shape[-1]
            return b * h * w  # grows with the shape, as the real one does

        def set_device_memory(self, ptr: int, size: int) -> None:
            calls['device_memory'].append(size)

    class RuntimeConfig:
        def set_execution_context_allocation_strategy(self, strategy: Enum) -> None:
            calls['strategy'].append(strategy.name)

    class Engine:
        #: the engine's I/O tensors: what the parsed ONNX file's sidecar names
        names = ['image', 'depth']
        device_memory_size_v2 = 64 << 20

        @property
        def num_io_tensors(self) -> int:
            return len(self.names)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_dtype(self, name: str) -> Enum:
            return Enum('FLOAT')

    if surface == '10':
        Engine.device_memory_size = 64 << 20

        def create_execution_context(self: Any, strategy: Enum | None = None
                                     ) -> IExecutionContext:
            calls['strategy'].append(getattr(strategy, 'name', 'STATIC'))
            return IExecutionContext()
    else:
        def create_runtime_config(self: Any) -> RuntimeConfig:
            return RuntimeConfig()

        def create_execution_context(self: Any, config: RuntimeConfig | None = None
                                     ) -> IExecutionContext:
            if config is not None and not isinstance(config, RuntimeConfig):
                raise TypeError('create_execution_context takes an IRuntimeConfig in 11')
            return IExecutionContext()
        Engine.create_runtime_config = create_runtime_config
    Engine.create_execution_context = create_execution_context

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine:
            calls['deserialize_device'] = StandInCuda.current
            return Engine()

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    trt.IExecutionContext = IExecutionContext
    if normalization:
        trt.INormalizationLayer = type('INormalizationLayer', (), {})
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE='workspace')
    trt.ExecutionContextAllocationStrategy = types.SimpleNamespace(
        STATIC=Enum('STATIC', 0), ON_PROFILE_CHANGE=Enum('ON_PROFILE_CHANGE', 1),
        USER_MANAGED=Enum('USER_MANAGED', 2))
    if surface == '10':
        trt.BuilderFlag = types.SimpleNamespace(FP16=Enum('FP16', 0), BF16=Enum('BF16', 1),
                                                TF32=Enum('TF32', 2))
        trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(
            EXPLICIT_BATCH=Enum('EXPLICIT_BATCH', 0), STRONGLY_TYPED=Enum('STRONGLY_TYPED', 1))
    else:
        trt.BuilderFlag = types.SimpleNamespace(TF32=Enum('TF32', 2))
        trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(
            STRONGLY_TYPED=Enum('STRONGLY_TYPED', 1))
    return trt


class StandInCuda:
    """STAND-IN for the CUDA calls the TensorRT runner makes through torch (no GPU here).

    Two GPUs, 0 current; ``torch.cuda.device(n)`` makes n current inside the block.
    """

    current = 0

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> None:
        cls.current = 0

        @contextlib.contextmanager
        def device(dev: torch.device | int) -> Any:
            index = dev.index if isinstance(dev, torch.device) else int(dev)
            before, cls.current = cls.current, index
            try:
                yield
            finally:
                cls.current = before

        def index_of(dev: Any = None) -> int:
            return cls.current if dev is None or getattr(dev, 'index', None) is None \
                else dev.index

        monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
        monkeypatch.setattr(torch.cuda, 'current_device', lambda: cls.current)
        monkeypatch.setattr(torch.cuda, 'device', device)
        monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda dev=None: (8, 6))
        monkeypatch.setattr(torch.cuda, 'get_device_name',
                            lambda dev=None: f'Stand-in GPU {index_of(dev)}')
        monkeypatch.setattr(torch.cuda, 'Stream', lambda dev=None: types.SimpleNamespace())


@pytest.fixture
def trt10(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    trt = standin_tensorrt('10')
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    monkeypatch.setattr(tensorrt_runner, '_logger', None)
    return trt


@pytest.fixture
def trt11(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    trt = standin_tensorrt('11')
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    monkeypatch.setattr(tensorrt_runner, '_logger', None)
    return trt


PROFILE = trt_profile(2, '518x686', '1036x1736')


# ----------------------------------------------------------------------------- the profile
def test_profile_from_parameters_and_defaults() -> None:
    assert parse_hw('518x686') == (518, 686) and parse_hw(' 70 X 98 ') == (70, 98)
    for bad in ('518x680', '518', 'ax686', '0x14'):
        with pytest.raises(ValueError, match='multiples of 14'):
            parse_hw(bad)
    assert PROFILE == ((1, 70, 70), (1, 518, 686), (2, 1036, 1736))
    with pytest.raises(ValueError, match='trt_opt_shape'):
        trt_profile(1, '518x1750', '1036x1736')
    with pytest.raises(ValueError, match='trt_max_batch'):
        trt_profile(0, '518x686', '1036x1736')
    lo, _, hi = tensorrt_runner.DEFAULT_PROFILE
    # The multi-camera worker's batch of two same-size cameras, and a 1242x375 camera at
    # input 518 (518x1722), both fit the default profile.
    assert tensorrt_runner.in_profile((2, 518, 686), lo, hi)
    assert tensorrt_runner.in_profile((1, 518, 1722), lo, hi)


def test_an_explicit_max_shape_below_the_default_opt_is_a_valid_profile() -> None:
    """What the gpu-marked TensorRT test asks for: max (2, 518, 518) pulls opt down to it."""
    profile = tensorrt_runner.resolve_profile(max_shape=(2, 518, 518))
    assert profile == ((1, 70, 70), (1, 518, 518), (2, 518, 518))
    assert tensorrt_runner.resolve_profile(opt_shape=(1, 518, 2044))[2] == (4, 1036, 2044)
    with pytest.raises(ValueError, match='min <= opt <= max'):
        tensorrt_runner.resolve_profile(opt_shape=(1, 700, 700), max_shape=(1, 518, 518))


def test_engine_device_rule() -> None:
    assert tensorrt_runner.engine_device(torch.device('cuda', 1), current=0) == \
        torch.device('cuda', 1)
    assert tensorrt_runner.engine_device(torch.device('cuda'), current=2) == \
        torch.device('cuda', 2)
    with pytest.raises(ValueError, match='CUDA'):
        tensorrt_runner.engine_device(torch.device('cpu'), current=0)


# ----------------------------------------------------------------------------- builder
def test_tensorrt_10_builds_with_precision_flags(trt10: types.ModuleType,
                                                 tmp_path: Path) -> None:
    timings = tmp_path / 'timing.cache'
    plan = tensorrt_runner.build_engine(Path('m.onnx'), precision='fp16', profile=PROFILE,
                                        workspace_bytes=1 << 20, timing_cache=timings)
    assert plan == b'plan'
    assert trt10.calls['flags'] == ['FP16'] and trt10.calls['network_flags'] == [0]
    assert trt10.calls['shapes'] == [('image', (1, 3, 70, 70), (1, 3, 518, 686),
                                      (2, 3, 1036, 1736))]
    assert timings.read_bytes() == b'+timings'  # saved for the next build
    tensorrt_runner.build_engine(Path('m.onnx'), precision='bf16', profile=PROFILE,
                                 timing_cache=timings)
    assert trt10.calls['flags'] == ['FP16', 'BF16']
    assert trt10.calls['timing_cache_seed'] == [b'', b'+timings']  # reused


@pytest.mark.parametrize('precision', ['fp16', 'bf16', 'fp32'])
def test_tensorrt_11_builds_strongly_typed_without_precision_flags(
        trt11: types.ModuleType, precision: str) -> None:
    """TensorRT 11 has no BuilderFlag.FP16 / BF16: touching them was an AttributeError."""
    assert tensorrt_runner.strongly_typed(trt11)
    tensorrt_runner.build_engine(Path('m.onnx'), precision=precision, profile=PROFILE)
    assert trt11.calls['flags'] == []
    assert trt11.calls['network_flags'] == [1 << 1]  # STRONGLY_TYPED


def test_a_tensorrt_without_layernorm_parsing_is_refused_with_the_reason() -> None:
    old = standin_tensorrt('10', normalization=False)
    with pytest.raises(BackendUnavailableError, match='INormalizationLayer.*8.6'):
        tensorrt_runner.check_supported(old)
    tensorrt_runner.check_supported(standin_tensorrt('11'))


def test_weakly_typed_tensorrt_without_bf16_names_the_fix(trt10: types.ModuleType) -> None:
    del trt10.BuilderFlag.BF16
    with pytest.raises(ValueError, match='no bf16 builder flag; use precision "fp16"'):
        tensorrt_runner.build_engine(Path('m.onnx'), precision='bf16', profile=PROFILE)


# ----------------------------------------------------------------------------- the runner
@pytest.mark.parametrize('surface', ['10', '11'])
def test_runner_builds_on_the_configured_gpu_and_caches_under_its_name(
        surface: str, tiny: torch.nn.Module, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    trt = standin_tensorrt(surface)
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    monkeypatch.setattr(tensorrt_runner, '_logger', None)
    StandInCuda.install(monkeypatch)
    runner = make_runner('tensorrt', tiny, device='cuda:1', precision='fp16',
                         cache_dir=tmp_path, profile=PROFILE)
    # built and deserialised with GPU 1 current (GPU 0 is the process's current device)
    assert trt.calls['build_device'] == [1] and trt.calls['deserialize_device'] == 1
    assert StandInCuda.current == 0
    engines = list((tmp_path / 'tensorrt').glob('*.engine'))
    assert len(engines) == 1
    side = json.loads(engines[0].with_name(engines[0].name + '.json').read_text())
    assert side['gpu'] == 'Stand-in GPU 1 (sm_86)' and side['precision'] == 'fp16'
    assert side['profile'] == [[1, 70, 70], [1, 518, 686], [2, 1036, 1736]]
    assert not engines[0].with_suffix('.json').exists()  # never the .onnx's sidecar name
    # TensorRT 11 takes fp16 from the graph: the engine was built from an fp16-typed export.
    graph = json.loads(Path(trt.calls['parsed']).with_suffix('.json').read_text())
    assert graph['dtype'] == ('fp16' if surface == '11' else 'fp32')
    assert runner.precision == 'fp16' and not runner.cache_hit
    report = runner.report()
    assert report['trt_profile'] == 'min 1x70x70, opt 1x518x686, max 2x1036x1736'
    assert report['activation_memory_max_mb'] == '64.0'
    assert report['trt_network'] == ('strongly typed' if surface == '11' else 'fp32 + flags')
    assert trt.calls['strategy'] == (['USER_MANAGED'])

    again = make_runner('tensorrt', tiny, device='cuda:1', precision='fp16',
                        cache_dir=tmp_path, profile=PROFILE)
    assert again.cache_hit and trt.calls['build_device'] == [1]  # no second build


def test_an_engine_file_runs_in_its_own_precision(trt10: types.ModuleType, tiny: torch.nn.Module,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    StandInCuda.install(monkeypatch)
    make_runner('tensorrt', tiny, device='cuda', precision='fp32', cache_dir=tmp_path)
    engine = next((tmp_path / 'tensorrt').glob('*.engine'))
    runner = make_runner('tensorrt', engine, device='cuda', precision='fp16',
                         cache_dir=tmp_path)
    assert runner.precision == 'fp32'  # read back from x.engine.json, not the request
    assert runner.report()['tf32'] == 'on'  # fp32 layers on sm_86 use TF32
    bare = tmp_path / 'copy.engine'
    bare.write_bytes(engine.read_bytes())
    (tmp_path / 'copy.json').write_text('{"head": "relative"}')  # an .onnx's sidecar
    with pytest.raises(FileNotFoundError, match='copy.engine.json is missing'):
        make_runner('tensorrt', bare, device='cuda', precision='fp16', cache_dir=tmp_path)
    # The estimator reads the engine's own description (metric or not) by the same rule.
    from depth_anything_ros.models.sidecar import read_sidecar
    assert read_sidecar(engine, required=True)['precision'] == 'fp32'


def test_activation_memory_follows_the_shape_in_use() -> None:
    blocks = []

    class Block:
        def __init__(self, n: int) -> None:
            self.n = n
            blocks.append(n)

        def data_ptr(self) -> int:
            return 4096

    context = standin_tensorrt('10').IExecutionContext()
    memory = tensorrt_runner.ActivationMemory(context, Block)
    context.set_input_shape('image', (1, 3, 518, 686))
    assert memory.fit() == 518 * 686
    context.set_input_shape('image', (1, 3, 70, 70))
    assert memory.fit() == 518 * 686  # a smaller shape reuses the block
    context.set_input_shape('image', (2, 3, 518, 1722))
    assert memory.fit() == 2 * 518 * 1722
    assert blocks == [518 * 686, 2 * 518 * 1722]


def test_a_runtime_api_mismatch_is_a_runtime_error_naming_the_version(
        trt11: types.ModuleType, tiny: torch.nn.Module, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The lifecycle node turns RuntimeError into a failed configure with this message."""
    StandInCuda.install(monkeypatch)
    del trt11.MemoryPoolType  # an API a later release might move
    with pytest.raises(RuntimeError, match=r'tensorrt 11\.4\.0\.1 lacks an API.*MemoryPoolType'):
        make_runner('tensorrt', tiny, device='cuda', precision='fp16', cache_dir=tmp_path)


# ----------------------------------------------------------------------------- onnxruntime
def test_onnxruntime_provider_check() -> None:
    gpu = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    assert onnxruntime_runner.check_providers(gpu, gpu) is None
    assert onnxruntime_runner.check_providers(['CPUExecutionProvider'],
                                              ['CPUExecutionProvider']) is None
    with pytest.raises(BackendUnavailableError, match='CUDAExecutionProvider needs the CUDA '
                                                      'and cuDNN'):
        onnxruntime_runner.check_providers(gpu[1:], ['CPUExecutionProvider'])
    warning = onnxruntime_runner.check_providers(gpu, gpu[1:], allow_fallback=True)
    assert 'TensorrtExecutionProvider needs the TensorRT libraries' in warning


def test_onnxruntime_tensorrt_provider_gets_the_profile_and_a_timing_cache() -> None:
    options = onnxruntime_runner.provider_options(
        'TensorrtExecutionProvider', device_id=1, precision='fp16', engine_cache=Path('/c/e'),
        profile=PROFILE)
    assert options['trt_profile_min_shapes'] == 'image:1x3x70x70'
    assert options['trt_profile_opt_shapes'] == 'image:1x3x518x686'
    assert options['trt_profile_max_shapes'] == 'image:2x3x1036x1736'
    assert options['trt_timing_cache_enable'] is True
    assert options['trt_timing_cache_path'] == '/c/e'
    views = onnxruntime_runner.provider_options(
        'TensorrtExecutionProvider', device_id=0, precision='fp32', engine_cache=Path('/c/e'),
        profile=PROFILE, views=(1, 1, 8))   # a graph of (B, S, 3, H, W)
    assert views['trt_profile_min_shapes'] == 'image:1x1x3x70x70'
    assert views['trt_profile_max_shapes'] == 'image:2x8x3x1036x1736'


class SessionStandIn:
    """STAND-IN for onnxruntime.InferenceSession that starts only the providers in ``works``."""

    works = ('CPUExecutionProvider',)

    def __init__(self, path: str, opts: Any, providers: list[Any]) -> None:
        self.asked = providers

    def get_providers(self) -> list[str]:
        names = [p[0] if isinstance(p, tuple) else p for p in self.asked]
        return [p for p in names if p in self.works]


@pytest.mark.skipif(not HAS_ORT, reason='onnxruntime is not installed')
def test_onnxruntime_session_that_lost_its_gpu_providers(tiny: torch.nn.Module, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime
    onnx = export_onnx(tiny, tmp_path / 'tiny.onnx', dynamic=True)
    eps = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    monkeypatch.setattr(onnxruntime, 'get_available_providers', lambda: eps)
    monkeypatch.setattr(onnxruntime, 'InferenceSession', SessionStandIn)
    # cuDNN missing: the session silently runs on the CPU. Refused:
    with pytest.raises(BackendUnavailableError, match='did not start TensorrtExecutionProvider, '
                                                      'CUDAExecutionProvider'):
        onnxruntime_runner.OnnxRuntimeRunner(onnx, device=torch.device('cuda'),
                                             precision='fp16', cache_dir=tmp_path)
    # TensorRT libraries missing, fallback allowed: CUDA fp32, said in the log and report.
    monkeypatch.setattr(SessionStandIn, 'works', tuple(eps[1:]))
    runner = onnxruntime_runner.OnnxRuntimeRunner(onnx, device=torch.device('cuda'),
                                                  precision='fp16', cache_dir=tmp_path,
                                                  allow_fallback=True)
    assert runner.precision == 'fp32'
    report = runner.report()
    assert report['providers'] == 'CUDAExecutionProvider, CPUExecutionProvider'
    assert 'TensorrtExecutionProvider' in report['provider_warning']


# ----------------------------------------------------------------------------- TF32, parameters
def test_exact_turns_tf32_off_and_says_so() -> None:
    from depth_anything_ros.backends.devices import exact_fp32_math
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        assert 'TF32 turned off' in exact_fp32_math()
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def test_profile_parameters_and_flags_share_one_vocabulary() -> None:
    import argparse

    from depth_anything_ros.commands.args import add_runtime_arguments, trt_profile_from_args
    from depth_anything_ros.params import default_values, validate
    cfg = validate({})
    assert cfg.trt_profile == tensorrt_runner.DEFAULT_PROFILE
    assert (default_values()['trt_max_batch'], default_values()['trt_max_shape']) == \
        (4, '1036x1736')
    wide = validate({'trt_max_batch': 2, 'trt_max_shape': '518x1722'})
    assert wide.trt_profile == ((1, 70, 70), (1, 518, 686), (2, 518, 1722))
    with pytest.raises(ValueError, match='trt_opt_shape 518x686 must lie between'):
        validate({'trt_max_shape': '518x518'})
    with pytest.raises(ValueError, match='trt_max_shape must be HEIGHTxWIDTH'):
        validate({'trt_max_shape': '1036x1000'})
    parser = argparse.ArgumentParser()
    add_runtime_arguments(parser)
    args = parser.parse_args(['--trt-max-batch', '2', '--trt-max-shape', '518x1722'])
    assert trt_profile_from_args(args) == wide.trt_profile


def test_bench_refuses_a_bad_profile_in_one_line(capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.commands import cli
    assert cli.main(['bench', '--quick', '--trt-max-shape', '100x100']) == 2
    err = capsys.readouterr().err
    assert 'trt_max_shape must be HEIGHTxWIDTH' in err and 'Traceback' not in err


def test_a_batch_above_the_profile_runs_in_chunks() -> None:
    """More same-size cameras than trt_max_batch: chunks of the profile's largest batch."""
    runner = object.__new__(tensorrt_runner.TensorRTRunner)  # no engine: __call__'s split only
    runner.profile = ((1, 70, 70), (1, 70, 98), (2, 140, 140))
    seen = []
    original = tensorrt_runner.TensorRTRunner.__call__

    def run(self: Any, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] <= 2:
            seen.append(int(x.shape[0]))
            return x[:, 0] * 2  # (B, H, W)
        return original(self, x)

    x = torch.arange(5 * 3 * 70 * 98, dtype=torch.float32).reshape(5, 3, 70, 98)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tensorrt_runner.TensorRTRunner, '__call__', run)
        y = runner(x)
    assert seen == [2, 2, 1] and torch.equal(y, x[:, 0] * 2)
    with pytest.raises(ValueError, match='trt_max_shape'):
        original(runner, torch.zeros(1, 3, 70, 154))  # too wide: refused, not chunked


# ------------------------------------------------------------------ several outputs, views
@pytest.fixture(scope='module')
def da3_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Export a small any-view Depth Anything 3 with dynamic axes (image (B, S, 3, H, W))."""
    from depth_anything_ros.models.da3.adapter import untrained_model
    return export_onnx(untrained_model('da3-tiny'), tmp_path_factory.mktemp('da3') / 'a.onnx',
                       dynamic=True)


def _run_on_cpu(runner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the runner's __call__ work on CPU tensors (the stand-in computes nothing)."""
    stream = types.SimpleNamespace(wait_stream=lambda other: None, cuda_stream=7)
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda dev=None: stream)
    runner.device, runner._stream = torch.device('cpu'), stream


@pytest.mark.skipif(not HAS_ORT, reason='the export check needs onnxruntime')
def test_an_engine_of_several_outputs_and_a_views_axis(trt10: types.ModuleType, da3_onnx: Path,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    StandInCuda.install(monkeypatch)
    engine_class = type(trt10.Runtime(None).deserialize_cuda_engine(b''))
    engine_class.names = ['image', 'depth', 'depth_conf']   # what the export names
    runner = make_runner('tensorrt', da3_onnx, device='cuda', precision='fp16',
                         cache_dir=tmp_path, profile=PROFILE)
    # the profile covers the views axis: 1 to 8 views, one at the optimum
    assert trt10.calls['shapes'] == [('image', (1, 1, 3, 70, 70), (1, 1, 3, 518, 686),
                                      (2, 8, 3, 1036, 1736))]
    engine = next((tmp_path / 'tensorrt').glob('*.engine'))
    assert json.loads(engine.with_name(engine.name + '.json').read_text())['views'] == [1, 1, 8]
    assert runner.output_names == ['depth', 'depth_conf'] and runner.views
    _run_on_cpu(runner, monkeypatch)
    out = runner(torch.zeros(2, 3, 3, 70, 98))   # two items of three views
    assert {k: tuple(v.shape) for k, v in out.items()} == {'depth': (2, 3, 70, 98),
                                                           'depth_conf': (2, 3, 70, 98)}
    assert set(trt10.calls['executed'][-1]) == {'image', 'depth', 'depth_conf'}
    one = runner(torch.zeros(1, 3, 70, 98))   # one view per image: the views axis comes off
    assert {k: tuple(v.shape) for k, v in one.items()} == {'depth': (1, 70, 98),
                                                           'depth_conf': (1, 70, 98)}
    with pytest.raises(ValueError, match=r'^9 views is outside the engine profile \(1 to 8 '
                                         r'views\); build the engine for more views$'):
        runner(torch.zeros(1, 9, 3, 70, 98))
    # the engine file runs as it was built, views included
    again = make_runner('tensorrt', engine, device='cuda', precision='fp16', cache_dir=tmp_path)
    assert again.views_profile == (1, 1, 8) and again.output_names == ['depth', 'depth_conf']


@pytest.mark.skipif(not HAS_ORT, reason='the export check needs onnxruntime')
def test_an_engine_without_the_outputs_its_export_names_is_refused(
        trt10: types.ModuleType, da3_onnx: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    StandInCuda.install(monkeypatch)   # the stand-in engine has 'image' and 'depth' only
    with pytest.raises(ValueError, match=r"engine tensors are \['image', 'depth'\]; expected "
                                         r"'image', 'depth', 'depth_conf'"):
        make_runner('tensorrt', da3_onnx, device='cuda', precision='fp16', cache_dir=tmp_path)


def test_strongly_typed_tensorrt_runs_da3_in_fp32_and_says_why(
        trt11: types.ModuleType, da3_onnx: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A TensorRT 11 engine of a Depth Anything 3 graph runs fp32, and the log says why.

    Auto picks TensorRT fp16 on a GPU; a strongly typed engine takes its precision from the
    graph, and these graphs are fp32 only.
    """
    StandInCuda.install(monkeypatch)
    type(trt11.Runtime(None).deserialize_cuda_engine(b'')).names = ['image', 'depth',
                                                                     'depth_conf']
    runner = make_runner('tensorrt', da3_onnx, device='cuda', precision='fp16',
                         cache_dir=tmp_path)
    assert runner.precision == 'fp32'
    assert 'da3-tiny exports fp32 graphs only' in caplog.text
