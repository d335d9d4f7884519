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

"""Prompt Depth Anything: the library's ``PromptDepthAnythingForDepthEstimation``.

A Depth Anything network whose decoder also reads a metric *prompt* depth (a low-resolution
LiDAR map, [B,1,hp,wp] metres): the library normalises the prompt by its minimum and maximum,
feeds it into every fusion level and maps the output back to metres with the same two values.
:class:`PromptDepthNet` passes the prompt the estimator gives (``forward(x, prompt=...)``)
as the library's image processor prepares one (``prompt_scale_to_meter`` 1: the prompt is in
metres already; a constant prompt gets 1e-6 added to its first cell, as the processor does).
Without a prompt the network gives depth normalised to [0, 1]: relative, not metres.

Input and output go through the library's ``PromptDepthAnythingImageProcessor`` (its PIL
backend): resize keeping the aspect with sides multiples of 14, and the bicubic resize to the
frame in ``post_process_depth_estimation``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from depth_anything_ros.models.hf.network import LibraryDepthNet, LibraryImplementation


class PromptDepthNet(LibraryDepthNet):
    """The library network with its metric prompt (see the module docstring)."""

    takes_prompt = True

    def forward(self, x: Tensor, prompt: Tensor | None = None) -> Tensor:
        if prompt is None:
            return self.net(pixel_values=x).predicted_depth  # (B, h, w) in [0, 1]
        prompt = prompt.to(x.dtype).clone()  # (B, 1, hp, wp) metres
        flat = prompt.reshape(len(prompt), -1)
        constant = flat.min(dim=1).values == flat.max(dim=1).values
        prompt[constant, 0, 0, 0] += 1e-6   # as the processor: no division by zero
        return self.net(pixel_values=x, prompt_depth=prompt).predicted_depth  # (B, h, w) m


def processor(lib: ModuleType, size: int = 518) -> Any:
    """Return the library's processor as the published folders configure it."""
    return lib.PromptDepthAnythingImageProcessorPil(
        size={'height': size, 'width': size}, keep_aspect_ratio=True, ensure_multiple_of=14)


def tiny(lib: ModuleType) -> tuple[Any, Any]:
    """Return a small Prompt Depth Anything (DINOv2 of 4 layers, width 16; 28-pixel input)."""
    backbone = lib.Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                                mlp_ratio=2, image_size=28, patch_size=14,
                                out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
    config = lib.PromptDepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8, head_hidden_size=8, depth_estimation_type='metric', max_depth=1)
    return config, processor(lib, 28)


def tiny_weights(lib: ModuleType, model: Any) -> None:
    """Perturb every weight of the tiny untrained network.

    Its prompt layers and last convolutions start at zero: its output would be constant.
    """
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.2)


IMPLEMENTATION = LibraryImplementation(
    family='prompt_depth_anything', title='Prompt Depth Anything', encoder='promptda',
    model_class='PromptDepthAnythingForDepthEstimation', metric=True, tiny=tiny,
    tiny_weights=tiny_weights, default_processor=processor, net_class=PromptDepthNet)
