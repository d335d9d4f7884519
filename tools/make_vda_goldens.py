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

"""Make the Video Depth Anything goldens in ``test/data/`` with the official code.

Runs only where the official code (github.com/DepthAnything/Video-Depth-Anything, its
repository root on the path) and what its networks import (torch, einops, easydict, numpy,
OpenCV) are importable, e.g.::

    PYTHONPATH=/path/to/Video-Depth-Anything:/path/to/extra-site-packages \
        python tools/make_vda_goldens.py

torchvision, which the official modules import only for ``Compose`` in their video helpers,
is stood in for by a plain function composition when it is not installed; xFormers is not
needed (without it the official attention is plain matmul/softmax).

Each official network is built with the package's deterministic weights
(:func:`depth_anything_ros.models.vda.weights.fill_vda_`, made on our network and loaded into
the official one strictly, which also proves the key-for-key match) and run in float32 on a
deterministic clip of uint8 RGB frames of 42x56 pixels:

* ``video_<cfg>``: the official ``forward`` on the first ``VIDEO`` frames as one clip
  (``[T, 42, 56]``);
* ``stream_<cfg>``: the official streaming mode (``infer_video_depth_one`` with
  ``input_size=42``, so that its resize is the identity and its output the network's) frame by
  frame (every second pixel stored, ``[S, 21, 28]``).

Configurations: ``vda-tiny`` (embed dim 64, 4 blocks, head width 32: the official modules at a
reduced width, ``STREAM_TINY`` frames, enough for the stream's sliding anchor to move) and
``vda-small`` (the official Small, ``STREAM_SMALL`` frames). ``frames`` holds the uint8 clip.
The key names and shapes of the three official networks go to ``vda_state_dicts.json.gz``.

The tests need none of this code.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
import sys
import types

import numpy as np
import torch

from depth_anything_ros.models.vda.config import CONFIGS, EXTRA_CONFIGS, OFFICIAL_ENCODER
from depth_anything_ros.models.vda.weights import untrained_model

DATA = Path(__file__).resolve().parents[1] / 'test' / 'data'
HEIGHT, WIDTH = 42, 56
VIDEO = 8
STREAM_TINY = 48
STREAM_SMALL = 14


def clip(frames: int) -> np.ndarray:
    """Deterministic uint8 RGB frames [T, 42, 56, 3]: drifting stripes and a moving square."""
    t, i, j, c = np.meshgrid(np.arange(frames), np.arange(HEIGHT), np.arange(WIDTH),
                             np.arange(3), indexing='ij')
    img = 128 + 90 * np.sin(0.31 * (j - 1.5 * t) + 0.17 * i + 1.1 * c) \
        + 30 * np.cos(0.05 * i * j + 0.4 * t - c)
    square = (np.abs(i - 20) < 7) & (np.abs(j - 10 - t % 30) < 7)
    img = np.where(square, 230 - 60 * c, img)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _stub_torchvision() -> None:
    """Stand in for ``torchvision.transforms.Compose`` (only the video helpers use it)."""
    try:
        import torchvision  # noqa: F401
        return
    except ImportError:
        pass

    class Compose:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, x):
            for step in self.steps:
                x = step(x)
            return x

    tv = types.ModuleType('torchvision')
    tv.transforms = types.ModuleType('torchvision.transforms')
    tv.transforms.Compose = Compose
    sys.modules['torchvision'] = tv
    sys.modules['torchvision.transforms'] = tv.transforms


def official_model(name: str):
    """Build the official streaming network of configuration ``name`` (default init)."""
    from video_depth_anything import dinov2 as official_dinov2
    from video_depth_anything.dpt_temporal import DPTHeadTemporal
    from video_depth_anything.video_depth_stream import VideoDepthAnything
    cfg = {**CONFIGS, **EXTRA_CONFIGS}[name]
    encoder = OFFICIAL_ENCODER.get(name, 'vits')
    model = VideoDepthAnything(encoder=encoder, features=cfg.features,
                               out_channels=list(cfg.out_channels))
    if name not in OFFICIAL_ENCODER:   # a reduced trunk, built by the official ViT class
        model.pretrained = official_dinov2.DinoVisionTransformer(
            img_size=518, patch_size=14, embed_dim=cfg.embed_dim, depth=cfg.depth,
            num_heads=cfg.num_heads, mlp_ratio=cfg.ffn_hidden / cfg.embed_dim,
            block_fn=official_dinov2.partial(official_dinov2.Block,
                                             attn_class=official_dinov2.MemEffAttention),
            init_values=1.0, ffn_layer='mlp', block_chunks=0, num_register_tokens=0,
            interpolate_antialias=False, interpolate_offset=0.1)
        model.intermediate_layer_idx = {encoder: list(cfg.intermediate_layers)}
        model.head = DPTHeadTemporal(cfg.embed_dim, cfg.features, False,
                                     out_channels=list(cfg.out_channels))
    return model


def run(name: str, frames: np.ndarray, stream_frames: int) -> dict[str, np.ndarray]:
    """Official outputs of configuration ``name`` on ``frames``, with our deterministic weights."""
    ours = untrained_model(name, warn=False)
    official = official_model(name).eval()
    sd = ours.state_dict()
    official_pe = {k: v.clone() for k, v in official.state_dict().items() if k.endswith('.pe')}
    official.load_state_dict(sd, strict=True)
    for k, v in official_pe.items():   # the fixed sinusoids are the official ones
        assert torch.allclose(v, sd[k], atol=1e-6), k
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    x = (frames[:VIDEO].astype(np.float32) / 255.0 - mean) / std  # (T, H, W, 3)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).unsqueeze(0).contiguous()  # (1, T, 3, H, W)
    with torch.no_grad():
        video = official(x)[0].numpy()  # (T, H, W)
    stream = []
    for k in range(stream_frames):
        stream.append(official.infer_video_depth_one(frames[k], input_size=HEIGHT,
                                                      device='cpu', fp32=True))
    stream = np.stack(stream)[:, ::2, ::2].astype(np.float32)
    print(f'{name}: video [{video.min():.4f}, {video.max():.4f}], stream '
          f'[{stream.min():.4f}, {stream.max():.4f}]')
    return {f'video_{name}': video.astype(np.float32), f'stream_{name}': stream}


def manifest() -> dict[str, list]:
    """Every official network's state-dict keys and shapes, in order."""
    out = {}
    for name in CONFIGS:
        model = official_model(name)   # on the CPU: the official ViT calls .item() at build
        out[name] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        print(f'{name}: {len(out[name])} keys, '
              f'{sum(int(np.prod(s)) for _, s in out[name]):,} values')
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', type=Path, default=DATA / 'vda_goldens.npz')
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    _stub_torchvision()
    frames = clip(STREAM_TINY)
    goldens = {'frames': frames}
    goldens.update(run('vda-tiny', frames, STREAM_TINY))
    goldens.update(run('vda-small', frames, STREAM_SMALL))
    goldens['note'] = np.array(
        'official Video-Depth-Anything (HEAD 4f5ae23) float32 CPU, weights fill_vda_; video_*: '
        f'forward on frames[:{VIDEO}]; stream_*: infer_video_depth_one(input_size={HEIGHT}) '
        'per frame, every second pixel')
    np.savez_compressed(args.out, **goldens)
    with gzip.open(DATA / 'vda_state_dicts.json.gz', 'wt') as f:
        json.dump(manifest(), f)
    print(f'wrote {args.out} ({args.out.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
