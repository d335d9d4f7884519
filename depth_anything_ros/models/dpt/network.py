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

"""MiDaS / DPT: the library's ``DPTForDepthEstimation`` and its ``DPTImageProcessor``.

Relative inverse depth (like Depth Anything V2's disparity), at the frame size as the
library's ``post_process_depth_estimation`` resizes it (bicubic).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from depth_anything_ros.models.hf.network import LibraryImplementation


def tiny(lib: ModuleType) -> tuple[Any, Any]:
    """Return a small DPT (ViT, 4 layers, width 16, 32x32 input) and its processor, for tests."""
    config = lib.DPTConfig(hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                           intermediate_size=32, image_size=32, patch_size=8,
                           backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                           fusion_hidden_size=8, head_hidden_size=8)
    # square input like DPT-Large's (its plain ViT takes square grids of patches only)
    processor = lib.DPTImageProcessorPil(size={'height': 32, 'width': 32},
                                         keep_aspect_ratio=False)
    return config, processor


def tiny_weights(lib: ModuleType, model: Any) -> None:
    """Give the tiny untrained network an output well above zero (its last layer starts at 0)."""
    with torch.no_grad():
        model.head.head[-2].bias.fill_(1.0)


#: What fails in a dynamic-size export.
DYNAMIC_REFUSAL = ("the library's DPT sizes its reassemble and fusion stages from Python "
                   'numbers, which an export fixes to the traced size: at another size '
                   'onnxruntime fails ("Non-zero status code returned while running Add node" '
                   "in the neck's fusion stage); export it for a camera size "
                   '(--height/--width)')

IMPLEMENTATION = LibraryImplementation(
    family='dpt', title='MiDaS / DPT', encoder='dpt', model_class='DPTForDepthEstimation',
    metric=False, tiny=tiny, tiny_weights=tiny_weights, dynamic_refusal=DYNAMIC_REFUSAL,
    default_processor=lambda lib: lib.DPTImageProcessorPil())
