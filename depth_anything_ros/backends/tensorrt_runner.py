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

"""TensorRT runner (NVIDIA GPUs, Jetson): engine built from the dynamic ONNX, fp16 by default.

An engine is specific to the GPU model and the TensorRT version, so the cache key holds both,
plus the ONNX file's hash, the precision and the optimisation profile (the range of input shapes
the engine accepts). Building takes minutes on a Jetson; later starts deserialise in seconds.
Inputs and outputs stay on the GPU as torch tensors (no host copies).

Two builder generations are supported, told apart by what the module offers, never by its
version string:

* *weakly typed* (TensorRT 10 and before): the graph is fp32 and ``BuilderFlag.FP16`` /
  ``BF16`` let the builder pick reduced-precision kernels;
* *strongly typed* (TensorRT 11 removed those flags): precision comes from the ONNX graph's
  own types, so fp16 / bf16 engines are built from an ONNX export typed in that precision
  (:func:`~depth_anything_ros.backends.onnx_export.cached_onnx` with ``dtype``), with float32
  input and output kept.

Both need the name-based I/O API (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``) and an ONNX parser that reads opset-17 ``LayerNormalization``
(``INormalizationLayer``); a TensorRT without them is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import json
import logging
from pathlib import Path
import threading
import time
from typing import Any

import torch
from torch import nn

from depth_anything_ros.backends import BackendUnavailableError, import_runtime
from depth_anything_ros.backends.common import (
    atomic_write_bytes,
    cuda_index,
    file_digest,
    INPUT_NAME,
    OUTPUT_NAME,
    PATCH,
    read_sidecar,
    Runner,
    write_sidecar,
)
from depth_anything_ros.backends.onnx_export import cached_onnx, DEFAULT_OPSET
from depth_anything_ros.vocabulary import trt_profile

log = logging.getLogger(__name__)

Shape = tuple[int, int, int]  # (batch, height, width) of the network input
Profile = tuple[Shape, Shape, Shape]
#: Default optimisation profile: the node parameters' defaults (trt_max_batch, trt_opt_shape,
#: trt_max_shape): batches of up to 4 frames of up to 1036x1736, tuned for one 518x686 frame.
DEFAULT_PROFILE: Profile = trt_profile(4, '518x686', '1036x1736')
DEFAULT_WORKSPACE_BYTES = 2 << 30
#: The most views per batch item of an engine built from a dynamic graph with a views axis.
DEFAULT_MAX_VIEWS = 8
_DTYPES = {'FLOAT': torch.float32, 'HALF': torch.float16, 'BF16': torch.bfloat16}
_MIB = 1 << 20
_logger: Any = None


def check_profile(min_shape: Shape, opt_shape: Shape, max_shape: Shape) -> None:
    """Raise ``ValueError`` unless min <= opt <= max per axis and H, W are multiples of 14."""
    for name, shape in (('min_shape', min_shape), ('opt_shape', opt_shape),
                        ('max_shape', max_shape)):
        if len(shape) != 3 or shape[0] < 1 or shape[1] % PATCH or shape[2] % PATCH or \
                min(shape[1:]) <= 0:
            raise ValueError(f'{name} must be (batch, height, width) with height and width '
                             f'positive multiples of {PATCH}, got {shape}')
    if not all(a <= b <= c for a, b, c in zip(min_shape, opt_shape, max_shape)):
        raise ValueError(f'optimisation profile needs min <= opt <= max on every axis, got '
                         f'min {min_shape}, opt {opt_shape}, max {max_shape}')


def resolve_profile(min_shape: Shape | None = None, opt_shape: Shape | None = None,
                    max_shape: Shape | None = None) -> Profile:
    """Fill the missing profile shapes from :data:`DEFAULT_PROFILE` and check the result.

    A given ``max_shape`` below the default opt shape pulls opt down to it (an explicit max of
    (2, 518, 518) is a valid profile on its own), and a given ``opt_shape`` above the default
    max raises max to it.
    """
    lo = tuple(min_shape or DEFAULT_PROFILE[0])
    hi = tuple(max_shape or DEFAULT_PROFILE[2])
    if opt_shape is not None:
        mid = tuple(opt_shape)
        if max_shape is None:
            hi = tuple(max(a, b) for a, b in zip(hi, mid))
    else:
        mid = tuple(min(a, b) for a, b in zip(DEFAULT_PROFILE[1], hi))
        mid = tuple(max(a, b) for a, b in zip(mid, lo))
    profile = (lo, mid, hi)
    check_profile(*profile)  # type: ignore[arg-type]
    return profile  # type: ignore[return-value]


def describe_profile(profile: Profile) -> str:
    """``min 1x70x70, opt 1x518x686, max 4x1036x1736`` (batch x height x width)."""
    return ', '.join(f'{name} {"x".join(map(str, shape))}'
                     for name, shape in zip(('min', 'opt', 'max'), profile))


def in_profile(shape: Shape, min_shape: Shape, max_shape: Shape) -> bool:
    """Whether a (B, H, W) input lies inside the engine's optimisation profile."""
    return all(lo <= s <= hi for s, lo, hi in zip(shape, min_shape, max_shape))


def engine_cache_key(onnx_sha256: str, precision: str, gpu: str, trt_version: str,
                     profile: Profile) -> str:
    """Return the cache key of an engine: every input that makes an engine incompatible."""
    blob = json.dumps({'onnx': onnx_sha256, 'precision': precision, 'gpu': gpu,
                       'tensorrt': trt_version, 'profile': [list(s) for s in profile]},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def engine_device(device: torch.device, current: int) -> torch.device:
    """Return the GPU an engine is built and run on.

    ``cuda:N`` as given, plain ``cuda`` the ``current`` device. The builder works on the
    current CUDA device, so the runner makes this one current while it builds, and the cache
    key names this GPU.
    """
    if device.type != 'cuda':
        raise ValueError(f'TensorRT runs on CUDA devices, not {device}')
    return torch.device('cuda', current if device.index is None else device.index)


def gpu_name(device: torch.device) -> str:
    """Return e.g. ``NVIDIA GeForce RTX 4090 (sm_89)``: name and compute capability."""
    major, minor = torch.cuda.get_device_capability(device)
    return f'{torch.cuda.get_device_name(device)} (sm_{major}{minor})'


def trt_logger(trt: Any) -> Any:
    """Return the process-wide ``trt.Logger``.

    TensorRT keeps one logger pointer for all builders and runtimes; a second ``Logger`` object
    only draws a warning and is not used, so every builder and runtime here shares this one.
    """
    global _logger
    if _logger is None:
        _logger = trt.Logger(trt.Logger.WARNING)
    return _logger


def strongly_typed(trt: Any) -> bool:
    """Whether this TensorRT builds strongly typed networks only (no FP16 builder flag).

    Then precision comes from the ONNX graph's types, not from builder flags.
    """
    return not hasattr(trt.BuilderFlag, 'FP16')


def check_supported(trt: Any) -> None:
    """Raise BackendUnavailableError unless ``trt`` has what the runner uses.

    The name-based I/O API (``IExecutionContext.execute_async_v3``) and a parser for opset-17
    ``LayerNormalization`` (``INormalizationLayer``); TensorRT releases without them (8.5 and
    before, e.g. JetPack 5) cannot run the export.
    """
    missing = [name for name, ok in (
        ('IExecutionContext.execute_async_v3',
         hasattr(getattr(trt, 'IExecutionContext', None), 'execute_async_v3')),
        ('INormalizationLayer (ONNX LayerNormalization)', hasattr(trt, 'INormalizationLayer')))
        if not ok]
    if missing:
        raise BackendUnavailableError(
            f'TensorRT {getattr(trt, "__version__", "?")} lacks {" and ".join(missing)}, which '
            'the TensorRT backend needs (TensorRT 8.6 or newer); use backend onnxruntime or '
            'torch, or a newer TensorRT')


def network_flags(trt: Any) -> int:
    """Return the ``Builder.create_network`` flags.

    ``EXPLICIT_BATCH`` where the builder still has implicit-batch networks (before 10: the
    builder has ``max_batch_size`` then), and ``STRONGLY_TYPED`` for a strongly typed builder
    (required there before it became the only mode, accepted and ignored after).
    """
    flags = 0
    kinds = trt.NetworkDefinitionCreationFlag
    explicit = getattr(kinds, 'EXPLICIT_BATCH', None)
    if explicit is not None and hasattr(trt.Builder, 'max_batch_size'):
        flags |= 1 << int(explicit)
    typed = getattr(kinds, 'STRONGLY_TYPED', None)
    if strongly_typed(trt) and typed is not None:
        flags |= 1 << int(typed)
    return flags


def torch_dtype(trt_dtype: Any) -> torch.dtype:
    """Map a ``trt.DataType`` of an engine input or output to the torch dtype.

    Raises:
        ValueError: a type this runner cannot feed or read (int8, int32, ...).
    """
    name = str(getattr(trt_dtype, 'name', trt_dtype)).rsplit('.', 1)[-1].upper()
    if name not in _DTYPES:
        raise ValueError(f'engine tensor type {name} is not supported; the engine input '
                         f'and output must be float32, float16 or bfloat16')
    return _DTYPES[name]


def io_tensor_names(engine: Any) -> list[str]:
    """Return the engine's input and output tensor names."""
    return [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]


def io_dtype(engine: Any, name: str) -> torch.dtype:
    """Return the torch dtype of the engine tensor ``name``."""
    return torch_dtype(engine.get_tensor_dtype(name))


def set_input_shape(engine: Any, context: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Set the input shape on ``context``; return the output shape TensorRT derives from it.

    Raises:
        ValueError: TensorRT refused the shape (outside the engine's optimisation profile).
    """
    ok = context.set_input_shape(INPUT_NAME, shape)
    out = context.get_tensor_shape(OUTPUT_NAME)
    if not ok:
        raise ValueError(f"TensorRT refused input shape {shape} (outside the engine's "
                         'optimisation profile?)')
    return tuple(int(d) for d in out)


def enqueue(engine: Any, context: Any, x_ptr: int, y_ptr: int, stream_handle: int) -> None:
    """Queue one inference reading device address ``x_ptr``, writing ``y_ptr``, on a stream.

    Raises:
        RuntimeError: TensorRT reported a failure (details in the TensorRT log).
    """
    context.set_tensor_address(INPUT_NAME, x_ptr)
    context.set_tensor_address(OUTPUT_NAME, y_ptr)
    if not context.execute_async_v3(stream_handle):
        raise RuntimeError('TensorRT execution failed (see the TensorRT log)')


def output_shapes(context: Any, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Return the shape TensorRT derives for each output ``name`` from the input shape set."""
    return {name: tuple(int(d) for d in context.get_tensor_shape(name)) for name in names}


def enqueue_all(context: Any, addresses: dict[str, int], stream_handle: int) -> None:
    """Queue one inference with every I/O tensor at its device address (name -> address).

    Raises:
        RuntimeError: TensorRT reported a failure (details in the TensorRT log).
    """
    for name, ptr in addresses.items():
        context.set_tensor_address(name, ptr)
    if not context.execute_async_v3(stream_handle):
        raise RuntimeError('TensorRT execution failed (see the TensorRT log)')


def engine_max_activation_bytes(engine: Any) -> int:
    """Activation memory the engine needs at its largest profile shape (bytes)."""
    for name in ('device_memory_size_v2', 'device_memory_size'):
        value = getattr(engine, name, None)
        if value is not None:
            return int(value)
    return 0


def create_context(trt: Any, engine: Any) -> tuple[Any, bool]:
    """Create an execution context whose activation memory this runner supplies per shape.

    Returns ``(context, user_managed)``. Where the TensorRT has neither a runtime config nor an
    allocation strategy, the context allocates statically for the largest profile shape.
    """
    strategy = getattr(getattr(trt, 'ExecutionContextAllocationStrategy', None),
                       'USER_MANAGED', None)
    if strategy is not None and hasattr(engine, 'create_runtime_config'):
        config = engine.create_runtime_config()
        config.set_execution_context_allocation_strategy(strategy)
        return engine.create_execution_context(config), True
    if strategy is not None:
        return engine.create_execution_context(strategy), True
    return engine.create_execution_context(), False


class ActivationMemory:
    """The activation block of a user-managed context, sized for the shape in use.

    Grows (never shrinks) when a larger input shape needs more; ``allocate(nbytes)`` returns an
    object with ``data_ptr()`` that stays alive as long as it is held (a torch uint8 tensor on
    the engine's GPU in the runner). Sizing per shape instead of for the largest profile shape
    keeps a wide profile cheap on small GPUs (Jetson).
    """

    def __init__(self, context: Any, allocate: Callable[[int], Any]) -> None:
        self.context = context
        self.allocate = allocate
        self.block: Any = None
        self.nbytes = 0

    def fit(self) -> int:
        """Make the block large enough for the context's current input shape; return its size."""
        need = int(self.context.update_device_memory_size_for_shapes())
        if self.block is None or need > self.nbytes:
            self.block = self.allocate(max(need, 1))
            self.nbytes = max(need, 1)
            if hasattr(self.context, 'set_device_memory'):
                self.context.set_device_memory(self.block.data_ptr(), self.nbytes)
            else:
                self.context.device_memory = self.block.data_ptr()
        return self.nbytes


def build_engine(onnx_path: Path, *, precision: str, profile: Profile,
                 workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
                 timing_cache: Path | None = None,
                 views: tuple[int, int, int] | None = None) -> bytes:
    """Build a serialized TensorRT engine from a dynamic-H/W ONNX file.

    With a strongly typed TensorRT the engine computes in the ONNX file's types (``precision``
    only names them in the log); otherwise fp16 / bf16 are builder flags on an fp32 graph.
    ``timing_cache``: a file of kernel timings reused across builds (created when absent), which
    makes a rebuild for another profile or precision much faster. ``views``: the (min, opt,
    max) view counts of a graph whose input has a views axis (B, S, 3, H, W).

    Raises:
        RuntimeError: the ONNX parser or the builder failed (messages included).
        ValueError: bf16 asked of a weakly typed TensorRT without a bf16 builder flag.
    """
    trt = import_runtime('tensorrt')
    typed = strongly_typed(trt)
    if not typed and precision == 'bf16' and not hasattr(trt.BuilderFlag, 'BF16'):
        raise ValueError(f'TensorRT {trt.__version__} has no bf16 builder flag; use precision '
                         '"fp16", or a TensorRT with bf16 (9 or newer)')
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f'TensorRT could not parse {onnx_path}: {errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if not typed and precision == 'fp16':
        config.set_flag(trt.BuilderFlag.FP16)
    elif not typed and precision == 'bf16':
        config.set_flag(trt.BuilderFlag.BF16)
    cache = None
    if timing_cache is not None and hasattr(config, 'create_timing_cache'):
        seed = timing_cache.read_bytes() if timing_cache.is_file() else b''
        cache = config.create_timing_cache(seed)
        config.set_timing_cache(cache, False)
    opt = builder.create_optimization_profile()
    (b0, h0, w0), (b1, h1, w1), (b2, h2, w2) = profile
    if views is None:
        opt.set_shape(INPUT_NAME, (b0, 3, h0, w0), (b1, 3, h1, w1), (b2, 3, h2, w2))
    else:
        s0, s1, s2 = views
        opt.set_shape(INPUT_NAME, (b0, s0, 3, h0, w0), (b1, s1, 3, h1, w1),
                      (b2, s2, 3, h2, w2))
    config.add_optimization_profile(opt)
    start = time.perf_counter()
    log.info('building a TensorRT %s engine (%s network, profile %s) from %s (minutes on a '
             'Jetson) ...', precision, 'strongly typed' if typed else 'fp32 + precision flags',
             describe_profile(profile), onnx_path.name)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f'TensorRT failed to build an engine from {onnx_path} (see the '
                           'TensorRT log above; try a smaller trt_max_shape / trt_max_batch '
                           'or more workspace)')
    log.info('TensorRT engine built in %.0f s', time.perf_counter() - start)
    if cache is not None and timing_cache is not None:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


class TensorRTRunner(Runner):
    """Run a TensorRT engine on CUDA tensors; one execution context, dynamic shapes."""

    def __init__(self, source: nn.Module | Path, *, device: torch.device, precision: str,
                 cache_dir: Path, min_shape: Shape | None = None, opt_shape: Shape | None = None,
                 max_shape: Shape | None = None, workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
                 opset: int = DEFAULT_OPSET, max_views: int = DEFAULT_MAX_VIEWS) -> None:
        """Build (or load from the cache) the engine on ``device``.

        Args:
            source: torch module, dynamic ``.onnx`` (engine built and cached) or a built
                ``.engine`` / ``.plan`` with its ``.engine.json`` sidecar.
            device: a CUDA device; ``cuda:N`` builds and runs on GPU N.
            precision: ``fp16`` (recommended), ``fp32`` or ``bf16`` (Ampere and newer).
            min_shape, opt_shape, max_shape: optimisation profile as (batch, height, width);
                default :data:`DEFAULT_PROFILE` (see :func:`resolve_profile`).
            max_views: the most views per batch item of an engine built for a graph with a
                views axis (a dynamic export; a static one has its own count).
        """
        trt = import_runtime('tensorrt')
        check_supported(trt)
        if device.type != 'cuda' or not torch.cuda.is_available():
            raise BackendUnavailableError('the TensorRT backend needs a CUDA device and a CUDA '
                                          'build of torch; none is available here')
        self.device = engine_device(device, cuda_index(torch.device('cuda')))
        profile = resolve_profile(min_shape, opt_shape, max_shape)
        typed = strongly_typed(trt)
        version = trt.__version__
        self.cache_hit = False
        # The builder and the runtime work on the current CUDA device: make it the one asked
        # for, so that the engine is built for (and cached under the name of) that GPU.
        with torch.cuda.device(self.device):
            gpu = gpu_name(self.device)
            path = Path(source) if not isinstance(source, nn.Module) else None
            if path is not None and path.suffix.lower() in ('.engine', '.plan'):
                metadata = read_sidecar(path, required=True)  # x.engine.json (common.sidecar_path)
                built_for = (metadata.get('gpu'), metadata.get('tensorrt_version'))
                if built_for != (gpu, version):
                    raise ValueError(f'{path.name} was built for {built_for[0]} with TensorRT '
                                     f'{built_for[1]}; this is {gpu} with TensorRT {version}. '
                                     'Pass the .onnx file instead so the engine is rebuilt here')
                profile = tuple(tuple(s) for s in metadata['profile'])  # type: ignore[assignment]
                views = tuple(metadata['views']) if metadata.get('views') else None
                built = metadata.get('precision', precision)
                if built != precision:
                    log.warning('%s is a %s engine; %s was asked for: running it as %s',
                                path.name, built, precision, built)
                precision = built
                engine_bytes = path.read_bytes()
            else:
                if path is None:
                    # A strongly typed builder takes its precision from the graph's types.
                    dtype = precision if typed else 'fp32'
                    if callable(getattr(source, 'export_graph', None)):
                        dtype = 'fp32'   # graphs of several outputs export in fp32 only
                    path = cached_onnx(source, Path(cache_dir), shape=None, opset=opset,
                                       dtype=dtype)
                metadata = read_sidecar(path, required=True)
                graph = metadata.get('dtype', 'fp32')
                fp32_only = len(metadata.get('output_names') or ()) > 1
                if typed and graph != precision:
                    log.warning('TensorRT %s builds strongly typed networks: precision comes '
                                'from the ONNX types, and %s is a %s graph, so the engine runs '
                                '%s, not %s (%s)', version, path.name, graph, graph, precision,
                                f'{metadata.get("encoder")} exports fp32 graphs only'
                                if fp32_only else
                                f'pass the torch checkpoint to get a {precision} graph '
                                'exported')
                    precision = graph
                shape = metadata.get('input_shape') or []
                views = None
                if len(shape) == 5:   # a views axis: static count, or 1 .. max_views
                    views = (shape[1],) * 3 if isinstance(shape[1], int) else \
                        (1, 1, int(max_views))
                if not metadata.get('dynamic', False):
                    profile = ((shape[0], shape[-2], shape[-1]),) * 3  # type: ignore[assignment]
                key = engine_cache_key(file_digest(path), precision, gpu, version, profile)
                if views is not None:
                    key = hashlib.sha256(f'{key}|views={views}'.encode()).hexdigest()[:24]
                folder = Path(cache_dir) / 'tensorrt'
                engine_path = folder / f'{key}.engine'
                self.cache_hit = engine_path.is_file()
                if self.cache_hit:
                    log.info('TensorRT engine cache hit: %s', engine_path)
                    engine_bytes = engine_path.read_bytes()
                else:
                    timings = folder / ('timing-' + hashlib.sha256(
                        f'{gpu}|{version}'.encode()).hexdigest()[:16] + '.cache')
                    engine_bytes = build_engine(path, precision=precision, profile=profile,
                                                workspace_bytes=workspace_bytes,
                                                timing_cache=timings, views=views)
                    atomic_write_bytes(engine_path, engine_bytes)
                    write_sidecar(engine_path, {
                        **metadata, 'gpu': gpu, 'tensorrt_version': version,
                        'precision': precision, 'strongly_typed': typed,
                        'profile': [list(s) for s in profile],
                        **({'views': list(views)} if views is not None else {})})
            super().__init__(backend='tensorrt', precision=precision, metadata=metadata)
            self.profile: Profile = profile
            #: (min, opt, max) view counts of a graph with a views axis (None: none).
            self.views_profile: tuple[int, int, int] | None = views
            self._runtime = trt.Runtime(trt_logger(trt))
            self.engine = self._runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise RuntimeError('TensorRT could not deserialize the engine; rebuild it '
                                   'from the .onnx file')
            self.context, user_managed = create_context(trt, self.engine)
            if self.context is None:
                raise RuntimeError('TensorRT could not create an execution context (out of GPU '
                                   'memory?)')
            self._memory = ActivationMemory(self.context, self._allocate) \
                if user_managed else None
            # Its own stream: on the legacy default stream (torch's default) enqueueV3 adds
            # stream synchronisations and logs a warning.
            self._stream = torch.cuda.Stream(self.device)
        names = io_tensor_names(self.engine)
        missing = [n for n in (INPUT_NAME, *self.output_names) if n not in names]
        if missing:
            raise ValueError(f'engine tensors are {names}; expected '
                             f'{", ".join(map(repr, (INPUT_NAME, *self.output_names)))} '
                             '(export with depth-anything-ros export)')
        # Engines built here keep float32 I/O whatever the precision; an engine built
        # elsewhere may take or return float16.
        self._in_dtype = io_dtype(self.engine, INPUT_NAME)
        self._out_dtypes = {n: io_dtype(self.engine, n) for n in self.output_names}
        self._out_dtype = self._out_dtypes[self.output_names[0]]
        self.strongly_typed = typed
        self.max_activation_bytes = engine_max_activation_bytes(self.engine)
        # TF32: the builder's default for fp32 layers on Ampere and newer (compute capability 8+).
        self.tf32 = precision == 'fp32' and hasattr(trt.BuilderFlag, 'TF32') and \
            torch.cuda.get_device_capability(self.device)[0] >= 8
        self._lock = threading.Lock()
        log.info('TensorRT %s %s engine on %s (%s), profile %s; activation memory %s', version,
                 precision, self.device, gpu, describe_profile(profile),
                 f'allocated per input shape, at most {self.max_activation_bytes / _MIB:.0f} MiB'
                 if self._memory is not None else
                 f'{self.max_activation_bytes / _MIB:.0f} MiB, allocated for the largest '
                 'profile shape')

    def _allocate(self, nbytes: int) -> torch.Tensor:
        return torch.empty(nbytes, dtype=torch.uint8, device=self.device)

    def report(self) -> dict[str, str]:
        """Facts for /diagnostics: profile, engine cache, activation memory (MiB), TF32 use."""
        current = self._memory.nbytes if self._memory is not None else self.max_activation_bytes
        return {'trt_profile': describe_profile(self.profile),
                'engine_cache': 'hit' if self.cache_hit else 'built',
                'trt_network': 'strongly typed' if self.strongly_typed else 'fp32 + flags',
                'activation_memory_mb': f'{current / _MIB:.1f}',
                'activation_memory_max_mb': f'{self.max_activation_bytes / _MIB:.1f}',
                'tf32': 'on' if self.tf32 else 'off'}

    def __call__(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Run ``x`` [B,3,H,W] float32 (normalised); return [B,H,W] float32 on x's device.

        A batch larger than the profile's runs in chunks of the profile's largest batch (more
        same-size cameras than ``trt_max_batch``). An engine of several outputs returns a
        mapping of them; one with a views axis takes [B,S,3,H,W] too
        (:meth:`Runner.graph_input`).
        """
        xg, added = self.graph_input(x)
        top = self.profile[2][0]
        if xg.shape[0] > top and in_profile((top, int(xg.shape[-2]), int(xg.shape[-1])),
                                            self.profile[0], self.profile[2]):
            parts = [self(part) for part in x.split(top)]
            if isinstance(parts[0], dict):
                return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
            return torch.cat(parts)  # (B, H, W)
        shape = (int(xg.shape[0]), int(xg.shape[-2]), int(xg.shape[-1]))
        if not in_profile(shape, self.profile[0], self.profile[2]):
            raise ValueError(f'input (B, H, W) = {shape} is outside the engine profile '
                             f'{describe_profile(self.profile)}; raise trt_max_batch / '
                             'trt_max_shape (node parameters, CLI flags --trt-max-batch / '
                             '--trt-max-shape) or lower input_size')
        if self.views_profile is not None and not (
                self.views_profile[0] <= xg.shape[1] <= self.views_profile[2]):
            lo, _, hi = self.views_profile
            raise ValueError(f'{int(xg.shape[1])} views is outside the engine profile '
                             f'({lo} to {hi} views); build the engine for more views')
        src_device = x.device
        single = self.output_names == [OUTPUT_NAME]
        with self._lock, torch.cuda.device(self.device):
            xin = xg.detach().to(self.device, self._in_dtype).contiguous()
            if single:
                out_shape = set_input_shape(self.engine, self.context, tuple(xin.shape))
                if out_shape != shape:
                    raise RuntimeError(f'engine output shape {out_shape} for input '
                                       f'{tuple(xin.shape)}; expected {shape} (B, H, W)')
                shapes = {OUTPUT_NAME: shape}
            else:
                if not self.context.set_input_shape(INPUT_NAME, tuple(xin.shape)):
                    raise ValueError(f'TensorRT refused input shape {tuple(xin.shape)} '
                                     "(outside the engine's optimisation profile?)")
                shapes = output_shapes(self.context, self.output_names)
            if self._memory is not None:
                self._memory.fit()
            outs = {name: torch.empty(shapes[name], device=self.device,
                                      dtype=self._out_dtypes[name])
                    for name in self.output_names}
            caller = torch.cuda.current_stream(self.device)
            # xin and the outputs belong to the caller's stream: TensorRT starts after the work
            # that wrote xin, and the caller's later work (and reuse of the blocks) waits for it.
            self._stream.wait_stream(caller)
            if single:
                enqueue(self.engine, self.context, xin.data_ptr(),
                        outs[OUTPUT_NAME].data_ptr(), self._stream.cuda_stream)
            else:
                enqueue_all(self.context, {INPUT_NAME: xin.data_ptr(),
                                           **{n: t.data_ptr() for n, t in outs.items()}},
                            self._stream.cuda_stream)
            caller.wait_stream(self._stream)
        return self.graph_output([outs[n].to(src_device, torch.float32)
                                  for n in self.output_names], added)


def create(model: nn.Module | Path, *, device: torch.device, precision: str, cache_dir: Path,
           **options: Any) -> TensorRTRunner:
    """Build a :class:`TensorRTRunner` (``make_runner`` entry point)."""
    return TensorRTRunner(model, device=device, precision=precision, cache_dir=cache_dir,
                          **options)
