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

"""The Video Depth Anything network: Depth Anything V2's DINOv2 trunk and a temporal DPT head.

Parameter names and shapes are the official checkpoints' (``pretrained.*``, ``head.*``). The
trunk and the DPT layers are Depth Anything V2's own modules
(:mod:`depth_anything_ros.models.da2`); this module adds the four temporal modules of the head
and the three ways of running it:

* ``forward_video(x [B,T,3,H,W]) -> [B,T,H,W]``: a clip (the official offline window);
* ``forward_stream(x [1,3,H,W], stream) -> [1,H,W]``: the next frame of a camera, attending
  to the features ``stream`` cached from its earlier frames (the official streaming mode);
* ``forward(x [B,3,H,W]) -> [B,H,W]``: each image alone (a one-frame clip, no history).

Outputs: affine-invariant disparity (relative networks, >= 0) or metres (metric networks).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
import math

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from depth_anything_ros.models.da2.config import ModelConfig
from depth_anything_ros.models.da2.dinov2 import DinoVisionTransformer
from depth_anything_ros.models.da2.dpt import DPTHead

from .config import config_for, VdaConfig
from .stream import VdaStream

#: Epsilon of the GroupNorm before each temporal module (LayerNorms inside use torch's 1e-5).
GROUP_NORM_EPS = 1e-6
#: Hidden width of the GEGLU feed-forward, as a multiple of the module width.
FF_MULT = 4


def sinusoid(length: int, dim: int) -> Tensor:
    """Sinusoidal positions [1, length, dim]: sin on even channels, cos on odd ones."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, length, dim)
    pe[0, :, 0::2] = torch.sin(pos * freq)
    pe[0, :, 1::2] = torch.cos(pos * freq)
    return pe


class PositionalEncoding(nn.Module):
    """Adds ``pe`` (a stored buffer, part of the checkpoints) along the time axis."""

    def __init__(self, dim: int, length: int) -> None:
        super().__init__()
        self.register_buffer('pe', sinusoid(length, dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pe[:, :x.shape[1]].to(x.dtype)  # (N, T, C)


class TemporalAttention(nn.Module):
    """Self-attention along time, per pixel; queries only for the newest ``frames`` frames."""

    def __init__(self, dim: int, heads: int, length: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = PositionalEncoding(dim, length)

    def forward(self, x: Tensor, frames: int, cached: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        """X [B*T, N, C] (normed tokens of T = ``frames`` frames, N pixels each).

        ``cached`` [B*N, S, C]: the same inputs of S earlier frames (streaming). Returns the
        attention output [B*T, N, C] and this call's input in time-major form [B*N, T, C]
        (what a stream caches).
        """
        bt, n, c = x.shape
        b = bt // frames
        seq = x.reshape(b, frames, n, c).transpose(1, 2).reshape(b * n, frames, c)  # (BN, T, C)
        own = seq
        if cached is not None:
            seq = torch.cat([cached, seq], dim=1)  # (BN, S + T, C)
        seq = self.pos_encoder(seq)
        q = self.to_q(seq[:, seq.shape[1] - frames:])  # (BN, T, C)
        k, v = self.to_k(seq), self.to_v(seq)  # (BN, S + T, C)
        h = self.heads

        def split(t: Tensor) -> Tensor:
            return t.reshape(t.shape[0], t.shape[1], h, c // h).transpose(1, 2)  # (BN, h, ., c/h)

        out = F.scaled_dot_product_attention(split(q), split(k), split(v))  # (BN, h, T, c/h)
        out = self.to_out[1](self.to_out[0](out.transpose(1, 2).reshape(b * n, frames, c)))
        return out.reshape(b, n, frames, c).transpose(1, 2).reshape(bt, n, c), own


class GEGLU(nn.Module):
    """Linear to twice the width; the first half gated by the exact GELU of the second."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, hidden * 2)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU -> (dropout) -> Linear; ``net.0`` / ``net.2`` as the checkpoints name them."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * FF_MULT), nn.Dropout(0.0),
                                  nn.Linear(dim * FF_MULT, dim)])

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TemporalBlock(nn.Module):
    """Two pre-norm temporal attentions and a pre-norm feed-forward, each residual."""

    def __init__(self, dim: int, heads: int, length: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(TemporalAttention(dim, heads, length)
                                              for _ in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(2))
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, frames: int, cached: Sequence[Tensor] | None
                ) -> tuple[Tensor, list[Tensor]]:
        states = []
        for i, (attn, norm) in enumerate(zip(self.attention_blocks, self.norms)):
            out, state = attn(norm(x), frames, None if cached is None else cached[i])
            x = x + out
            states.append(state)
        return x + self.ff(self.ff_norm(x)), states


class TemporalTransformer(nn.Module):
    """GroupNorm -> Linear in -> temporal block -> Linear out, added to the input map."""

    def __init__(self, dim: int, heads: int, length: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=GROUP_NORM_EPS)
        self.proj_in = nn.Linear(dim, dim)
        self.transformer_blocks = nn.ModuleList([TemporalBlock(dim, heads, length)])
        self.proj_out = nn.Linear(dim, dim)

    def forward(self, x: Tensor, frames: int, cached: Sequence[Tensor] | None
                ) -> tuple[Tensor, list[Tensor]]:
        """Map x [B*T, C, H, W] to the same shape; also give the attention inputs to cache."""
        bt, c, hh, ww = x.shape
        h = self.norm(x).permute(0, 2, 3, 1).reshape(bt, hh * ww, c)  # (BT, HW, C)
        h = self.proj_in(h)
        states: list[Tensor] = []
        for block in self.transformer_blocks:
            per = len(block.attention_blocks)
            mine = None if cached is None else cached[len(states):len(states) + per]
            h, new = block(h, frames, mine)
            states += new
        h = self.proj_out(h).reshape(bt, hh, ww, c).permute(0, 3, 1, 2)  # (BT, C, H, W)
        return h + x, states


class TemporalModule(nn.Module):
    """Wrapper whose only child reproduces the ``motion_modules.N.temporal_transformer`` keys."""

    def __init__(self, dim: int, cfg: VdaConfig) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(dim, cfg.temporal_heads,
                                                        cfg.temporal_frames, cfg.norm_groups)

    def forward(self, x: Tensor, frames: int, cached: Sequence[Tensor] | None
                ) -> tuple[Tensor, list[Tensor]]:
        return self.temporal_transformer(x, frames, cached)


#: Attention inputs each temporal module caches per frame (one per temporal attention).
STATES_PER_MODULE = 2


class TemporalDPTHead(DPTHead):
    """Depth Anything V2's DPT head with temporal modules after two levels and two fusions."""

    def __init__(self, cfg: VdaConfig) -> None:
        super().__init__(trunk_config(cfg))
        oc, f = cfg.out_channels, cfg.features
        self.motion_modules = nn.ModuleList(TemporalModule(w, cfg) for w in (oc[2], oc[3], f, f))

    def forward(self, features: Sequence[tuple[Tensor, Tensor]], ph: int, pw: int,  # noqa: D417
                out_size: Sequence, frames: int = 1, cached: Sequence[Tensor] | None = None
                ) -> tuple[Tensor, list[Tensor]]:
        """Tokens [(B*T, ph*pw, D), cls] x4 of T = ``frames`` frames -> [B*T, 1, *out_size].

        ``cached``: per temporal attention (8), the inputs of earlier frames [B*N, S, C];
        returns the depth and this call's attention inputs (what a stream caches).
        """
        levels = []
        for i, (tokens, _cls) in enumerate(features):  # the cls token is not used
            x = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, ph, pw)  # (BT, D, ph, pw)
            levels.append(self.resize_layers[i](self.projects[i](x)))
        per = STATES_PER_MODULE
        states: list[Tensor] = []

        def temporal(i: int, x: Tensor) -> Tensor:
            mine = None if cached is None else cached[i * per:(i + 1) * per]
            out, new = self.motion_modules[i](x, frames, mine)
            states.extend(new)
            return out

        s = self.scratch
        l3 = temporal(0, levels[2])
        l4 = temporal(1, levels[3])
        l1, l2 = s.layer1_rn(levels[0]), s.layer2_rn(levels[1])
        l3, l4 = s.layer3_rn(l3), s.layer4_rn(l4)  # (BT, F, ., .)
        p = temporal(2, s.refinenet4(l4, None, l3.shape[2:]))
        p = temporal(3, s.refinenet3(p, l3, l2.shape[2:]))
        p = s.refinenet2(p, l2, l1.shape[2:])
        p = s.refinenet1(p, l1, (l1.shape[2] * 2, l1.shape[3] * 2))  # (BT, F, 8ph, 8pw)
        out = F.interpolate(s.output_conv1(p), size=out_size, mode='bilinear',
                            align_corners=True)  # (BT, F/2, H, W)
        return s.output_conv2(out), states


def trunk_config(cfg: VdaConfig) -> ModelConfig:
    """Return the Depth Anything V2 configuration of the trunk and DPT layers (relative)."""
    return ModelConfig(**cfg.trunk_dict())


class VideoDepthAnything(nn.Module):
    """Video depth network; ``state_dict()`` matches the official checkpoints key for key."""

    #: the registry's name of this family (sidecars record it)
    family = 'vda'

    def __init__(self, cfg: VdaConfig) -> None:
        super().__init__()
        self.config = cfg
        self.pretrained = DinoVisionTransformer(trunk_config(cfg))
        self.head = TemporalDPTHead(cfg)

    @property
    def is_metric(self) -> bool:
        """True when the output is depth in metres."""
        return self.config.is_metric

    def _run(self, x: Tensor, frames: int, cached: Sequence[Tensor] | None
             ) -> tuple[Tensor, list[Tensor]]:
        """X [B*T,3,H,W] (frames of each clip consecutive) -> [B*T,H,W] and the states."""
        p = self.config.patch_size
        ph, pw = x.shape[-2] // p, x.shape[-1] // p
        feats = self.pretrained.get_intermediate_layers(x)
        out, states = self.head(feats, ph, pw, (ph * p, pw * p), frames, cached)
        if tuple(out.shape[-2:]) != tuple(x.shape[-2:]):
            out = F.interpolate(out, size=x.shape[-2:], mode='bilinear', align_corners=True)
        return torch.relu(out).squeeze(1), states  # (B*T, H, W)

    def forward_video(self, x: Tensor) -> Tensor:
        """Run a clip per batch item: x [B,T,3,H,W] (T <= temporal_frames) -> [B,T,H,W]."""
        b, t = x.shape[:2]
        if t > self.config.temporal_frames:
            raise ValueError(f'a clip holds at most {self.config.temporal_frames} frames, got {t}')
        return self._run(x.flatten(0, 1), t, None)[0].unflatten(0, (b, t))

    def forward(self, x: Tensor) -> Tensor:
        """Each image alone (no history): x [B,3,H,W] -> [B,H,W]."""
        return self._run(x, 1, None)[0]

    def new_stream(self) -> VdaStream:
        """Return a fresh per-camera state for :meth:`forward_stream`."""
        return VdaStream(self.config.temporal_frames)

    def forward_stream(self, x: Tensor, stream: VdaStream) -> Tensor:
        """Run the next frame of one camera: x [1,3,H,W] -> [1,H,W]; updates ``stream``.

        The first frame (after a reset) runs alone; each later one attends to the features
        ``stream`` keeps of earlier frames (:class:`~.stream.VdaStream` says which). A frame
        of another network input size than the stream's frames resets the stream first.
        """
        if x.shape[0] != 1:
            raise ValueError(f'a stream takes one frame at a time, got a batch of {x.shape[0]}')
        stream.check_size(tuple(x.shape[-2:]))
        cached = stream.window()
        depth, states = self._run(x, 1, cached)
        stream.push(states)
        return depth


def build_model(encoder: str | VdaConfig, head: str = 'relative',
                max_depth: float | None = None, *,
                device: torch.device | str | None = None) -> VideoDepthAnything:
    """Build an (untrained, default-initialised) Video Depth Anything network.

    ``encoder``: vda-small | vda-base | vda-large | vda-tiny, or a :class:`VdaConfig`.
    ``head``: 'relative' (disparity) or 'metric' (metres). ``max_depth`` must be None: the
    metric networks have no ceiling. ``device='meta'`` allocates nothing.
    """
    if head not in ('relative', 'metric'):
        raise ValueError(f'head must be "relative" or "metric", got {head!r}')
    if max_depth is not None:
        raise ValueError('Video Depth Anything networks have no max_depth (their metric output '
                         'is not a scaled sigmoid)')
    cfg = config_for(encoder, head == 'metric')
    with torch.device(device) if device is not None else nullcontext():
        return VideoDepthAnything(cfg)
