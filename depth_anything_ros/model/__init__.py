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

"""The documented model API: build, load and save networks of any registered family.

``build_model``, ``load_model`` and ``export_model`` dispatch through the model-family
registry (depth_anything_ros.models); ``ModelConfig`` and the helpers below are those of
Depth Anything V2, the package's first family, kept here under their documented names.
"""

import sys

from depth_anything_ros.models import transforms
from depth_anything_ros.models.da2.config import config_for, ENCODERS, ModelConfig
from depth_anything_ros.models.da2.network import DepthAnythingV2
from depth_anything_ros.models.da2.weights import fill_deterministic_, untrained_model
from depth_anything_ros.models.files import CheckpointError, read_json_file
from depth_anything_ros.models.hub import known_names, resolve_checkpoint
from depth_anything_ros.models.loading import build_model, export_model, load_model
from depth_anything_ros.models.reading import read_checkpoint
from depth_anything_ros.models.sidecar import read_sidecar

# ``depth_anything_ros.model.transforms`` is the documented path of the shared image
# pre/post-processing: the same module object, so a patch through either name is seen by all.
sys.modules[__name__ + '.transforms'] = transforms

__all__ = ['CheckpointError', 'DepthAnythingV2', 'ENCODERS', 'ModelConfig', 'build_model',
           'config_for', 'export_model', 'fill_deterministic_', 'known_names', 'load_model',
           'read_checkpoint', 'read_json_file', 'read_sidecar', 'resolve_checkpoint',
           'transforms', 'untrained_model']
