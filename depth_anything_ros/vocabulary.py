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

"""The package's shared words, defined once: runtimes, precisions, devices, the ViT patch size.

Plain Python (no torch, no ROS): the parameter schema, the launch arguments, the model, the
backends and the training code all import from here.
"""

from __future__ import annotations

import math
import re

__all__ = ['ALIGNMENTS', 'AMP_CHOICES', 'ANCHORED', 'AUTO', 'BACKENDS', 'DEVICE_CHOICES',
           'DEVICE_NAMES', 'PATCH_SIZE', 'PRECISIONS', 'TEMPORAL_MODES', 'TRT_MIN_HW',
           'device_name_error',
           'parse_hw', 'trt_profile', 'transform_values']

#: "Pick the best for this machine" wherever a backend, precision or device is chosen.
AUTO = 'auto'
#: Inference runtimes (``backend`` parameter, ``--backend``).
BACKENDS: tuple[str, ...] = ('torch', 'openvino', 'onnxruntime', 'tensorrt')
#: Inference precisions (``precision`` parameter, ``--precision``).
PRECISIONS: tuple[str, ...] = ('fp32', 'fp16', 'bf16')
#: Mixed-precision modes of the training loops (``amp``): auto = bf16, else fp16, on CUDA.
AMP_CHOICES: tuple[str, ...] = ('auto', 'none', 'bf16', 'fp16')
#: Device names, as the ``device`` parameter and the training configs spell them (N: an index).
DEVICE_NAMES: tuple[str, ...] = ('auto', 'cpu', 'cuda', 'cuda:N', 'mps')
#: The same in words, for help texts and messages.
DEVICE_CHOICES = ', '.join(DEVICE_NAMES[:-1]) + ' or ' + DEVICE_NAMES[-1]
#: ViT patch side in pixels: network inputs are multiples of it (DINOv2 /14 encoders).
PATCH_SIZE = 14


def cuda_bf16_capable(capability: tuple[int, int]) -> bool:
    """Whether a CUDA device of compute ``capability`` computes bf16 natively (8.0+, Ampere on).

    Below it torch only emulates bf16 (slower than fp32, and TensorRT cannot build it).
    """
    return tuple(capability)[:2] >= (8, 0)


#: How a relative model's disparity becomes metres (``alignment`` parameter, alignment.py).
ALIGNMENTS: tuple[str, ...] = ('none', 'fixed', 'sparse', 'lidar', 'ground')
#: The alignments fitted per frame to metric anchors.
ANCHORED: tuple[str, ...] = ('sparse', 'lidar', 'ground')
#: Temporal consistency over frames (``temporal`` parameter, ``--temporal``): none; fuse:
#: ego-motion-compensated fusion of any model's output (core/temporal.py); vda: a stateful
#: (Video Depth Anything) model's own per-camera stream state. See docs/temporal.md.
TEMPORAL_MODES: tuple[str, ...] = ('none', 'fuse', 'vda')


def transform_values(text: str) -> tuple[float, ...] | None:
    """Return the 6 or 7 numbers of an ``anchor_transform`` text, or None when it is empty.

    ``'x y z yaw pitch roll'`` (metres, radians) or ``'x y z qx qy qz qw'``, as
    ``static_transform_publisher`` takes them (alignment.parse_transform builds the matrix).

    Raises:
        ValueError: not 6 or 7 finite numbers.

    """
    parts = text.replace(',', ' ').split()
    if not parts:
        return None
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) not in (6, 7) or not all(math.isfinite(v) for v in values):
        raise ValueError(f'anchor_transform {text!r}: expected "x y z yaw pitch roll" or '
                         '"x y z qx qy qz qw" (metres, radians), the pose of the anchor frame in '
                         'the camera optical frame')
    return values


_DEVICE = re.compile(r'^(auto|cpu|mps|cuda(:\d+)?)$')


def device_name_error(device: str) -> str | None:
    """Return why ``device`` is not a device name (None when it is one)."""
    if isinstance(device, str) and _DEVICE.match(device):
        return None
    return f'device must be {DEVICE_CHOICES}, got {device!r}'


#: Smallest network input of a TensorRT optimisation profile (the smallest ``input_size``).
TRT_MIN_HW = (70, 70)
_HW = re.compile(r'^\s*(\d+)\s*[xX]\s*(\d+)\s*$')


def parse_hw(text: str, name: str = 'shape') -> tuple[int, int]:
    """Return ``(height, width)`` of a ``'HxW'`` network input size (multiples of 14).

    Raises:
        ValueError: not ``HxW`` with both sides positive multiples of the patch size.

    """
    match = _HW.match(text) if isinstance(text, str) else None
    hw = (int(match.group(1)), int(match.group(2))) if match else None
    if hw is None or min(hw) <= 0 or hw[0] % PATCH_SIZE or hw[1] % PATCH_SIZE:
        raise ValueError(f'{name} must be HEIGHTxWIDTH of the network input, both positive '
                         f'multiples of {PATCH_SIZE} (e.g. 518x686), got {text!r}')
    return hw


def trt_profile(max_batch: int, opt_shape: str, max_shape: str
                ) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """Return the TensorRT optimisation profile ``(min, opt, max)`` as (batch, height, width).

    ``max_batch`` frames of up to ``max_shape`` (``'HxW'``), tuned for one ``opt_shape`` frame;
    the smallest input is :data:`TRT_MIN_HW`. The names are the node parameters
    ``trt_max_batch``, ``trt_opt_shape``, ``trt_max_shape`` (and the same CLI flags).

    Raises:
        ValueError: a malformed shape, or not min <= opt <= max on both sides.

    """
    opt = parse_hw(opt_shape, 'trt_opt_shape')
    top = parse_hw(max_shape, 'trt_max_shape')
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise ValueError(f'trt_max_batch must be a positive integer, got {max_batch!r}')
    if not (TRT_MIN_HW[0] <= opt[0] <= top[0] and TRT_MIN_HW[1] <= opt[1] <= top[1]):
        raise ValueError(f'trt_opt_shape {opt_shape} must lie between '
                         f'{TRT_MIN_HW[0]}x{TRT_MIN_HW[1]} and trt_max_shape {max_shape} on '
                         'both sides')
    return (1, *TRT_MIN_HW), (1, *opt), (max_batch, *top)
