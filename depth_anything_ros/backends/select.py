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

"""``backend: auto`` / ``precision: auto``: the fastest accurate runtime this machine has.

:func:`choose` is a pure function of what is installed and what the hardware can do (both
passed in, so any machine can be described in a test); :func:`detect_hardware` gathers the
facts of this one. The order, fastest first, at a p99 relative error of at most ~3 % against
fp32 (docs/backends.md has the measurements):

* NVIDIA GPU: TensorRT fp16 when ``tensorrt`` imports, else torch CUDA fp16 (bf16 on compute
  capability 8.0+, which computes it natively and cannot overflow like fp16); this GPU order is
  the expected one, not yet measured (``tools/gpu_smoke.sh`` measures it);
* CPU: OpenVINO bf16 on CPUs with AMX or AVX512-BF16, else OpenVINO fp32, else torch (bf16
  where the CPU computes it natively, else fp32).

An explicit backend or precision is always obeyed, or refused with the reason; ``exact``
forces the bit-faithful fp32 torch path. An exported file constrains the backend: ``.engine``
/ ``.plan`` run in TensorRT only, ``.xml`` in OpenVINO only, ``.onnx`` in any runtime but torch.

This is the one rule: the estimator (and through it the node, every command and the benchmark)
asks :func:`choose` for every request, explicit or ``auto``, and its messages are the ones users
see. :func:`choose_here` gathers this machine's facts and asks it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
import os
from pathlib import Path
import platform
from typing import NamedTuple

from depth_anything_ros.vocabulary import AUTO, cuda_bf16_capable, PRECISIONS

# CPU feature flags (/proc/cpuinfo) that give native bf16 matrix maths.
BF16_CPU_FLAGS = frozenset({'amx_bf16', 'avx512_bf16'})
# Runtimes that can load each exported-file suffix, fastest first (the one suffix table).
FILE_BACKENDS = {'.onnx': ('tensorrt', 'openvino', 'onnxruntime'), '.xml': ('openvino',),
                 '.engine': ('tensorrt',), '.plan': ('tensorrt',)}
# What ``depth-anything-ros export --format`` writes: format -> suffix (a key of FILE_BACKENDS).
EXPORT_FORMATS = {'onnx': '.onnx', 'openvino': '.xml'}


def is_exported_file(model: object) -> bool:
    """Whether ``model`` is a path to an exported network (a suffix of FILE_BACKENDS)."""
    return isinstance(model, (str, os.PathLike)) and \
        Path(model).suffix.lower() in FILE_BACKENDS


# Runtime -> the devices it runs on here (torch device types).
_DEVICES = {'torch': ('cuda', 'cpu', 'mps'), 'tensorrt': ('cuda',), 'openvino': ('cpu',),
            'onnxruntime': ('cuda', 'cpu')}


@dataclass(frozen=True)
class Hardware:
    """What the inference device can do.

    ``device`` is ``cpu``, ``cuda`` or another torch device type (``mps``: torch only);
    ``cuda_capability`` the compute capability of the CUDA device (None without one);
    ``cpu_flags`` the CPU's feature flags as /proc/cpuinfo lists them; ``rocm`` True when the
    ``cuda`` device is an AMD GPU under ROCm (torch calls it ``cuda`` too).
    """

    device: str = 'cpu'
    cuda_capability: tuple[int, int] | None = None
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    rocm: bool = False

    @property
    def cpu_bf16(self) -> bool:
        """True when the CPU computes bf16 natively (AMX or AVX512-BF16)."""
        return bool(self.cpu_flags & BF16_CPU_FLAGS)

    @property
    def cuda_bf16(self) -> bool:
        """True when the CUDA device computes bf16 natively (capability 8.0+, or ROCm).

        The one home of the ROCm rule: the GPUs ROCm supports compute bf16 natively, whatever
        compute capability torch reports for them.
        """
        if self.device != 'cuda':
            return False
        return self.rocm or (self.cuda_capability is not None
                             and cuda_bf16_capable(self.cuda_capability))


class Choice(NamedTuple):
    """The runtime and precision to use, and why (logged at start-up)."""

    backend: str
    precision: str
    reason: str


class ModelSupport(NamedTuple):
    """What a model family declares it runs on (its registry entry), named by ``title``."""

    title: str
    backends: tuple[str, ...]
    precisions: tuple[str, ...]


def choose(installed: Collection[str], hardware: Hardware, *, backend: str = AUTO,
           precision: str = AUTO, exact: bool = False,
           model_file: str | Path | None = None,
           support: ModelSupport | None = None) -> Choice:
    """Pick the backend and precision for ``hardware`` from the ``installed`` runtimes.

    Args:
        installed: backends whose runtime imports here (``torch`` is always assumed).
        hardware: the inference device's facts (see :func:`detect_hardware`).
        backend: ``auto`` or a backend name, obeyed when it can run here.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``, obeyed when it can run here.
        exact: force the bit-faithful fp32 torch path (needs a torch checkpoint).
        model_file: path of an exported model (``.onnx``, ``.xml``, ``.engine``/``.plan``),
            which limits the runtimes that can load it; None for a torch checkpoint.
        support: the backends and precisions the model's family runs on (None: any).

    Raises:
        ValueError: the explicit request cannot run here (the message says why and what to
            change).
    """
    if precision != AUTO and precision not in PRECISIONS:
        raise ValueError(f'unknown precision {precision!r}; use auto or one of '
                         f'{", ".join(PRECISIONS)}')
    for what, value, allowed in (('backend', backend, support and support.backends),
                                 ('precision', precision, support and support.precisions)):
        if allowed and value != AUTO and value not in allowed:
            raise ValueError(f'{support.title} models run with {what} {", ".join(allowed)}, '
                             f'not {value}; set {what} to one of them')
    if support is not None:
        installed = [b for b in installed if b in support.backends]
    installed = set(installed) | ({'torch'} if support is None or 'torch' in support.backends
                                  else set())
    suffix = Path(model_file).suffix.lower() if model_file is not None else None
    loadable = FILE_BACKENDS.get(suffix, ('torch',)) if suffix else tuple(_DEVICES)
    if suffix and suffix not in FILE_BACKENDS:
        raise ValueError(f'{model_file}: cannot tell the runtime from the suffix {suffix!r}; '
                         f'use one of {", ".join(FILE_BACKENDS)} or a torch checkpoint')
    if exact:
        if suffix:
            raise ValueError(f'exact runs the torch model in fp32, but {Path(model_file).name} '
                             'is an exported file; give the torch checkpoint or set exact '
                             'false')
        if backend not in (AUTO, 'torch') or precision not in (AUTO, 'fp32'):
            raise ValueError(f'exact forces torch fp32; drop backend {backend!r} / precision '
                             f'{precision!r} or set exact false')
        if support is not None and ('torch' not in support.backends
                                    or 'fp32' not in support.precisions):
            raise ValueError(f'exact runs torch fp32, which {support.title} models do not run; '
                             'set exact false')
        return Choice('torch', 'fp32', 'exact: bit-faithful fp32 torch path')
    if backend != AUTO:
        _check_backend(backend, installed, hardware, loadable, model_file)
        candidates = [backend]
    else:
        candidates = [b for b in _preference(hardware) if b in installed and b in loadable]
        if not candidates:
            what = Path(model_file).name if model_file is not None else f'{support.title} models'
            needs = [b for b in loadable if support is None or b in support.backends]
            raise ValueError(f'no installed runtime can load {what} on {hardware.device}: it '
                             f'needs one of {", ".join(needs)}')
    refusals = []
    for name in candidates:
        options = [o for o in _precisions(name, hardware)
                   if support is None or o[0] in support.precisions]
        if precision == AUTO and options:
            return Choice(name, options[0][0], _reason(name, options[0], backend == AUTO))
        for prec, why in options:
            if prec == precision:
                return Choice(name, prec, _reason(name, (prec, why), backend == AUTO))
        refusals.append(f'{name} offers {", ".join(p for p, _ in options) or "none of its"}')
    raise ValueError(f'precision {precision!r} cannot run on {_describe(hardware)}: '
                     + '; '.join(refusals) + _precision_hint(precision, hardware))


def _preference(hw: Hardware) -> list[str]:
    """Backends fastest first for the device type (measured order, docs/backends.md)."""
    if hw.device == 'cuda' and hw.rocm:
        return ['torch']   # TensorRT and onnxruntime's CUDA provider need an NVIDIA GPU
    if hw.device == 'cuda':
        return ['tensorrt', 'torch', 'onnxruntime']
    if hw.device == 'cpu':
        return ['openvino', 'torch', 'onnxruntime']
    return ['torch']


def _precisions(backend: str, hw: Hardware) -> list[tuple[str, str]]:
    """Return the precisions ``backend`` runs on ``hw``, fastest first, with reasons."""
    if hw.device == 'cuda':
        if backend == 'tensorrt':
            out = [('fp16', 'fp16 engine (tensor cores)')]
            if hw.cuda_bf16:
                out.append(('bf16', 'bf16 engine'))
            return out + [('fp32', 'fp32 engine')]
        if backend == 'torch':
            if hw.cuda_bf16:
                return [('bf16', 'native bf16 (compute capability 8.0+)'),
                        ('fp16', 'fp16 autocast'), ('fp32', 'fp32')]
            return [('fp16', 'fp16 autocast (no native bf16 below compute capability 8.0)'),
                    ('fp32', 'fp32')]
        return [('fp32', 'fp32 (fp16 needs the TensorRT execution provider)'),
                ('fp16', 'fp16 via the TensorRT execution provider')]
    if backend == 'openvino':
        if hw.cpu_bf16:
            return [('bf16', 'bf16 on AMX / AVX512-BF16'), ('fp32', 'fp32')]
        return [('fp32', 'fp32 (this CPU has no AMX / AVX512-BF16 for bf16)')]
    if backend == 'torch' and hw.device == 'cpu':
        if hw.cpu_bf16:
            return [('bf16', 'bf16 autocast on AMX / AVX512-BF16'), ('fp32', 'fp32')]
        return [('fp32', 'fp32 (this CPU has no native bf16)'),
                ('bf16', 'bf16 autocast, emulated: slower than fp32 on this CPU')]
    if backend == 'torch' and hw.device == 'mps':
        return [('fp32', 'fp32'), ('fp16', 'fp16 autocast on the Apple GPU')]
    return [('fp32', 'fp32')]


def _check_backend(backend: str, installed: set[str], hw: Hardware,
                   loadable: Collection[str], model_file: str | Path | None) -> None:
    if backend not in _DEVICES:
        raise ValueError(f'unknown backend {backend!r}; use auto or one of '
                         f'{", ".join(_DEVICES)}')
    if backend not in loadable:
        what = Path(model_file).name if model_file is not None else 'a torch checkpoint'
        raise ValueError(f'backend {backend!r} cannot load {what}: it loads in '
                         f'{", ".join(loadable)}; set backend auto or one of those')
    if backend not in installed:
        from depth_anything_ros.backends import BACKENDS
        raise ValueError(f'backend {backend!r} is not installed here; {BACKENDS[backend][2]}, '
                         'or set backend auto')
    if hw.device not in _DEVICES[backend] or (hw.rocm and backend != 'torch'):
        where = ' or '.join('an NVIDIA GPU (cuda)' if d == 'cuda' else d
                            for d in _DEVICES[backend])
        raise ValueError(f'backend {backend!r} does not run on {_describe(hw)}; it runs on '
                         f'{where} (set device or backend auto)')


def _reason(backend: str, option: tuple[str, str], automatic: bool) -> str:
    source = 'fastest installed runtime for this device' if automatic else 'requested backend'
    return f'{backend} {option[0]}: {source}; {option[1]}'


def _describe(hw: Hardware) -> str:
    if hw.device == 'cuda' and hw.rocm:
        return 'a ROCm GPU'
    if hw.device == 'cuda':
        cap = hw.cuda_capability
        return f'a CUDA device (compute capability {cap[0]}.{cap[1]})' if cap else 'CUDA'
    if hw.device == 'cpu':
        return 'this CPU' + (' (AMX / AVX512-BF16)' if hw.cpu_bf16 else ' (no native bf16)')
    return f'device {hw.device}'


def _precision_hint(precision: str, hw: Hardware) -> str:
    if precision == 'fp16' and hw.device == 'cpu':
        return ' (fp16 needs a CUDA GPU: CPUs have no fast fp16 path; use bf16 or fp32)'
    if precision == 'bf16' and hw.device == 'cuda':
        return ' (bf16 needs compute capability 8.0+; use fp16)'
    if precision == 'bf16' and hw.device == 'mps':
        return ' (use fp16 or fp32 on the Apple GPU)'
    return ''


def cpuinfo(field: str) -> str | None:
    """Return the first ``field`` value of /proc/cpuinfo (e.g. ``model name``), else None."""
    try:
        with open('/proc/cpuinfo') as f:
            return next((line.split(':', 1)[1].strip() for line in f
                         if line.startswith(field)), None)
    except OSError:
        return None


def cpu_flags() -> frozenset[str]:
    """Return the CPU feature flags of /proc/cpuinfo (empty where there is none)."""
    return frozenset((cpuinfo('flags') or '').split())


def detect_hardware(device: str = 'cpu') -> Hardware:
    """Return the facts of this machine for inference on torch ``device`` (resolved).

    For a CUDA device the compute capability is that of the device ``device`` names (plain
    ``cuda``: the current one), not of whichever GPU is current.
    """
    import torch
    dev = torch.device(device)
    if dev.type == 'cuda' and torch.cuda.is_available():
        return gpu_hardware(dev, cpu_flags())
    return Hardware(device=dev.type, cpu_flags=cpu_flags())


def gpu_hardware(device: object, flags: frozenset[str] = frozenset()) -> Hardware:
    """Return the facts of CUDA (or ROCm) ``device``: its own compute capability, ROCm or not."""
    import torch
    return Hardware(device='cuda',
                    cuda_capability=tuple(torch.cuda.get_device_capability(device))[:2],
                    cpu_flags=flags, rocm=bool(torch.version.hip))


def installed_backends(names: Collection[str] | None = None) -> list[str]:
    """Return the backends (of ``names``; default all) whose runtime imports here.

    Asking only about the backend a request names keeps an explicit ``backend: torch`` from
    importing OpenVINO, onnxruntime and TensorRT just to learn they are there.
    """
    from depth_anything_ros.backends import available_backends
    return available_backends(names)


def choose_here(device: str, *, backend: str = AUTO, precision: str = AUTO, exact: bool = False,
                model: object = None, support: ModelSupport | None = None) -> Choice:
    """:func:`choose` for torch ``device`` (resolved) of this machine.

    ``model`` is what will run: an exported file's path constrains the backend; anything else
    (a module, a checkpoint) is a torch checkpoint. ``support``: what its family runs on.

    Raises:
        ValueError: the request cannot run here (the message says why and what to change).
    """
    from depth_anything_ros.vocabulary import BACKENDS
    names = None if backend == AUTO else [backend] if backend in BACKENDS else []
    return choose(installed_backends(names), detect_hardware(device), backend=backend,
                  precision=precision, exact=exact,
                  model_file=model if is_exported_file(model) else None, support=support)


def cpu_name() -> str:
    """CPU model string from /proc/cpuinfo (Linux), else platform.processor()."""
    return cpuinfo('model name') or platform.processor() or 'unknown'
