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

"""ZoeDepth: the library's ``ZoeDepthForDepthEstimation`` and ``ZoeDepthImageProcessor``.

Metric depth in metres. The input is the library's processor's (reflect padding around the
frame, resize keeping the aspect ratio); the output goes through ZoeDepth's own test-time
rule as the library's ``post_process_depth_estimation`` applies it with ``outputs_flipped``:
the prediction for the mirrored input is mirrored back and averaged with the direct one
(:class:`~depth_anything_ros.models.hf.network.LibraryDepthNet` runs both), resized (bicubic)
to the frame plus its padding and the padding cut off.

:class:`ZoeDepthProcessing` does that post-processing with torch's bicubic interpolation: the
library's resizes with torchvision, an image library this package does not otherwise need (on
float tensors torchvision's bicubic resize without antialiasing is this interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F

from depth_anything_ros.models.hf.network import library_processor, LibraryImplementation

#: ZoeDepth pads each side by int(sqrt(side / 2) * 3) pixels (its processor's rule).
PAD_FACTOR = 3


def padding(side: int) -> int:
    """Pixels of padding ZoeDepth's processor adds to each end of a side ``side`` long."""
    return int(math.sqrt(side / 2) * PAD_FACTOR)


class ZoeDepthProcessing:
    """The library's ZoeDepth image processor, with the padding removal done in torch."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.processor(*args, **kwargs)

    def post_process_depth_estimation(self, outputs: Any, source_sizes: Sequence[Sequence[int]]
                                      ) -> list[dict[str, torch.Tensor]]:
        """[B,h,w] -> per frame {'predicted_depth': [H,W]}, padding removed (library order)."""
        pad = bool(getattr(self.processor, 'do_pad', True))
        results = []
        for depth, (h, w) in zip(outputs.predicted_depth, source_sizes):
            ph, pw = (padding(h), padding(w)) if pad else (0, 0)
            depth = F.interpolate(depth[None, None], size=(h + 2 * ph, w + 2 * pw),
                                  mode='bicubic', align_corners=False)[0, 0]
            results.append({'predicted_depth': depth[ph:ph + h, pw:pw + w]})
        return results


def processor(lib: ModuleType, folder: Path) -> ZoeDepthProcessing:
    return ZoeDepthProcessing(library_processor(lib, folder))


def tiny(lib: ModuleType) -> tuple[Any, Any]:
    """Return a small ZoeDepth (BEiT, 4 layers, width 16, 32-pixel input) and its processor."""
    backbone = lib.BeitConfig(image_size=32, patch_size=8, num_hidden_layers=4, hidden_size=16,
                              intermediate_size=32, num_attention_heads=2,
                              use_relative_position_bias=True, reshape_hidden_states=False,
                              out_features=['stage1', 'stage2', 'stage3', 'stage4'])
    config = lib.ZoeDepthConfig(
        backbone_config=backbone, backbone_hidden_size=16, neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8, bottleneck_features=8, num_relative_features=8,
        bin_embedding_dim=8, num_attractors=[4, 4, 2, 1],
        bin_configurations=[{'n_bins': 8, 'min_depth': 0.001, 'max_depth': 10.0,
                             'name': 'nyu'}])
    image_processor = lib.ZoeDepthImageProcessorPil(size={'height': 32, 'width': 32},
                                                    keep_aspect_ratio=True,
                                                    ensure_multiple_of=8)
    return config, ZoeDepthProcessing(image_processor)


def max_depth(config: Any) -> float | None:
    """Return the largest depth (metres) of the config's bin configurations."""
    depths = [b.get('max_depth') for b in (config.bin_configurations or [])]
    depths = [float(d) for d in depths if isinstance(d, (int, float))]
    return max(depths) if depths else None


#: What fails in a dynamic-size export.
DYNAMIC_REFUSAL = ('its BEiT backbone interpolates the relative position bias to the input '
                   'size, which OpenVINO cannot convert with a dynamic size ("Value for partial '
                   'shape evaluation can\'t be lower than zero" in the relative_position_bias '
                   'Resize); export it for a camera size (--height/--width)')

IMPLEMENTATION = LibraryImplementation(
    family='zoedepth', title='ZoeDepth', encoder='zoedepth',
    model_class='ZoeDepthForDepthEstimation', metric=True, tiny=tiny, max_depth=max_depth,
    flip_average=True, processor=processor, dynamic_refusal=DYNAMIC_REFUSAL,
    default_processor=lambda lib: ZoeDepthProcessing(lib.ZoeDepthImageProcessorPil()))
