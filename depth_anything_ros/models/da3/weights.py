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

"""Deterministic, RNG-free weights for Depth Anything 3 networks (tests, goldens, demos).

The package's recipe (:mod:`depth_anything_ros.models.da2.weights`: values from a hash of each
key name and element index) with rules added for names only Depth Anything 3 has:

* every LayerNorm weight named ``*_norm`` (QK-norm, the camera encoder's token/trunk norms)
  or sitting inside a head's ``Sequential`` -> 1 + 0.02 n, like the other norms (0.02 n would
  make attention nearly uniform and hide position-encoding errors);
* the camera decoder's field-of-view bias ``cam_dec.fc_fov.0.bias`` -> 1 + 0.02 n, so the
  ReLU'd fields of view stay clear of zero (a focal length of W / 2e-6 is no test);
* the sky map's last conv ``sky_output_conv2.2.weight`` -> n / sqrt(fan_in), signed (the
  package's non-negative rule for a final depth conv would make every pixel sky);
* everything else as the package recipe says.
"""

from __future__ import annotations

from collections.abc import MutableMapping
import logging
import re

import torch
from torch import nn, Tensor

from depth_anything_ros.models.da2.weights import _values as package_values
from depth_anything_ros.models.da2.weights import key_noise, UNTRAINED_WARNING

from .config import Da3Config, NestedConfig
from .network import build_model

log = logging.getLogger(__name__)

_EXTRA_NORM = re.compile(r'(^|\.)([a-z]+_norm|output_conv2_aux\.\d+\.2)\.weight$')
_UNIT_BIAS = re.compile(r'(^|\.)cam_dec\.fc_fov\.0\.bias$')


def da3_values(key: str, t: Tensor, n: Tensor) -> Tensor:
    """Weight values (float64) of tensor ``key`` from its noise ``n``."""
    if _EXTRA_NORM.search(key) or _UNIT_BIAS.search(key):
        return 1.0 + 0.02 * n
    if key.endswith('sky_output_conv2.2.weight'):  # signed, unlike the depth conv
        return n / (t.numel() // t.shape[0]) ** 0.5
    return package_values(key, t, n)


@torch.no_grad()
def fill_da3_(state_dict: MutableMapping[str, Tensor]) -> MutableMapping[str, Tensor]:
    """Overwrite every floating-point tensor of ``state_dict`` in place; returns it."""
    for key, t in state_dict.items():
        if torch.is_floating_point(t):
            values = da3_values(key, t, key_noise(key, 0, t.numel()))
            t.copy_(values.reshape(t.shape))
    return state_dict


def untrained_model(cfg: str | Da3Config | NestedConfig, *, warn: bool = True) -> nn.Module:
    """Network with :func:`fill_da3_` weights (eval mode, CPU); logs a loud warning."""
    model = build_model(cfg, device='meta')
    model.to_empty(device='cpu')
    fill_da3_(model.state_dict())
    if warn:
        log.warning(UNTRAINED_WARNING)
    return model.eval()
