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

"""Depth Anything V2 network, configurations, weights and checkpoints (torch only, no ROS)."""

from .checkpoint import (CheckpointError, export_model, load_model, read_checkpoint,
                         read_sidecar)
from .config import config_for, ENCODERS, ModelConfig
from .files import read_json_file
from .hub import CHECKPOINTS, resolve_checkpoint
from .network import build_model, DepthAnythingV2
from .weights import fill_deterministic_, untrained_model

__all__ = ['CHECKPOINTS', 'CheckpointError', 'DepthAnythingV2', 'ENCODERS', 'ModelConfig',
           'build_model', 'config_for', 'export_model', 'fill_deterministic_', 'load_model',
           'read_checkpoint', 'read_json_file', 'read_sidecar', 'resolve_checkpoint',
           'untrained_model']
