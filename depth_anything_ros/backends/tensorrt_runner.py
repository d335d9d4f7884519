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

TensorRT 8.5 introduced the name-based I/O API (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``) and TensorRT 10 removed the binding-index one (``set_binding_shape``,
``execute_async_v2``); the runner uses the former where it exists and the latter on 8.4.
"""

from __future__ import annotations

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

log = logging.getLogger(__name__)

Shape = tuple[int, int, int]  # (batch, height, width) of the network input
#: Default optimisation profile: 70x70 up to 1036x1372 (2x a 480x640 frame at input 518),
#: tuned for 518x686. Wider cameras need a larger ``max_shape`` (e.g. (1, 518, 924) for 16:9).
DEFAULT_PROFILE: tuple[Shape, Shape, Shape] = ((1, 70, 70), (1, 518, 686), (1, 1036, 1372))
DEFAULT_WORKSPACE_BYTES = 2 << 30
_DTYPES = {'FLOAT': torch.float32, 'HALF': torch.float16, 'BF16': torch.bfloat16}
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


def in_profile(shape: Shape, min_shape: Shape, max_shape: Shape) -> bool:
    """Whether a (B, H, W) input lies inside the engine's optimisation profile."""
    return all(lo <= s <= hi for s, lo, hi in zip(shape, min_shape, max_shape))


def engine_cache_key(onnx_sha256: str, precision: str, gpu: str, trt_version: str,
                     profile: tuple[Shape, Shape, Shape]) -> str:
    """Return the cache key of an engine: every input that makes an engine incompatible."""
    blob = json.dumps({'onnx': onnx_sha256, 'precision': precision, 'gpu': gpu,
                       'tensorrt': trt_version, 'profile': [list(s) for s in profile]},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


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


def trt_major(trt: Any) -> int:
    """Return the major version of the imported ``tensorrt`` module (8 for ``8.5.2.2``)."""
    return int(str(trt.__version__).split('.')[0])


def network_flags(trt: Any) -> int:
    """Return the ``Builder.create_network`` flags: explicit batch before TensorRT 10.

    ONNX networks need ``EXPLICIT_BATCH`` on TensorRT 8.x and 9.x; from 10 every network is
    explicit-batch and the flag is deprecated and ignored, so none is passed.
    """
    flag = getattr(trt.NetworkDefinitionCreationFlag, 'EXPLICIT_BATCH', None)
    if trt_major(trt) >= 10 or flag is None:
        return 0
    return 1 << int(flag)


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


def uses_tensor_names(context: Any) -> bool:
    """Whether the execution context has TensorRT 8.5+'s name-based I/O API."""
    return hasattr(context, 'execute_async_v3')


def io_tensor_names(engine: Any) -> list[str]:
    """Return the engine's input and output tensor names (8.5+ API, else 8.4 bindings)."""
    if hasattr(engine, 'num_io_tensors'):
        return [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    return [engine.get_binding_name(i) for i in range(engine.num_bindings)]


def io_dtype(engine: Any, name: str) -> torch.dtype:
    """Return the torch dtype of the engine tensor ``name``."""
    if hasattr(engine, 'get_tensor_dtype'):
        return torch_dtype(engine.get_tensor_dtype(name))
    return torch_dtype(engine.get_binding_dtype(engine.get_binding_index(name)))


def set_input_shape(engine: Any, context: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Set the input shape on ``context``; return the output shape TensorRT derives from it.

    Raises:
        ValueError: TensorRT refused the shape (outside the engine's optimisation profile).
    """
    if uses_tensor_names(context):
        ok = context.set_input_shape(INPUT_NAME, shape)
        out = context.get_tensor_shape(OUTPUT_NAME)
    else:  # TensorRT 8.4
        ok = context.set_binding_shape(engine.get_binding_index(INPUT_NAME), shape)
        out = context.get_binding_shape(engine.get_binding_index(OUTPUT_NAME))
    if not ok:
        raise ValueError(f'TensorRT refused input shape {shape} (outside the engine\'s '
                         'optimisation profile?)')
    return tuple(int(d) for d in out)


def enqueue(engine: Any, context: Any, x_ptr: int, y_ptr: int, stream_handle: int) -> None:
    """Queue one inference reading device address ``x_ptr``, writing ``y_ptr``, on a stream.

    Raises:
        RuntimeError: TensorRT reported a failure (details in the TensorRT log).
    """
    if uses_tensor_names(context):
        context.set_tensor_address(INPUT_NAME, x_ptr)
        context.set_tensor_address(OUTPUT_NAME, y_ptr)
        ok = context.execute_async_v3(stream_handle)
    else:  # TensorRT 8.4
        bindings = [0] * engine.num_bindings
        bindings[engine.get_binding_index(INPUT_NAME)] = x_ptr
        bindings[engine.get_binding_index(OUTPUT_NAME)] = y_ptr
        ok = context.execute_async_v2(bindings, stream_handle)
    if not ok:
        raise RuntimeError('TensorRT execution failed (see the TensorRT log)')


def build_engine(onnx_path: Path, *, precision: str, profile: tuple[Shape, Shape, Shape],
                 workspace_bytes: int = DEFAULT_WORKSPACE_BYTES) -> bytes:
    """Build a serialized TensorRT engine from a dynamic-H/W ONNX file.

    Raises:
        RuntimeError: the ONNX parser or the builder failed (messages included).
        ValueError: bf16 asked of a TensorRT without it (before 9.0).
    """
    trt = import_runtime('tensorrt')
    if precision == 'bf16' and not hasattr(trt.BuilderFlag, 'BF16'):
        raise ValueError(f'TensorRT {trt.__version__} has no bf16 mode (needs 9+); use '
                         'precision "fp16"')
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f'TensorRT could not parse {onnx_path}: {errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == 'fp16':
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == 'bf16':
        config.set_flag(trt.BuilderFlag.BF16)
    opt = builder.create_optimization_profile()
    (b0, h0, w0), (b1, h1, w1), (b2, h2, w2) = profile
    opt.set_shape(INPUT_NAME, (b0, 3, h0, w0), (b1, 3, h1, w1), (b2, 3, h2, w2))
    config.add_optimization_profile(opt)
    start = time.perf_counter()
    log.info('building a TensorRT %s engine from %s (minutes on a Jetson) ...', precision,
             onnx_path.name)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f'TensorRT failed to build an engine from {onnx_path} (see the '
                           'TensorRT log above; try a smaller max_shape or more workspace)')
    log.info('TensorRT engine built in %.0f s', time.perf_counter() - start)
    return bytes(serialized)


class TensorRTRunner(Runner):
    """Run a TensorRT engine on CUDA tensors; one execution context, dynamic shapes."""

    def __init__(self, source: nn.Module | Path, *, device: torch.device, precision: str,
                 cache_dir: Path, min_shape: Shape | None = None, opt_shape: Shape | None = None,
                 max_shape: Shape | None = None, workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
                 opset: int = DEFAULT_OPSET) -> None:
        """Build (or load from the cache) the engine.

        Args:
            source: torch module, dynamic ``.onnx`` (engine built and cached) or a built
                ``.engine`` / ``.plan`` with its sidecar.
            device: a CUDA device.
            precision: ``fp16`` (recommended), ``fp32`` or ``bf16`` (Ampere and newer).
            min_shape, opt_shape, max_shape: optimisation profile as (batch, height, width).
        """
        trt = import_runtime('tensorrt')
        if device.type != 'cuda' or not torch.cuda.is_available():
            raise BackendUnavailableError('the TensorRT backend needs a CUDA device and a CUDA '
                                          'build of torch; none is available here')
        self.device = torch.device('cuda', cuda_index(device))
        defaults = DEFAULT_PROFILE
        profile = (tuple(min_shape or defaults[0]), tuple(opt_shape or defaults[1]),
                   tuple(max_shape or defaults[2]))
        check_profile(*profile)
        gpu, version = gpu_name(self.device), trt.__version__
        if isinstance(source, nn.Module):
            source = cached_onnx(source, Path(cache_dir), shape=None, opset=opset)
        path = Path(source)
        metadata = read_sidecar(path, required=True)
        if path.suffix.lower() in ('.engine', '.plan'):
            built_for = (metadata.get('gpu'), metadata.get('tensorrt_version'))
            if built_for != (gpu, version):
                raise ValueError(f'{path.name} was built for {built_for[0]} with TensorRT '
                                 f'{built_for[1]}; this is {gpu} with TensorRT {version}. '
                                 'Pass the .onnx file instead so the engine is rebuilt here')
            profile = tuple(tuple(s) for s in metadata['profile'])  # type: ignore[assignment]
            engine_bytes = path.read_bytes()
        else:
            if not metadata.get('dynamic', False):
                shape = metadata.get('input_shape')
                profile = ((shape[0], shape[2], shape[3]),) * 3  # type: ignore[assignment]
            key = engine_cache_key(file_digest(path), precision, gpu, version, profile)
            engine_path = Path(cache_dir) / 'tensorrt' / f'{key}.engine'
            if engine_path.is_file():
                log.info('TensorRT engine cache hit: %s', engine_path)
                engine_bytes = engine_path.read_bytes()
            else:
                engine_bytes = build_engine(path, precision=precision, profile=profile,
                                            workspace_bytes=workspace_bytes)
                atomic_write_bytes(engine_path, engine_bytes)
                write_sidecar(engine_path, {**metadata, 'gpu': gpu, 'tensorrt_version': version,
                                            'precision': precision,
                                            'profile': [list(s) for s in profile]})
        super().__init__(backend='tensorrt', precision=precision, metadata=metadata)
        self.profile = profile
        self._runtime = trt.Runtime(trt_logger(trt))
        with torch.cuda.device(self.device):
            self.engine = self._runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise RuntimeError('TensorRT could not deserialize the engine; rebuild it '
                                   'from the .onnx file')
            self.context = self.engine.create_execution_context()
            if self.context is None:
                raise RuntimeError('TensorRT could not create an execution context (out of GPU '
                                   'memory?)')
            # Its own stream: on the legacy default stream (torch's default) enqueueV3 adds
            # stream synchronisations and logs a warning.
            self._stream = torch.cuda.Stream(self.device)
        names = io_tensor_names(self.engine)
        if INPUT_NAME not in names or OUTPUT_NAME not in names:
            raise ValueError(f'engine tensors are {names}; expected {INPUT_NAME!r} and '
                             f'{OUTPUT_NAME!r} (export with depth-anything-ros export)')
        # Engines built here keep float32 I/O whatever the precision; an engine built
        # elsewhere may take or return float16.
        self._in_dtype = io_dtype(self.engine, INPUT_NAME)
        self._out_dtype = io_dtype(self.engine, OUTPUT_NAME)
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run ``x`` [B,3,H,W] float32 (normalised); return [B,H,W] float32 on x's device."""
        self.check_input(x)
        shape = (int(x.shape[0]), int(x.shape[2]), int(x.shape[3]))
        if not in_profile(shape, self.profile[0], self.profile[2]):
            raise ValueError(f'input (B, H, W) = {shape} is outside the engine profile '
                             f'{self.profile[0]}..{self.profile[2]}; rebuild with min_shape/'
                             'max_shape covering it')
        src_device = x.device
        with self._lock, torch.cuda.device(self.device):
            xin = x.detach().to(self.device, self._in_dtype).contiguous()  # (B, 3, H, W)
            out_shape = set_input_shape(self.engine, self.context, tuple(xin.shape))
            if out_shape != shape:
                raise RuntimeError(f'engine output shape {out_shape} for input {tuple(xin.shape)}'
                                   f'; expected {shape} (B, H, W)')
            y = torch.empty(shape, device=self.device, dtype=self._out_dtype)  # (B, H, W)
            caller = torch.cuda.current_stream(self.device)
            # xin and y belong to the caller's stream: TensorRT starts after the work that
            # wrote xin, and the caller's later work (and reuse of both blocks) waits for it.
            self._stream.wait_stream(caller)
            enqueue(self.engine, self.context, xin.data_ptr(), y.data_ptr(),
                    self._stream.cuda_stream)
            caller.wait_stream(self._stream)
        return y.to(src_device, torch.float32)


def create(model: nn.Module | Path, *, device: torch.device, precision: str, cache_dir: Path,
           **options: Any) -> TensorRTRunner:
    """Build a :class:`TensorRTRunner` (``make_runner`` entry point)."""
    return TensorRTRunner(model, device=device, precision=precision, cache_dir=cache_dir,
                          **options)
