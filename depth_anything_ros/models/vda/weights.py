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

"""Deterministic, RNG-free weights for Video Depth Anything (tests, goldens, demos).

Depth Anything V2's recipe (:func:`depth_anything_ros.models.da2.weights.fill_deterministic_`:
values from each key's name and element index only) for every tensor, with two additions for
the temporal modules' names: their LayerNorm weights (``norms.N.weight``, ``ff_norm.weight``)
are ``1 + 0.02 n`` like every other norm weight, and the positional encodings (``pe``) keep
their sinusoids, which are fixed, not learnt.
"""

from __future__ import annotations

from collections.abc import MutableMapping
import logging
import re

import torch
from torch import Tensor

from depth_anything_ros.models.da2.weights import fill_deterministic_, key_noise, UNTRAINED_WARNING

from .config import VdaConfig
from .network import build_model, sinusoid, VideoDepthAnything

log = logging.getLogger(__name__)

_TEMPORAL_NORM = re.compile(r'\.(norms\.\d+|ff_norm)\.weight$')
_POSITIONS = re.compile(r'\.pos_encoder\.pe$')


@torch.no_grad()
def fill_vda_(state_dict: MutableMapping[str, Tensor]) -> MutableMapping[str, Tensor]:
    """Overwrite every floating-point tensor of ``state_dict`` in place; returns it."""
    fill_deterministic_(state_dict)
    for key, t in state_dict.items():
        if _TEMPORAL_NORM.search(key):
            t.copy_((1.0 + 0.02 * key_noise(key, 0, t.numel())).view(t.shape))
        elif _POSITIONS.search(key):
            t.copy_(sinusoid(t.shape[1], t.shape[2]))
    return state_dict


def untrained_model(encoder: str | VdaConfig, head: str = 'relative',
                    max_depth: float | None = None, *, warn: bool = True
                    ) -> VideoDepthAnything:
    """Network with :func:`fill_vda_` weights (eval mode, CPU); logs a loud warning."""
    model = build_model(encoder, head, max_depth, device='meta')
    model.to_empty(device='cpu')
    fill_vda_(model.state_dict())
    if warn:
        log.warning(UNTRAINED_WARNING)
    return model.eval()
