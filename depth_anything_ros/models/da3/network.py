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

"""The Depth Anything 3 networks: any-view, monocular, metric and nested.

``forward(x)`` takes ImageNet-normalised RGB ``(B, S, 3, H, W)`` (or ``(B, 3, H, W)`` for one
view), H and W multiples of 14, and returns a dict shaped as the official outputs, with S
views always present:

* any-view: ``depth`` (B, S, H, W) (relative, larger = farther), ``depth_conf`` (B, S, H, W)
  (>= 1, larger = more confident), ``extrinsics`` (B, S, 3, 4) world-to-camera and
  ``intrinsics`` (B, S, 3, 3) at the input resolution, predicted;
* monocular / metric: ``depth`` and ``sky`` (B, S, H, W) (sky where ``sky >= 0.3``; there the
  depth is set to the 99th percentile of the rest, as the official network does). Metric depth
  becomes metres with :func:`metric_depth`;
* nested: the any-view outputs with ``depth`` in metres (the any-view depth scaled by least
  squares onto the focal-scaled metric depth), ``sky`` from the metric network, sky pixels at
  the far limit with confidence 1, plus ``scale_factor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn, Tensor

from .camera import CameraDecoder, CameraEncoder, decode_cameras
from .config import config_for, Da3Config, METRIC_FOCAL_DIVISOR, NestedConfig
from .heads import DPT, DualDPT, GaussianHead
from .transforms import prepare_views, PROCESS_RES
from .vit import Backbone

#: sky map value from which a pixel is sky (official threshold).
SKY_THRESHOLD = 0.3
#: The official code estimates quantiles from at most this many values.
QUANTILE_SAMPLES = 100_000
#: Far limit (metres) for sky pixels of the nested model.
SKY_DEPTH_LIMIT = 200.0
_MIN_DEPTH = 1e-3          # any-view depth used for the nested alignment
_MIN_METRIC_DEPTH = 1e-2   # metric depth used for the nested alignment


def _sample(values: Tensor) -> Tensor:
    """At most QUANTILE_SAMPLES evenly spaced values (the official code samples at random)."""
    n = values.numel()
    if n <= QUANTILE_SAMPLES:
        return values.reshape(-1)
    idx = torch.linspace(0, n - 1, QUANTILE_SAMPLES, device=values.device).long()
    return values.reshape(-1)[idx]


def metric_depth(depth: Tensor, fx: Tensor | float, fy: Tensor | float) -> Tensor:
    """Metric network output -> metres: depth * mean(fx, fy) / 300 (focal in input pixels)."""
    return depth * (((fx + fy) / 2) / METRIC_FOCAL_DIVISOR)


def as_views(x: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 1, 3, H, W); (B, S, 3, H, W) unchanged; anything else refused."""
    if x.dim() == 4:
        x = x[:, None]
    if x.dim() != 5 or x.shape[2] != 3:
        raise ValueError(f'expected images (B, 3, H, W) or (B, views, 3, H, W), got '
                         f'{tuple(x.shape)}')
    return x


class DepthAnything3(nn.Module):
    """One Depth Anything 3 network; ``state_dict()`` keys are the official ones."""

    def __init__(self, cfg: Da3Config) -> None:
        super().__init__()
        self.config = cfg
        self.backbone = Backbone(cfg)
        if cfg.head == 'dualdpt':
            self.head = DualDPT(cfg.head_dim_in, cfg.features, cfg.out_channels)
        else:
            self.head = DPT(cfg.head_dim_in, cfg.features, cfg.out_channels)
        if cfg.camera:
            self.cam_enc = CameraEncoder(cfg.embed_dim, cfg.cam_heads, cfg.cam_depth)
            self.cam_dec = CameraDecoder(cfg.head_dim_in)
        if cfg.gs_head:
            self.gs_head = GaussianHead(cfg.head_dim_in, cfg.features, cfg.out_channels)

    @property
    def depth_unit(self) -> str:
        """What ``depth`` is: ``'relative'``, or ``'focal'`` (metres via :func:`metric_depth`)."""
        return self.config.depth_unit

    def forward(self, x: Tensor, extrinsics: Tensor | None = None,
                intrinsics: Tensor | None = None,
                ref_view_strategy: str = 'saddle_balanced', *,
                sky_to_far: bool = True) -> dict[str, Tensor]:
        """Images -> outputs (see the module docstring).

        ``extrinsics`` (B, S, 4, 4) world-to-camera and ``intrinsics`` (B, S, 3, 3) in input
        pixels condition an any-view network on known poses (both or neither).
        ``ref_view_strategy`` picks the reference among three or more views without poses.
        ``sky_to_far=False``: a network with a sky output gives its depth map as the head made
        it, without the far value put on sky pixels (a batch quantile, which a training loss
        must not see, and which an exported graph leaves to :meth:`sky_to_far`).
        """
        cfg = self.config
        x = as_views(x)
        b, s, _, h, w = x.shape
        cam_token = None
        if extrinsics is not None or intrinsics is not None:
            if not cfg.camera or extrinsics is None or intrinsics is None:
                raise ValueError('poses condition only any-view networks and need both '
                                 'extrinsics (B, S, 4, 4) and intrinsics (B, S, 3, 3)')
            if (tuple(extrinsics.shape) != (b, s, 4, 4)
                    or tuple(intrinsics.shape) != (b, s, 3, 3)):
                raise ValueError(f'for {b} x {s} views the poses are extrinsics {(b, s, 4, 4)} '
                                 f'and intrinsics {(b, s, 3, 3)}, got '
                                 f'{tuple(extrinsics.shape)} and {tuple(intrinsics.shape)}')
            # The camera encoder, the heads and the camera decoder run in float32 even under
            # autocast, as officially (only the backbone takes the lower precision).
            with torch.autocast(x.device.type, enabled=False):
                cam_token = self.cam_enc(extrinsics.float(), intrinsics.float(), h, w)
        feats = self.backbone(x, cam_token, ref_view_strategy)
        p = cfg.patch_size
        with torch.autocast(x.device.type, enabled=False):
            tokens = [f.float().reshape(b * s, f.shape[2], f.shape[3]) for f, _ in feats]
            first, second = self.head(tokens, h // p, w // p, h, w)  # (B*S, H, W) each
            first, second = first.reshape(b, s, h, w), second.reshape(b, s, h, w)
            if cfg.head == 'dualdpt':
                out = {'depth': first, 'depth_conf': second}
                if cfg.camera:
                    ext, k = decode_cameras(self.cam_dec(feats[-1][1].float()), h, w)
                    out.update(extrinsics=ext, intrinsics=k)
                return out
            return {'depth': self.sky_to_far(first, second) if sky_to_far else first,
                    'sky': second}

    @staticmethod
    def sky_to_far(depth: Tensor, sky: Tensor) -> Tensor:
        """Sky pixels take the 99th percentile of the other depths (over the whole batch)."""
        ground = sky < SKY_THRESHOLD
        n = ground.sum()
        if n <= 10 or ground.numel() - n <= 10:
            return depth
        far = torch.quantile(_sample(depth[ground]), 0.99)
        return torch.where(ground, depth, far)


class NestedDepthAnything3(nn.Module):
    """Any-view network (``da3``) scaled to metres by a metric network (``da3_metric``)."""

    def __init__(self, cfg: NestedConfig) -> None:
        super().__init__()
        self.config = cfg
        self.da3 = DepthAnything3(cfg.anyview)
        self.da3_metric = DepthAnything3(cfg.metric)

    depth_unit = 'metres'  # its depth is already in metres

    def forward(self, x: Tensor, extrinsics: Tensor | None = None,
                intrinsics: Tensor | None = None,
                ref_view_strategy: str = 'saddle_balanced') -> dict[str, Tensor]:
        x = as_views(x)
        out = self.da3(x, extrinsics, intrinsics, ref_view_strategy)
        metric = self.da3_metric(x, sky_to_far=False)
        k = out['intrinsics']
        depth, conf, scale = self.align(out['depth'], out['depth_conf'], k[:, :, 0, 0],
                                        k[:, :, 1, 1], metric['depth'], metric['sky'])
        ext = out['extrinsics'].clone()
        ext[..., :3, 3] = ext[..., :3, 3] * scale
        out.update(depth=depth, depth_conf=conf, extrinsics=ext, sky=metric['sky'],
                   scale_factor=scale)
        return out

    @staticmethod
    def align(depth: Tensor, conf: Tensor, fx: Tensor, fy: Tensor, metric: Tensor,
              sky: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Any-view depth and confidence (B, S, H, W) -> metres, confidence, the scale.

        ``fx``, ``fy`` (B, S): the any-view network's focal lengths; ``metric`` and ``sky``
        (B, S, H, W): the metric network's depth as its head gives it and its sky map. The
        metric depth (sky pixels far, then focal-scaled) is the target of a least-squares
        scale over confident ground pixels; sky pixels get the far limit, confidence 1.
        """
        metric = DepthAnything3.sky_to_far(metric, sky)
        scaled = metric_depth(metric, fx[..., None, None], fy[..., None, None])
        ground = sky < SKY_THRESHOLD
        if ground.sum() <= 10:
            raise ValueError('the metric network sees sky almost everywhere: no scale to align '
                             'to')
        median_conf = torch.quantile(_sample(conf[ground]), 0.5)
        use = ((conf >= median_conf) & ground & (scaled > _MIN_METRIC_DEPTH)
               & (depth > _MIN_DEPTH))
        a, d = scaled[use], depth[use]
        scale = torch.dot(a, d) / torch.dot(d, d).clamp_min(1e-12)
        depth = depth * scale
        far = torch.clamp(torch.quantile(_sample(depth[ground]), 0.99), max=SKY_DEPTH_LIMIT)
        return (torch.where(ground, depth, far),
                torch.where(ground, conf, torch.ones_like(conf)), scale)


def build_model(name: str | Da3Config | NestedConfig, *,
                device: torch.device | str | None = None,
                ) -> DepthAnything3 | NestedDepthAnything3:
    """Untrained (default-initialised) network for an official name or a config.

    ``device='meta'`` builds without allocating memory.
    """
    cfg = config_for(name) if isinstance(name, str) else name
    with torch.device(device) if device is not None else nullcontext():
        if isinstance(cfg, NestedConfig):
            return NestedDepthAnything3(cfg)
        return DepthAnything3(cfg)


@torch.inference_mode()
def infer(model: DepthAnything3 | NestedDepthAnything3, images: Sequence[np.ndarray],
          intrinsics: Sequence[np.ndarray] | np.ndarray | None = None,
          process_res: int = PROCESS_RES) -> dict[str, Tensor]:
    """RGB uint8 views of one scene -> outputs (S, H', W') at the processing resolution.

    The official inference without poses, in float32: :func:`prepare_views`, one forward pass,
    the batch axis dropped. ``intrinsics`` (S, 3, 3) in the images' pixels come back as
    ``input_intrinsics`` at the processing resolution, and a metric network's ``depth`` as
    ``metric_depth`` in metres (:func:`metric_depth`). ``intrinsics`` stays what the network
    outputs (any-view networks predict their own).
    """
    x, k = prepare_views(images, intrinsics, process_res)
    p = next(model.parameters())
    out = {key: v[0] if v.dim() else v for key, v in model(x.to(p.device, p.dtype)).items()}
    if k is not None:
        kk = out['input_intrinsics'] = k[0].to(p.device)
        if model.depth_unit == 'focal':
            out['metric_depth'] = metric_depth(out['depth'], kk[:, 0, 0, None, None],
                                               kk[:, 1, 1, None, None])
    return out
