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

from .checkpoint import load_da3, read_state_dict
from .config import (
           config_for,
           CONFIGS,
           Da3Config,
           METRIC_FOCAL_DIVISOR,
           NAMES,
           NESTED,
           NestedConfig,
           PUBLISHED,
)
from .network import build_model, DepthAnything3, metric_depth, NestedDepthAnything3
from .weights import fill_da3_, untrained_model

__all__ = ['CONFIGS', 'Da3Config', 'DepthAnything3', 'METRIC_FOCAL_DIVISOR', 'NAMES', 'NESTED',
           'NestedConfig', 'NestedDepthAnything3', 'PUBLISHED', 'build_model', 'config_for',
           'fill_da3_', 'load_da3', 'metric_depth', 'read_state_dict', 'untrained_model']
