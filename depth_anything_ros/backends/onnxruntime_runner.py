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

"""onnxruntime runner: CPU execution provider, plus CUDA / TensorRT EPs where installed.

One dynamic-H/W ONNX file serves every input size. On CPU only fp32 exists (the x86 CPU EP has
no bf16 switch; use OpenVINO for that); fp16 runs through the TensorRT EP.

onnxruntime quietly drops an execution provider whose libraries do not load (CUDA / cuDNN for
the CUDA provider, TensorRT for the TensorRT provider) and runs on what is left. The runner
compares the session's providers with those it asked for and refuses such a session (or, with
``allow_fallback=True``, runs it with a warning in the log and on /diagnostics and reports the
precision it really runs).
"""

from __future__ import annotations

import logging
from pathlib import Path
import threading
from typing import Any

import numpy as np
import torch
from torch import nn

from depth_anything_ros.backends import BackendUnavailableError, import_runtime
from depth_anything_ros.backends.common import (
    cuda_index,
    file_digest,
    INPUT_NAME,
    model_metadata,
    OUTPUT_NAME,
    read_sidecar,
    Runner,
)
from depth_anything_ros.backends.onnx_export import (
    cached_onnx,
    DEFAULT_OPSET,
    onnx_input_hw,
    onnx_input_views,
)

Shape = tuple[int, int, int]  # (batch, height, width) of the network input

log = logging.getLogger(__name__)


def choose_providers(device: torch.device, precision: str, available: list[str]) -> list[str]:
    """Return the execution providers, best first, for a device and precision.

    Raises:
        BackendUnavailableError: CUDA requested but this onnxruntime build has no CUDA EP.
        ValueError: a precision no available provider can run.
    """
    if precision == 'bf16':
        raise ValueError('onnxruntime has no bf16 mode; use backend "openvino" with bf16 on '
                         'Intel CPUs, or precision "fp32"')
    if device.type != 'cuda':
        if precision != 'fp32':
            raise ValueError(f'onnxruntime on CPU runs fp32 only, not {precision}; use '
                             'precision "fp32", or backend "openvino" for a faster CPU path')
        return ['CPUExecutionProvider']
    if 'CUDAExecutionProvider' not in available:
        raise BackendUnavailableError(
            'this onnxruntime has no CUDAExecutionProvider (providers: '
            f'{", ".join(available)}); pip install onnxruntime-gpu')
    if precision == 'fp16':
        if 'TensorrtExecutionProvider' not in available:
            raise ValueError('fp16 in onnxruntime needs the TensorrtExecutionProvider (an '
                             'onnxruntime-gpu build with TensorRT); use backend "tensorrt" or '
                             'precision "fp32"')
        return ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    return ['CUDAExecutionProvider', 'CPUExecutionProvider']


def provider_options(name: str, *, device_id: int, precision: str, engine_cache: Path,
                     profile: tuple[Shape, Shape, Shape] | None = None,
                     views: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """Return the options of execution provider ``name`` (empty for the CPU provider).

    The TensorRT provider names its cached engines after the ONNX file *name* and graph, not
    the weights, so ``engine_cache`` must be specific to the file's content (see
    :func:`ort_engine_cache_dir`); its kernel timing cache lives there too. ``profile``
    (min, opt, max as (batch, height, width)) fixes the engine's input range up front, so the
    provider builds one engine at start-up instead of rebuilding inside the worker whenever a
    larger input arrives. Both GPU providers get the same ``device_id``. ``views``: the
    (min, opt, max) view counts of a graph whose input has a views axis (B, S, 3, H, W).
    """
    if name == 'TensorrtExecutionProvider':
        options: dict[str, Any] = {
            'device_id': device_id, 'trt_fp16_enable': precision == 'fp16',
            'trt_engine_cache_enable': True, 'trt_engine_cache_path': str(engine_cache),
            'trt_timing_cache_enable': True, 'trt_timing_cache_path': str(engine_cache)}
        if profile is not None:
            for i, (key, (b, h, w)) in enumerate(zip(('min', 'opt', 'max'), profile)):
                s = '' if views is None else f'{views[i]}x'
                options[f'trt_profile_{key}_shapes'] = f'{INPUT_NAME}:{b}x{s}3x{h}x{w}'
        return options
    if name == 'CUDAExecutionProvider':
        return {'device_id': device_id}
    return {}


def check_providers(requested: list[str], active: list[str], *, allow_fallback: bool = False
                    ) -> str | None:
    """Compare the providers a session runs with those requested; return a warning or None.

    onnxruntime drops a provider whose libraries fail to load and carries on with the rest
    (often the CPU). Every requested GPU provider must be active.

    Raises:
        BackendUnavailableError: a requested provider is missing and not ``allow_fallback``.
    """
    missing = [p for p in requested if p not in active and p != 'CPUExecutionProvider']
    if not missing:
        return None
    causes = {'CUDAExecutionProvider': 'the CUDA and cuDNN libraries onnxruntime-gpu was built '
                                       'for',
              'TensorrtExecutionProvider': 'the TensorRT libraries (libnvinfer) onnxruntime-gpu '
                                           'was built for'}
    why = '; '.join(f'{p} needs {causes.get(p, "its libraries")}' for p in missing)
    message = (f'onnxruntime did not start {", ".join(missing)} (the session runs on '
               f'{", ".join(active) or "nothing"}): {why}; the onnxruntime log above names the '
               'library that failed to load')
    if not allow_fallback:
        raise BackendUnavailableError(message + '. Install them, or choose another backend '
                                      '(allow_fallback=True runs the session anyway)')
    return message


def ort_engine_cache_dir(cache_dir: Path, onnx_path: Path) -> Path:
    """Return (and create) the TensorRT provider's engine cache folder for one ONNX file.

    Keyed by the file's sha256, so a re-export under the same name never reuses a stale engine;
    created here with its parents because the provider creates only the last folder level.
    """
    path = Path(cache_dir) / 'ort_tensorrt' / file_digest(onnx_path)[:16]
    path.mkdir(parents=True, exist_ok=True)
    return path


class OnnxRuntimeRunner(Runner):
    """Run an ONNX export of DA-V2 in an onnxruntime ``InferenceSession``."""

    def __init__(self, source: nn.Module | Path, *, device: torch.device, precision: str,
                 cache_dir: Path, providers: list[str] | None = None,
                 num_threads: int | None = None, opset: int = DEFAULT_OPSET,
                 min_shape: Shape | None = None, opt_shape: Shape | None = None,
                 max_shape: Shape | None = None, allow_fallback: bool = False,
                 max_views: int = 8) -> None:
        """Create the session.

        Args:
            source: torch module (exported once to a dynamic ONNX in ``cache_dir``) or ``.onnx``.
            device: ``cpu`` or ``cuda[:N]``.
            precision: ``fp32``; ``fp16`` with the TensorRT EP.
            providers: explicit execution providers (overrides the choice by device).
            num_threads: CPU intra-op threads; default ``torch.get_num_threads()``.
            min_shape, opt_shape, max_shape: the TensorRT provider's optimisation profile as
                (batch, height, width); default the TensorRT backend's.
            allow_fallback: run a session that lost a requested GPU provider (with a warning)
                instead of refusing it.
            max_views: the most views per batch item the TensorRT provider's profile takes,
                for a graph with a views axis.
        """
        ort = import_runtime('onnxruntime')
        if isinstance(source, nn.Module):
            metadata = model_metadata(source)
            path = cached_onnx(source, Path(cache_dir), shape=None, opset=opset)
        else:
            path = Path(source)
            metadata = read_sidecar(path, required=True)
        super().__init__(backend='onnxruntime', precision=precision, metadata=metadata)
        self.device = device
        self.path = path
        self._static_hw = onnx_input_hw(path)
        self._static_views = onnx_input_views(path)
        available = ort.get_available_providers()
        names = providers or choose_providers(device, precision, available)
        self._device_id = cuda_index(device) if device.type == 'cuda' else 0
        provider_list: list[Any] = []
        profile = None
        if 'TensorrtExecutionProvider' in names and self._static_hw is None:  # static: fixed
            from depth_anything_ros.backends.tensorrt_runner import resolve_profile
            profile = resolve_profile(min_shape, opt_shape, max_shape)
        for name in names:
            if name not in available:
                raise BackendUnavailableError(
                    f'onnxruntime provider {name} is not available here (have '
                    f'{", ".join(available)})')
            engine_cache = (ort_engine_cache_dir(cache_dir, path)
                            if name == 'TensorrtExecutionProvider' else Path(cache_dir))
            options = provider_options(name, device_id=self._device_id, precision=precision,
                                       engine_cache=engine_cache, profile=profile,
                                       views=self._views_profile(max_views))
            provider_list.append((name, options) if options else name)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(num_threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=provider_list)
        self.providers = self.session.get_providers()
        self.provider_warning = check_providers(list(names), self.providers,
                                                allow_fallback=allow_fallback)
        if self.provider_warning is not None:
            log.warning('%s', self.provider_warning)
            if 'TensorrtExecutionProvider' not in self.providers:
                self.precision = 'fp32'  # fp16 came from the TensorRT provider only
        self._lock = threading.Lock()
        log.info('onnxruntime %s session for %s with %s', self.precision, path.name,
                 ', '.join(self.providers))

    def _views_profile(self, max_views: int) -> tuple[int, int, int] | None:
        """(min, opt, max) view counts of a graph with a views axis (None: it has none)."""
        if not self.views:
            return None
        if self._static_views is not None:
            return (self._static_views,) * 3
        return 1, 1, int(max_views)

    def report(self) -> dict[str, str]:
        """Facts for /diagnostics: the providers the session runs, and any fallback."""
        return {'providers': ', '.join(self.providers),
                'provider_warning': self.provider_warning or ''}

    def __call__(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Run ``x`` [B,3,H,W] float32 (normalised); return [B,H,W] float32 on x's device.

        A graph with several outputs returns a mapping of them; one with a views axis takes
        [B,S,3,H,W] too (see :meth:`Runner.graph_input`).
        """
        xg, added = self.graph_input(x)
        if self._static_hw is not None and tuple(xg.shape[-2:]) != self._static_hw:
            raise ValueError(f'{self.path.name} was exported for {self._static_hw[0]}x'
                             f'{self._static_hw[1]} inputs, got {xg.shape[-2]}x{xg.shape[-1]}; '
                             'export with --dynamic or for this size')
        if self._static_views is not None and xg.shape[1] != self._static_views:
            raise ValueError(f'{self.path.name} was exported for {self._static_views} views, got '
                             f'{xg.shape[1]}; export with --dynamic or --views {xg.shape[1]}')
        with self._lock:
            if x.device.type == 'cuda' and 'CUDAExecutionProvider' in self.providers:
                return self.graph_output(self._run_cuda(xg), added)
            array = np.ascontiguousarray(xg.detach().to('cpu', torch.float32).numpy())
            outs = self.session.run(self.output_names, {INPUT_NAME: array})
        return self.graph_output([torch.from_numpy(o).to(x.device) for o in outs], added)

    def _run_cuda(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Zero-copy run on CUDA tensors through IO binding; the outputs in order."""
        src_device = x.device
        dev = torch.device('cuda', self._device_id)  # the session's GPU
        x = x.detach().to(dev, torch.float32).contiguous()  # (B, 3, H, W) or (B, S, 3, H, W)
        binding = self.session.io_binding()
        binding.bind_input(INPUT_NAME, 'cuda', self._device_id, np.float32, tuple(x.shape),
                           x.data_ptr())
        if self.output_names == [OUTPUT_NAME]:
            y = torch.empty((x.shape[0], x.shape[2], x.shape[3]), device=dev)  # (B, H, W)
            binding.bind_output(OUTPUT_NAME, 'cuda', self._device_id, np.float32,
                                tuple(y.shape), y.data_ptr())
        else:   # several outputs: onnxruntime allocates them on the GPU
            for name in self.output_names:
                binding.bind_output(name, 'cuda', self._device_id)
        # onnxruntime runs on its own stream: x must be written before it reads x. run returns
        # after synchronising that stream, so y is complete then.
        torch.cuda.current_stream(dev).synchronize()
        self.session.run_with_iobinding(binding)
        if self.output_names == [OUTPUT_NAME]:
            return [y.to(src_device)]
        return [torch.from_numpy(o).to(src_device)
                for o in binding.copy_outputs_to_cpu()]


def create(model: nn.Module | Path, *, device: torch.device, precision: str, cache_dir: Path,
           **options: Any) -> OnnxRuntimeRunner:
    """Build an :class:`OnnxRuntimeRunner` (``make_runner`` entry point)."""
    return OnnxRuntimeRunner(model, device=device, precision=precision, cache_dir=cache_dir,
                             **options)
