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

"""Deterministic, RNG-free weights for Depth Anything V2 state dicts (tests, demos, CI).

Values depend only on each tensor's key name and element index, through an integer hash
evaluated in exact int64 arithmetic, so they are bit-identical on every platform, torch
version and thread count. The recipe gives a network whose outputs stay in a sensible range
(not ReLU-clamped to zero), which lets the official reference outputs be reproduced without
any released checkpoint.

Rules, with n = zero-mean unit-variance uniform noise for the key:
  running_mean -> 0, running_var -> 1;  ``.ls1.`` / ``.ls2.`` gammas -> 0.1 + 0.02 n;
  LayerNorm/BatchNorm weights (``norm*`` / ``bn*``) -> 1 + 0.02 n;
  final 1-channel conv ``output_conv2.2.weight`` -> |n| / sqrt(fan_in);
  other tensors with >= 2 dims (except pos_embed and tokens) -> n / sqrt(fan_in);
  everything else (biases, cls/mask tokens, pos_embed) -> 0.02 n.  Integer tensors: untouched.
"""

from __future__ import annotations

from collections.abc import MutableMapping
import logging
import re
import zlib

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from .config import ModelConfig
from .network import build_model, DepthAnythingV2

log = logging.getLogger(__name__)

_MOD = 1 << 32
_GOLDEN = 0x9E3779B1  # index multiplier (Fibonacci hashing)
_MIXERS = (0x7FEB352D, 0x4C957F2D, 0x2C1B3C6D)
_NORM_WEIGHT = re.compile(r'(^|\.)(norm\d*|bn\d*)\.weight$')
_CHUNK = 1 << 22  # elements hashed at a time: bounds the temporaries (~32 MB each)

UNTRAINED_WARNING = (
    'USING UNTRAINED DETERMINISTIC WEIGHTS: the depth output is meaningless (test pattern '
    'only). Pass a real checkpoint (see `depth-anything-ros download --help`).')


def key_noise(key: str, start: int, stop: int) -> Tensor:
    """Noise for elements [start, stop) of tensor ``key``: uniform, mean 0, var 1, float64."""
    seed = np.uint32(zlib.crc32(key.encode('utf-8')))
    # uint32 arithmetic wraps modulo 2**32, which is exactly the hash's definition.
    h = np.arange(start, stop, dtype=np.uint32)
    h *= np.uint32(_GOLDEN)
    h += seed
    for mul in _MIXERS:
        h ^= h >> np.uint32(16)
        h *= np.uint32(mul)
    h ^= h >> np.uint32(15)
    u = (h.astype(np.float64) + 0.5) / _MOD  # uniform in (0, 1)
    return torch.from_numpy((2.0 * u - 1.0) * 3.0 ** 0.5)  # uniform in (-sqrt 3, sqrt 3)


def _values(key: str, t: Tensor, n: Tensor) -> Tensor:
    """Map the noise ``n`` of tensor ``key`` to its weight values (float64)."""
    if key.endswith('running_mean'):
        return torch.zeros_like(n)
    if key.endswith('running_var'):
        return torch.ones_like(n)
    if '.ls1.' in key or '.ls2.' in key:
        return 0.1 + 0.02 * n
    if _NORM_WEIGHT.search(key):
        return 1.0 + 0.02 * n
    fan_in = t.numel() // t.shape[0] if t.dim() else 1
    if key.endswith('output_conv2.2.weight'):
        return n.abs() / fan_in ** 0.5  # non-negative: a relative output never clamps to 0
    if t.dim() >= 2 and 'pos_embed' not in key and not key.endswith('_token'):
        return n / fan_in ** 0.5
    return 0.02 * n


@torch.no_grad()
def fill_deterministic_(state_dict: MutableMapping[str, Tensor],
                        progress: bool = False) -> MutableMapping[str, Tensor]:
    """Overwrite every floating-point tensor of ``state_dict`` in place; returns it.

    ``progress`` shows a tqdm bar (elements filled): about a minute for ViT-G on 2 cores.
    """
    total = sum(t.numel() for t in state_dict.values() if torch.is_floating_point(t))
    bar = tqdm(total=total, unit='el', unit_scale=True, desc='deterministic weights',
               disable=not progress)
    for key, t in state_dict.items():
        bar.update(t.numel() if torch.is_floating_point(t) else 0)
        if not torch.is_floating_point(t):
            continue
        if not t.is_contiguous():  # e.g. channels_last conv weights: fill a contiguous copy
            t.copy_(_values(key, t, key_noise(key, 0, t.numel())).view(t.shape))
            continue
        flat = t.view(-1)
        for start in range(0, t.numel(), _CHUNK):
            stop = min(start + _CHUNK, t.numel())
            flat[start:stop].copy_(_values(key, t, key_noise(key, start, stop)))
    bar.close()
    return state_dict


def untrained_model(encoder: str | ModelConfig, head: str = 'relative',
                    max_depth: float | None = None, *, warn: bool = True) -> DepthAnythingV2:
    """Model with :func:`fill_deterministic_` weights (eval mode, CPU); logs a loud warning."""
    model = build_model(encoder, head, max_depth, device='meta')
    model.to_empty(device='cpu')
    n_params = sum(p.numel() for p in model.parameters())
    fill_deterministic_(model.state_dict(), progress=n_params > 200_000_000)
    if warn:
        log.warning(UNTRAINED_WARNING)
    return model.eval()
