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


"""Where exported and compiled engines live, and the camera sizes they were warmed up for.

Plain Python (no torch): the node reads it before the network is loaded. The engines
themselves are written by ``depth_anything_ros.backends``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# the one atomic writer (sidecars use it too); importable from here as before
from depth_anything_ros.models.files import atomic_write_bytes

__all__ = ['atomic_write_bytes', 'default_cache_dir', 'remember_camera_size',
           'remembered_camera_size']

_SIZES = 'camera_sizes.json'


def default_cache_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/depth_anything_ros/engines`` (``~/.cache/...`` by default)."""
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'depth_anything_ros' / 'engines'


def _read_sizes(cache_dir: Path) -> dict[str, list[int]]:
    try:
        data = json.loads((Path(cache_dir) / _SIZES).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_camera_size(cache_dir: Path, key: str) -> tuple[int, int] | None:
    """Return the (height, width) last remembered for ``key`` (e.g. a node's name), or None.

    A node warms up on it at start-up, before any camera_info arrives, so that after a restart
    even the first image finds its engine built.
    """
    size = _read_sizes(cache_dir).get(key)
    if (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and v > 0 for v in size)):
        return size[0], size[1]
    return None


def remember_camera_size(cache_dir: Path, key: str, height: int, width: int) -> None:
    """Remember ``height`` x ``width`` as ``key``'s camera size (atomic; last writer wins)."""
    sizes = _read_sizes(cache_dir)
    if sizes.get(key) == [height, width]:
        return
    sizes[key] = [int(height), int(width)]
    atomic_write_bytes(Path(cache_dir) / _SIZES,
                       (json.dumps(sizes, indent=1, sort_keys=True) + '\n').encode())
