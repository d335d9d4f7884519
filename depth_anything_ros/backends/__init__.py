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

"""Inference backends: one callable ``Runner`` per runtime, built by :func:`make_runner`.

A runner maps a normalised image batch ``[B, 3, H, W]`` float32 (H, W multiples of 14) to the
network output ``[B, H, W]`` float32 — relative disparity or metres, exactly like the torch
model's ``forward``. Pre- and post-processing stay in the estimator, so every backend returns the
same depth semantics.

Runtimes are imported lazily: a CPU-only robot needs no CUDA stack, a GPU robot no OpenVINO.
"""

from __future__ import annotations

from collections.abc import Collection
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from depth_anything_ros.backends.common import (
    BackendUnavailableError,
    default_cache_dir,
    PRECISIONS,
    Runner,
)

__all__ = [
    'BACKENDS', 'PRECISIONS', 'BackendUnavailableError', 'Runner',
    'available_backends', 'default_cache_dir', 'make_runner',
]

# backend name -> (module that implements it, runtime module it needs, install hint); torch runs
# in the estimator itself (no runner).
BACKENDS: dict[str, tuple[str, str, str]] = {
    'torch': ('depth_anything_ros.estimator', 'torch', 'pip install torch'),
    'onnxruntime': ('depth_anything_ros.backends.onnxruntime_runner', 'onnxruntime',
                    'pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA/TensorRT EPs)'),
    'openvino': ('depth_anything_ros.backends.openvino_runner', 'openvino',
                 'pip install openvino'),
    'tensorrt': ('depth_anything_ros.backends.tensorrt_runner', 'tensorrt',
                 'pip install tensorrt (x86_64) or apt install python3-libnvinfer '
                 '(JetPack); it needs an NVIDIA GPU with CUDA'),
}


def import_runtime(backend: str) -> ModuleType:
    """Import the runtime a backend needs, or raise an error saying what to install."""
    if backend not in BACKENDS:
        raise ValueError(f'unknown backend {backend!r}; choose from {", ".join(BACKENDS)}')
    _, module, hint = BACKENDS[backend]
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as exc:  # OSError: a native library failed to load
        raise BackendUnavailableError(
            f'backend {backend!r} needs the Python module {module!r}, which cannot be imported '
            f'({exc}); install it: {hint}') from exc


def available_backends(names: Collection[str] | None = None) -> list[str]:
    """Return the backends (of ``names``; default all) whose runtime imports on this machine."""
    found = []
    for name in BACKENDS if names is None else [n for n in BACKENDS if n in names]:
        try:
            import_runtime(name)
        except BackendUnavailableError:
            continue
        found.append(name)
    return found


# Backends that build TensorRT engines and so take an optimisation profile.
_PROFILED = ('tensorrt', 'onnxruntime')


def make_runner(backend: str, model: nn.Module | str | Path, *,
                device: torch.device | str = 'cpu', precision: str = 'fp32',
                cache_dir: Path | None = None, profile: tuple | None = None,
                **options: Any) -> Runner:
    """Build a runner for ``backend`` from a torch module or an exported file.

    The torch backend needs no runner: the estimator runs the module itself.

    Args:
        backend: ``onnxruntime``, ``openvino`` or ``tensorrt``.
        model: a DA-V2 ``nn.Module`` (exported/converted internally and cached on disk by a
            hash of its weights and the export options) or a path to an exported file
            (``.onnx``; ``.xml`` for OpenVINO; ``.engine``/``.plan`` for TensorRT) with its
            sidecar (``model.onnx`` -> ``model.json``).
        device: torch device the caller works on (or ``auto``); ``cuda`` selects GPU execution
            where the backend has it.
        precision: ``fp32`` (exact), ``bf16`` (OpenVINO on AMX/AVX512-bf16 CPUs, torch) or
            ``fp16`` (TensorRT, onnxruntime's TensorRT EP, torch on CUDA).
        cache_dir: where exported/compiled artifacts are kept; default
            ``~/.cache/depth_anything_ros/engines``.
        profile: TensorRT optimisation profile ``(min, opt, max)``, each (batch, height,
            width) (``vocabulary.trt_profile``), for ``tensorrt`` and onnxruntime's TensorRT
            provider; the other backends ignore it.
        **options: backend-specific options (see each runner, e.g. ``num_threads``,
            ``static_shapes``, ``providers``, ``min_shape``/``opt_shape``/``max_shape``).

    Raises:
        ValueError: unknown backend/precision, or a file the backend cannot load.
        BackendUnavailableError: the runtime is not installed (the message names the package).
        RuntimeError: the installed runtime lacks an API the backend calls (the message names
            the runtime, its version and the missing attribute).
    """
    from depth_anything_ros.backends.select import FILE_BACKENDS
    if precision not in PRECISIONS:
        raise ValueError(f'unknown precision {precision!r}; choose from {", ".join(PRECISIONS)}')
    if backend == 'torch':
        raise ValueError('backend "torch" has no runner: run the torch model in '
                         'depth_anything_ros.estimator.DepthEstimator')
    import_runtime(backend)  # fail early, with the install hint, before any export work
    if isinstance(model, (str, Path)):
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f'exported model {path} does not exist; create it with '
                                    '"depth-anything-ros export"')
        loaders = FILE_BACKENDS.get(path.suffix.lower(), ())
        if backend not in loaders:
            raise ValueError(f'backend {backend!r} cannot load {path.name}: it loads in '
                             f'{", ".join(loaders) or "no runtime"}; exported files are '
                             f'{", ".join(FILE_BACKENDS)}')
    elif not isinstance(model, nn.Module):
        raise TypeError(f'model must be an nn.Module or a path, got {type(model).__name__}')
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()

    if str(device) == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if profile is not None and backend in _PROFILED:
        options.update(zip(('min_shape', 'opt_shape', 'max_shape'), profile))
    module = importlib.import_module(BACKENDS[backend][0])
    try:
        return module.create(model, device=torch.device(device), precision=precision,
                             cache_dir=cache_dir, **options)
    except AttributeError as exc:
        # An API the runtime moved or removed (a newer major release): a start-up error that
        # says which, not an AttributeError out of the middle of a build.
        runtime = import_runtime(backend)
        raise RuntimeError(
            f'backend {backend!r}: the installed {BACKENDS[backend][1]} '
            f'{getattr(runtime, "__version__", "(unknown version)")} lacks an API this '
            f'package calls ({exc}); use another backend or a supported {BACKENDS[backend][1]}'
            ' (docs/backends.md)') from exc
