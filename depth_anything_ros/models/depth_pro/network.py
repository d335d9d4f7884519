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

"""Depth Pro: the library's ``DepthProForDepthEstimation``, metric depth and field of view.

The network predicts a canonical inverse depth and (with its field-of-view model) the
horizontal field of view; metric depth is ``1 / (inverse * width / focal)``, with the focal
length in pixels either the camera's (when the caller knows it, as Depth Pro's own API
allows) or the one the estimated field of view gives.

:class:`DepthProProcessing` is the library's ``DepthProImageProcessor`` as its
``preprocessor_config.json`` configures it: rescale and normalise first, then resize (bilinear
by default, no antialiasing); after the network, the focal-length scaling, a resize to the
frame (the processor's ``resample``) and the inversion clamped to [1e-4, 1e4], as the
library's ``post_process_depth_estimation`` does. (The library's class is built on
torchvision, an image library this package does not otherwise need; on float tensors its
resize without antialiasing is torch's interpolation used here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from depth_anything_ros.models.files import CheckpointError, read_json_file
from depth_anything_ros.models.hf.network import LibraryImplementation

#: PIL resampling codes (``resample`` in preprocessor_config.json) -> torch interpolation.
RESAMPLE = {0: 'nearest', 2: 'bilinear', 3: 'bicubic'}
#: What fails in a dynamic-size export (its processor resizes every frame to one size anyway).
DYNAMIC_REFUSAL = ('its image processor gives every frame one input size, and an export traced '
                   'at one size fails at another in onnxruntime ("Non concat axis dimensions '
                   'must match" in the patch encoder\'s Concat, which splits the image into '
                   'patches by Python numbers); export it for a camera size (--height/--width)')
#: Depth Pro's inverse depth is clamped to this range before it is inverted.
INVERSE_RANGE = (1e-4, 1e4)


class DepthProProcessing:
    """Depth Pro's image processing, configured like the library's processor."""

    def __init__(self, *, size: tuple[int, int] = (1536, 1536), resample: int = 2,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5),
                 rescale_factor: float = 1 / 255, do_resize: bool = True,
                 do_rescale: bool = True, do_normalize: bool = True) -> None:
        if resample not in RESAMPLE:
            raise ValueError(f'resample {resample} is none of {sorted(RESAMPLE)} '
                             '(nearest, bilinear, bicubic)')
        self.size, self.mode = tuple(size), RESAMPLE[resample]
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))
        self.rescale_factor = float(rescale_factor)
        self.do_resize, self.do_rescale, self.do_normalize = do_resize, do_rescale, do_normalize

    @classmethod
    def from_folder(cls, folder: Path) -> DepthProProcessing:
        """Read ``preprocessor_config.json``; CheckpointError for a value that does not fit."""
        path = folder / 'preprocessor_config.json'
        data = read_json_file(path, 'image processor config')
        try:
            size = data.get('size', {'height': 1536, 'width': 1536})
            return cls(size=(int(size['height']), int(size['width'])),
                       resample=int(data.get('resample', 2)),
                       mean=data.get('image_mean', (0.5, 0.5, 0.5)),
                       std=data.get('image_std', (0.5, 0.5, 0.5)),
                       rescale_factor=float(data.get('rescale_factor', 1 / 255)),
                       do_resize=bool(data.get('do_resize', True)),
                       do_rescale=bool(data.get('do_rescale', True)),
                       do_normalize=bool(data.get('do_normalize', True)))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f'{path} does not describe a Depth Pro image processor '
                                  f'({exc})') from exc

    def to_dict(self) -> dict[str, Any]:
        """Return this configuration in the library's ``preprocessor_config.json`` keys."""
        return {'image_processor_type': 'DepthProImageProcessor', 'do_resize': self.do_resize,
                'size': {'height': self.size[0], 'width': self.size[1]},
                'resample': {m: c for c, m in RESAMPLE.items()}[self.mode],
                'do_rescale': self.do_rescale, 'rescale_factor': self.rescale_factor,
                'do_normalize': self.do_normalize, 'image_mean': list(self.mean),
                'image_std': list(self.std)}

    def __call__(self, images: Sequence[np.ndarray], return_tensors: str = 'pt'
                 ) -> dict[str, torch.Tensor]:
        """HxWx3 uint8 RGB frames (one size) -> {'pixel_values': [B,3,h,w] float32}."""
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
        scale = self.rescale_factor if self.do_rescale else 1.0
        if self.do_normalize:   # one fused step, (x - mean / scale) / (std / scale)
            mean = torch.tensor(self.mean).view(1, 3, 1, 1) * (1.0 / scale)
            std = torch.tensor(self.std).view(1, 3, 1, 1) * (1.0 / scale)
            x = (x - mean) / std
        elif self.do_rescale:
            x = x * scale
        if self.do_resize:
            x = F.interpolate(x, size=self.size, mode=self.mode,
                              align_corners=False if self.mode != 'nearest' else None)
        return {'pixel_values': x}

    def post_process_depth_estimation(self, outputs: Any, target_sizes: Sequence[Sequence[int]]
                                      ) -> list[dict[str, Any]]:
        """Canonical inverse depth [B,h,w] + field of view [B] -> metres at each target size."""
        fov = outputs.field_of_view
        results = []
        for i, (inverse, size) in enumerate(zip(outputs.predicted_depth, target_sizes)):
            focal = None
            if fov is not None:
                width = size[1]
                focal = 0.5 * width / torch.tan(0.5 * torch.deg2rad(fov[i]))
                inverse = inverse * width / focal
            inverse = F.interpolate(inverse[None, None], size=tuple(size), mode=self.mode,
                                    align_corners=False if self.mode != 'nearest' else None)
            results.append({'predicted_depth': 1.0 / inverse[0, 0].clamp(*INVERSE_RANGE),
                            'field_of_view': None if fov is None else fov[i],
                            'focal_length': focal})
        return results


def processor(lib: ModuleType, folder: Path) -> DepthProProcessing:
    return DepthProProcessing.from_folder(folder)


def _dinov2(lib: ModuleType) -> dict[str, Any]:
    return {'model_type': 'dinov2', 'hidden_size': 16, 'num_hidden_layers': 2,
            'num_attention_heads': 2, 'mlp_ratio': 2, 'image_size': 28, 'patch_size': 14}


def tiny(lib: ModuleType) -> tuple[Any, Any]:
    """Return a small Depth Pro (DINOv2 encoders of 2 layers, width 16; 112-pixel input)."""
    config = lib.DepthProConfig(
        patch_size=28, fusion_hidden_size=8, intermediate_hook_ids=[1, 0],
        intermediate_feature_dims=[8, 8], scaled_images_feature_dims=[16, 16, 8],
        use_fov_model=True, image_model_config=_dinov2(lib), patch_model_config=_dinov2(lib),
        fov_model_config=_dinov2(lib))
    return config, DepthProProcessing(size=(112, 112))


def tiny_weights(lib: ModuleType, model: nn.Module) -> None:
    """Give the tiny untrained network a positive inverse depth and a plausible field of view.

    Freshly initialised, its last layers output zero (infinitely far, no field of view).
    """
    with torch.no_grad():
        model.head.layers[-2].bias.fill_(0.5)
        if getattr(model, 'fov_model', None) is not None:
            model.fov_model.head.layers[-1].bias.fill_(60.0)


IMPLEMENTATION = LibraryImplementation(
    family='depth_pro', title='Depth Pro', encoder='depthpro',
    model_class='DepthProForDepthEstimation', metric=True, tiny=tiny, processor=processor,
    tiny_weights=tiny_weights,
    dynamic_refusal=DYNAMIC_REFUSAL,
    default_processor=lambda lib: DepthProProcessing())
