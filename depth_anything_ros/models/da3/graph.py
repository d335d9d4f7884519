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

"""What an exported Depth Anything 3 file computes, and the steps that stay outside it.

The graph (:class:`Da3Graph`) is the networks' fixed computation: images in, the heads' raw
per-pixel outputs out. What depends on the data as a whole, or on the camera, stays outside
and runs in torch on the graph's outputs (:func:`finish`), for the torch model and every
exported runtime alike, so all backends give the same numbers:

* monocular / metric networks: sky pixels take the 99th percentile of the other depths
  (a quantile over the batch); the metric network's metres (depth * mean(fx, fy) / 300 with
  the camera's focal length, given per frame);
* nested networks: the least-squares scale of the any-view depth onto the metric depth (a
  median, a masked dot product and a quantile), sky pixels at the far limit.

Graph inputs and outputs (names are the ONNX tensor names):

* any-view: ``image`` (batch, views, 3, H, W) -> ``depth``, ``depth_conf`` (batch, views, H, W);
* monocular / metric: ``image`` (batch, 3, H, W) -> ``depth``, ``sky`` (batch, H, W);
* nested: ``image`` (batch, views, 3, H, W) -> ``depth``, ``depth_conf``, ``metric_depth``,
  ``sky`` (batch, views, H, W) and the any-view network's focal lengths ``fx``, ``fy``
  (batch, views).

Without poses: an exported any-view graph has no camera-pose inputs (it runs as the torch
model does when no extrinsics are given). With three or more views the reference view is
chosen inside the graph; with fewer it is the first view, as in torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn, Tensor

from .config import NestedConfig
from .network import DepthAnything3, metric_depth, NestedDepthAnything3

INPUT_NAME = 'image'
ANYVIEW_OUTPUTS = ('depth', 'depth_conf')
MONOCULAR_OUTPUTS = ('depth', 'sky')
NESTED_OUTPUTS = ('depth', 'depth_conf', 'metric_depth', 'sky', 'fx', 'fy')


def has_views(net: nn.Module) -> bool:
    """Whether the network takes a views axis (any-view and nested networks)."""
    cfg = net.config
    return isinstance(cfg, NestedConfig) or bool(cfg.any_view)


def output_names(net: nn.Module) -> tuple[str, ...]:
    """Return the graph's output names for network ``net``."""
    if isinstance(net.config, NestedConfig):
        return NESTED_OUTPUTS
    return ANYVIEW_OUTPUTS if net.config.head == 'dualdpt' else MONOCULAR_OUTPUTS


def raw_outputs(net: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Return the graph's outputs of ``net`` for images ``x`` (see the module docstring).

    ``x``: (B, S, 3, H, W) or (B, 3, H, W) (one view each) for a network with views, then
    the outputs have the views axis either way; (B, 3, H, W) for a monocular network.
    """
    if isinstance(net, NestedDepthAnything3):
        out = net.da3(x)
        metric = net.da3_metric(x, sky_to_far=False)
        k = out['intrinsics']  # (B, S, 3, 3)
        return {'depth': out['depth'], 'depth_conf': out['depth_conf'],
                'metric_depth': metric['depth'], 'sky': metric['sky'],
                'fx': k[:, :, 0, 0], 'fy': k[:, :, 1, 1]}
    if has_views(net):
        out = net(x)
        return {'depth': out['depth'], 'depth_conf': out['depth_conf']}
    out = net(x, sky_to_far=False)
    return {'depth': out['depth'][:, 0], 'sky': out['sky'][:, 0]}


def finish(raw: Mapping[str, Tensor], focal: Tensor | None = None, *,
           needs_focal: bool = False, sky_to_far: bool = True) -> dict[str, Tensor]:
    """Graph outputs -> ``depth`` (+ ``confidence``, ``sky``), each shaped as ``raw['depth']``.

    ``focal`` (B, 2): (fx, fy) in pixels of the network input, for a network whose depth
    becomes metres only with it (``needs_focal``). Exact: the same torch operations as the
    torch model's own forward pass. ``sky_to_far=False`` (training): a monocular network's
    sky pixels keep the depth its head gave them.
    """
    raw = {k: v.float() for k, v in raw.items()}
    if 'metric_depth' in raw:   # nested
        depth, conf, _ = NestedDepthAnything3.align(raw['depth'], raw['depth_conf'], raw['fx'],
                                                    raw['fy'], raw['metric_depth'], raw['sky'])
        return {'depth': depth, 'confidence': conf, 'sky': raw['sky']}
    if 'depth_conf' in raw:   # any-view
        return {'depth': raw['depth'], 'confidence': raw['depth_conf']}
    depth = DepthAnything3.sky_to_far(raw['depth'], raw['sky']) if sky_to_far else raw['depth']
    if needs_focal:
        if focal is None:
            raise ValueError("this network gives metres only with the camera's focal length "
                             '(fx, fy in pixels); none was given')
        f = focal.to(depth).reshape(focal.shape[0], 2, *([1] * (depth.dim() - 1)))
        depth = metric_depth(depth, f[:, 0], f[:, 1])
    return {'depth': depth, 'sky': raw['sky']}


class Da3Graph(nn.Module):
    """The exported computation of a Depth Anything 3 network.

    ``forward(image)`` returns a tuple in :attr:`output_names` order (see the module
    docstring). Holds the network as ``net`` (a reference, no copy).
    """

    def __init__(self, net: DepthAnything3 | NestedDepthAnything3) -> None:
        super().__init__()
        self.net = net
        self.views = has_views(net)
        self.input_names = (INPUT_NAME,)
        self.output_names = output_names(net)

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        out = raw_outputs(self.net, image)
        return tuple(out[name] for name in self.output_names)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """ONNX dynamic axes: batch, views (where the network has them), height, width."""
        if self.views:
            axes = {INPUT_NAME: {0: 'batch', 1: 'views', 3: 'height', 4: 'width'}}
            for name in self.output_names:
                axes[name] = ({0: 'batch', 1: 'views'} if name in ('fx', 'fy') else
                              {0: 'batch', 1: 'views', 2: 'height', 3: 'width'})
            return axes
        axes = {INPUT_NAME: {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({name: {0: 'batch', 1: 'height', 2: 'width'} for name in self.output_names})
        return axes

    def example(self, batch: int, height: int, width: int, views: int = 1) -> Tensor:
        """Return a zero input of this shape (the trace input)."""
        if self.views:
            return torch.zeros(batch, views, 3, height, width)
        return torch.zeros(batch, 3, height, width)
