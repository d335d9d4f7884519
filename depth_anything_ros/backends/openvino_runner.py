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

"""OpenVINO runner (Intel CPUs; bf16 on AMX / AVX512-bf16 is the fastest CPU path).

Static shapes run ~15% faster than a dynamic graph, so by default every new input shape gets its
own compiled model, kept for the next frame of that size: from a torch module through a static
ONNX export that stores the torch-computed position embedding for that resolution (exact); from
a dynamic-H/W file (``.onnx`` / ``.xml``) by reshaping it to the shape before compiling. With
``static_shapes=False`` a dynamic model is compiled once for all shapes. A static file serves its
own shape only.

Compiled models are held in a bounded least-recently-used cache (``engine_cache_size``): each
holds its own copy of the weights in the compiled precision (~210 MB for ViT-S in bf16), so
frames of ever new sizes would otherwise grow the process by that much per size. What a
dropped shape wrote to the disk cache (its static export, OpenVINO's compiled blob, ~90 MB for
ViT-S) is deleted with it; files that were there before (a warm start's) are kept.
"""

from __future__ import annotations

from collections import OrderedDict
import logging
from pathlib import Path
import threading
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from depth_anything_ros.backends import import_runtime
from depth_anything_ros.backends.common import (
    cpu_fp32,
    model_metadata,
    module_fingerprint,
    OUTPUT_NAME,
    read_sidecar,
    Runner,
)
from depth_anything_ros.backends.onnx_export import cached_onnx, DEFAULT_OPSET
from depth_anything_ros.params import spec

log = logging.getLogger(__name__)

# Our precision names -> OpenVINO INFERENCE_PRECISION_HINT values; the CPU plugin's default is
# bf16 where the CPU supports it, so fp32 must always be requested explicitly.
_OV_PRECISION = {'fp32': 'f32', 'bf16': 'bf16', 'fp16': 'f16'}
_CAPABILITY = {'bf16': 'BF16', 'fp16': 'FP16'}
# Compiled models kept, one per input shape: the node parameter's default.
ENGINE_CACHE_SIZE: int = spec('engine_cache_size').default


def openvino_config(precision: str, num_threads: int | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the compile properties for ``precision`` with ``num_threads`` CPU threads."""
    config: dict[str, Any] = {
        'INFERENCE_PRECISION_HINT': _OV_PRECISION[precision],
        'PERFORMANCE_HINT': 'LATENCY',  # one stream: lowest per-frame latency (a camera node)
        'INFERENCE_NUM_THREADS': int(num_threads or torch.get_num_threads()),
    }
    config.update(extra or {})
    return config


class OpenVINORunner(Runner):
    """Run DA-V2 with OpenVINO; compiled models are cached per input shape (B, H, W)."""

    def __init__(self, source: nn.Module | Path, *, precision: str = 'fp32',
                 cache_dir: Path, ov_device: str = 'CPU', num_threads: int | None = None,
                 static_shapes: bool | None = None,
                 engine_cache_size: int = ENGINE_CACHE_SIZE,
                 opset: int = DEFAULT_OPSET, ov_config: dict[str, Any] | None = None) -> None:
        """Prepare the runner; compilation happens on the first call for each shape.

        Args:
            source: torch module, or path to an exported ``.onnx`` / ``.xml`` (with sidecar).
            precision: ``fp32`` (exact), ``bf16`` (AMX) or ``fp16`` (Intel GPUs).
            cache_dir: where static ONNX exports of a module are kept.
            ov_device: OpenVINO device (``CPU``, ``GPU``, ``NPU``, ``AUTO``).
            num_threads: ``INFERENCE_NUM_THREADS``; default ``torch.get_num_threads()``.
            static_shapes: one static compiled model per input shape (default; ~3 s compile
                each for ViT-S) or one dynamic graph for all shapes (faster start, slower frames).
            engine_cache_size: compiled static models kept; a new shape past it drops the
                least recently used one.
            opset: ONNX opset of the internal exports.
            ov_config: extra OpenVINO compile properties.
        """
        self._ov = import_runtime('openvino')
        self._core = self._ov.Core()
        if isinstance(source, nn.Module):
            metadata = model_metadata(source)
        else:
            metadata = read_sidecar(Path(source), required=True)
        super().__init__(backend='openvino', precision=precision, metadata=metadata)
        self._check_precision(ov_device, precision)
        self.ov_device = ov_device
        self.cache_dir = Path(cache_dir)
        # OpenVINO keeps compiled blobs there (keyed by model, device and properties): a warm
        # start loads the blob instead of compiling again.
        self.config = openvino_config(precision, num_threads,
                                      {'CACHE_DIR': str(self.cache_dir / 'openvino'),
                                       **(ov_config or {})})
        self._opset = opset
        self._lock = threading.Lock()
        # shape -> infer request, least recently used first
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._written: dict[tuple[int, ...], set[Path]] = {}  # shape -> files its compile wrote
        self._module: nn.Module | None = None
        self._file_model: Any = None  # a dynamic-H/W model read from a file
        self._dynamic_request: Any = None
        self._static_shape: tuple[int, ...] | None = None
        self.static_shapes = True if static_shapes is None else bool(static_shapes)
        if int(engine_cache_size) < 1:
            raise ValueError(f'engine_cache_size must be at least 1, got {engine_cache_size}')
        self.engine_cache_size = int(engine_cache_size)
        if isinstance(source, nn.Module) and self.output_names != [OUTPUT_NAME]:
            # A graph of several outputs (and perhaps a views axis): one dynamic export,
            # reshaped to each input shape (see onnx_export.graph_of).
            module = cpu_fp32(source)
            self._load_file(cached_onnx(module, self.cache_dir, shape=None, opset=opset))
        elif isinstance(source, nn.Module):
            self._module = cpu_fp32(source)
            self._fingerprint = module_fingerprint(self._module, self.cache_dir)
        else:
            self._load_file(Path(source))

    def _check_precision(self, ov_device: str, precision: str) -> None:
        if precision not in _CAPABILITY or ov_device not in self._core.available_devices:
            return
        caps = self._core.get_property(ov_device, 'OPTIMIZATION_CAPABILITIES')
        if _CAPABILITY[precision] not in caps:
            raise ValueError(
                f'OpenVINO device {ov_device} has no {precision} support (capabilities: '
                f'{", ".join(caps)}); use precision "fp32" on this machine')

    def _compile(self, ov_model: Any) -> Any:
        """Compile a model, or a file path (then a cached blob skips even reading the file)."""
        start = time.perf_counter()
        compiled = self._core.compile_model(ov_model, self.ov_device, self.config)
        log.info('OpenVINO compiled %s on %s (%s, %d threads) in %.2f s',
                 compiled.inputs[0].get_partial_shape(), self.ov_device,
                 self.config['INFERENCE_PRECISION_HINT'], self.config['INFERENCE_NUM_THREADS'],
                 time.perf_counter() - start)
        return compiled.create_infer_request()

    def _load_file(self, path: Path) -> None:
        ov_model = self._core.read_model(str(path))
        shape = ov_model.inputs[0].get_partial_shape()
        if shape.is_static:
            self._static_shape = tuple(int(d.get_length()) for d in shape)
            self._compiled[self._static_shape] = self._compile(ov_model)
        elif self.static_shapes:
            self._file_model = ov_model  # compiled per shape on first use
        else:
            self._dynamic_request = self._compile(ov_model)

    def _request(self, shape: tuple[int, ...]) -> Any:
        request = self._compiled.get(shape)
        if request is not None:
            self._compiled.move_to_end(shape)   # most recently used
            return request
        if self._dynamic_request is not None:
            return self._dynamic_request
        if self._file_model is not None:
            self._make_room()
            before = self._artifacts()
            ov_model = self._file_model.clone()
            ov_model.reshape({ov_model.inputs[0]: list(shape)})
            return self._keep(shape, self._compile(ov_model), before)
        if self._module is None:
            raise ValueError(
                f'this OpenVINO model was exported for input {list(self._static_shape or ())}, '
                f'got {list(shape)}; export with --dynamic or for this size'
                + (' and view count' if len(shape) == 5 else ''))
        batch, _, height, width = shape
        if self.static_shapes:
            self._make_room()
        before = self._artifacts()
        onnx_path = cached_onnx(self._module, self.cache_dir,
                                shape=(batch, height, width) if self.static_shapes else None,
                                opset=self._opset, fingerprint=self._fingerprint)
        request = self._compile(str(onnx_path))
        if not self.static_shapes:
            self._dynamic_request = request
            return request
        return self._keep(shape, request, before)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Input shapes with a compiled model held, least recently used first."""
        return list(self._compiled)

    def _make_room(self) -> None:
        """Drop the least recently used compiled models until one more fits the bound.

        Done before compiling the new one, so that the process never holds more than
        ``engine_cache_size`` of them, not even during the compile.
        """
        while len(self._compiled) >= self.engine_cache_size:
            old, _ = self._compiled.popitem(last=False)
            written = self._written.pop(old, set())
            for path in written:
                path.unlink(missing_ok=True)
            log.info('OpenVINO: dropped the compiled model for %s (engine_cache_size %d)%s',
                     list(old), self.engine_cache_size,
                     f' and the {len(written)} cache file(s) it wrote' if written else '')

    def _artifacts(self) -> set[Path]:
        """Files of the disk caches a compile adds to: the static exports, OpenVINO's blobs."""
        folders = [Path(self.config['CACHE_DIR'])] if self.config.get('CACHE_DIR') else []
        if self._module is not None:
            folders.append(self.cache_dir / self._fingerprint[:16])   # see cached_onnx
        return {p for folder in folders if folder.is_dir() for p in folder.iterdir()}

    def _keep(self, shape: tuple[int, ...], request: Any, before: set[Path]) -> Any:
        """Cache a compiled request as the most recently used, with the files it wrote."""
        self._make_room()
        self._compiled[shape] = request
        self._written[shape] = self._artifacts() - before
        return request

    def warmup(self, height: int, width: int, batch: int = 1) -> None:
        """Export/compile for one input size ahead of the first frame."""
        self(torch.zeros(batch, 3, height, width))

    def __call__(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Run ``x`` [B,3,H,W] float32 (normalised); return [B,H,W] float32 on x's device.

        A graph with several outputs returns a mapping of them; one with a views axis takes
        [B,S,3,H,W] too (see :meth:`Runner.graph_input`).
        """
        xg, added = self.graph_input(x)
        device = x.device
        array = np.ascontiguousarray(xg.detach().to('cpu', torch.float32).numpy())
        with self._lock:
            request = self._request(tuple(array.shape))
            result = request.infer({0: array}, share_inputs=True, share_outputs=True)
            # The output buffers belong to the request and are reused by the next call: copy.
            outs = [np.array(result[i], dtype=np.float32, copy=True)
                    for i in range(len(self.output_names))]
        return self.graph_output([torch.from_numpy(o).to(device) for o in outs], added)


def create(model: nn.Module | Path, *, device: torch.device, precision: str, cache_dir: Path,
           **options: Any) -> OpenVINORunner:
    """Build an :class:`OpenVINORunner` (``make_runner`` entry point)."""
    if device.type == 'cuda':
        raise ValueError('OpenVINO runs on Intel CPUs/GPUs/NPUs, not CUDA devices; use the '
                         '"tensorrt" or "onnxruntime" backend on NVIDIA GPUs')
    return OpenVINORunner(model, precision=precision, cache_dir=cache_dir, **options)
