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

"""Where tensors run: device resolution, native bf16 support and the training AMP dtype.

The one home of these rules: the estimator, the training loops and the parameter validation
(through :func:`~depth_anything_ros.vocabulary.device_name_error`) use them.
"""

from __future__ import annotations

import torch

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.vocabulary import AMP_CHOICES, AUTO, device_name_error

__all__ = ['amp_dtype', 'cuda_bf16_native', 'resolve_device']


def resolve_device(device: str | torch.device = AUTO) -> torch.device:
    """Return the torch device for a device name; ValueError says why one cannot be used.

    ``auto`` is CUDA when available, else the CPU. ``mps`` (Apple-silicon GPU) and ``cuda`` /
    ``cuda:N`` are checked against what this machine has.
    """
    if isinstance(device, torch.device):
        device = str(device)
    error = device_name_error(device)
    if error is not None:
        raise InvalidInputError(error)
    if device == AUTO:
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dev = torch.device(device)
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise InvalidInputError(f'device {device!r} requested but CUDA is not available '
                                    'here; use device "cpu" or "auto"')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidInputError(f'device {device!r} does not exist: '
                                    f'{torch.cuda.device_count()} CUDA device(s) present')
    elif dev.type == 'mps' and not torch.backends.mps.is_available():
        raise InvalidInputError(f'device {device!r} requested but MPS (the Apple-silicon GPU) '
                                'is not available here; use device "cpu" or "auto"')
    return dev


def cuda_bf16_native(device: torch.device) -> bool:
    """Whether CUDA ``device`` computes in bf16 natively (compute capability 8.0+, or ROCm).

    ``torch.cuda.is_bf16_supported()`` asks about the current device, not ``device``, and
    since torch 2.4 also says yes where bf16 is only emulated (Volta, Turing, Jetson Xavier),
    which runs slower than fp32 and which TensorRT cannot build. The rule itself (ROCm
    included) is ``backends.select.Hardware.cuda_bf16``.
    """
    from depth_anything_ros.backends.select import gpu_hardware
    return gpu_hardware(device).cuda_bf16


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of a training loop for ``amp`` on ``device`` (None: full precision).

    ``auto``: bf16 where CUDA computes it natively, else fp16, on CUDA; full precision elsewhere.
    ``fp16`` needs CUDA (its loss scaler); ``bf16`` runs anywhere autocast supports it.
    """
    if amp not in AMP_CHOICES:
        raise InvalidInputError(f'amp must be one of {", ".join(AMP_CHOICES)}, got {amp!r}')
    if amp == 'none' or (amp == AUTO and device.type != 'cuda'):
        return None
    if amp == 'fp16' and device.type != 'cuda':
        raise InvalidInputError(f'amp fp16 needs a CUDA device, not {device}; use amp bf16 or '
                                'none')
    if amp == AUTO:
        return torch.bfloat16 if cuda_bf16_native(device) else torch.float16
    return torch.bfloat16 if amp == 'bf16' else torch.float16


def exact_fp32_math() -> str:
    """Turn TF32 off for torch's CUDA matmuls and cuDNN convolutions; return what was done.

    On Ampere and newer GPUs (compute capability 8.0+) torch runs cuDNN convolutions in TF32 by
    default (10-bit mantissa inputs), so "fp32" there is not bit-faithful fp32. ``exact`` asks
    for true fp32. The switches are process-wide, as torch defines them.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return ('TF32 turned off for CUDA matmuls and cuDNN convolutions (true fp32 on Ampere and '
            'newer GPUs; process-wide)')
