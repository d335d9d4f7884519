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

"""What an export writes: file formats, the static network input size, verification tolerances.

The ``depth-anything-ros export`` command (depth_anything_ros/commands/export.py) drives it;
the exporters themselves are in onnx_export.py.
"""

from __future__ import annotations

from depth_anything_ros.backends.common import PATCH
from depth_anything_ros.backends.select import EXPORT_FORMATS as FORMATS  # noqa: F401

# Sizes checked after a dynamic export: the official no-interpolation 518x518 path, a
# 640x480 camera at the default input (full-height position grid, wider than tall), a
# non-square size and a small one.
VERIFY_SIZES_DYNAMIC = [(518, 518), (518, 686), (266, 350), (140, 182)]
VERIFY_ATOL = 1e-4


def network_input_hw(input_size: int | None, height: int | None,
                     width: int | None) -> tuple[int, int]:
    """Network input (h, w) of a static export.

    With a camera ``height`` x ``width``, the estimator's keep-aspect rule at ``input_size``
    (480x640 at 518 -> 518x686); without one, a square ``input_size`` x ``input_size``; with a
    camera size but no input size, the camera size itself (must be multiples of 14).
    """
    from depth_anything_ros.models.transforms import target_size, validate_input_size
    if (height is None) != (width is None):
        raise ValueError('give both --height and --width (the camera image size), or neither')
    if input_size is not None:
        validate_input_size(input_size)
        if height is None:
            return input_size, input_size
        return target_size(height, width, input_size)
    if height is None:
        raise ValueError('a static export needs --input-size N (and optionally the camera '
                         '--height/--width), or use --dynamic')
    if height % PATCH or width % PATCH:
        raise ValueError(f'--height/--width without --input-size are the network input and '
                         f'must be multiples of {PATCH}; got {height}x{width}. Add '
                         '--input-size 518 to derive the network size from the camera size')
    return height, width

