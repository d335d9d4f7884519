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

"""Depth Anything 3: any-view, monocular, metric and nested networks (torch only, no ROS).

``build_model(name)`` gives the network of an official configuration (``da3-small``,
``da3-base``, ``da3-large``, ``da3-giant``, ``da3mono-large``, ``da3metric-large``,
``da3nested-giant-large``), whose state dict is the official one key for key;
``load_da3(path)`` loads an official checkpoint into it strictly.
"""

from __future__ import annotations

import importlib
from typing import Any

# What each public name lives in; imported on first use, so that the registry can read the
# family's declaration (family.py, plain data) without importing torch.
_WHERE = {
    'load_da3': 'checkpoint', 'read_state_dict': 'checkpoint',
    'CONFIGS': 'config', 'EXTRA_CONFIGS': 'config', 'config_for': 'config', 'Da3Config': 'config',
    'METRIC_FOCAL_DIVISOR': 'config', 'NAMES': 'config', 'NESTED': 'config',
    'NestedConfig': 'config', 'PUBLISHED': 'config',
    'build_model': 'network', 'DepthAnything3': 'network', 'metric_depth': 'network',
    'NestedDepthAnything3': 'network',
    'fill_da3_': 'weights', 'untrained_model': 'weights',
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'.{_WHERE[name]}', __name__), name)
