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

"""Convert between official Depth Anything V2 keys and Hugging Face transformers keys.

Transformers-format weights (``depth-anything/Depth-Anything-V2-*-hf``,
``DepthAnythingForDepthEstimation``) hold the same tensors under other names; the only
structural change is that the fused ``qkv`` projection is stored as separate query/key/value
matrices, and the fusion blocks are numbered coarse-to-fine (``fusion_stage.layers.0`` is
``refinenet4``).
"""

from __future__ import annotations

from collections.abc import Mapping
import re

import torch
from torch import Tensor

HF_PREFIXES = ('backbone.', 'neck.', 'head.')

# (official regex, hf template) for one-to-one renames; {n} is the first group.
_BLOCK = 'pretrained.blocks.{n}.'
_HF_LAYER = 'backbone.encoder.layer.{n}.'
_BLOCK_RENAMES = {
    'norm1.weight': 'norm1.weight', 'norm1.bias': 'norm1.bias',
    'norm2.weight': 'norm2.weight', 'norm2.bias': 'norm2.bias',
    'ls1.gamma': 'layer_scale1.lambda1', 'ls2.gamma': 'layer_scale2.lambda1',
    'attn.proj.weight': 'attention.output.dense.weight',
    'attn.proj.bias': 'attention.output.dense.bias',
    'mlp.fc1.weight': 'mlp.fc1.weight', 'mlp.fc1.bias': 'mlp.fc1.bias',
    'mlp.fc2.weight': 'mlp.fc2.weight', 'mlp.fc2.bias': 'mlp.fc2.bias',
    'mlp.w12.weight': 'mlp.weights_in.weight', 'mlp.w12.bias': 'mlp.weights_in.bias',
    'mlp.w3.weight': 'mlp.weights_out.weight', 'mlp.w3.bias': 'mlp.weights_out.bias',
}
_FIXED = {
    'pretrained.cls_token': 'backbone.embeddings.cls_token',
    'pretrained.mask_token': 'backbone.embeddings.mask_token',
    'pretrained.pos_embed': 'backbone.embeddings.position_embeddings',
    'pretrained.patch_embed.proj.weight': 'backbone.embeddings.patch_embeddings.projection.weight',
    'pretrained.patch_embed.proj.bias': 'backbone.embeddings.patch_embeddings.projection.bias',
    'pretrained.norm.weight': 'backbone.layernorm.weight',
    'pretrained.norm.bias': 'backbone.layernorm.bias',
    'depth_head.scratch.output_conv1.weight': 'head.conv1.weight',
    'depth_head.scratch.output_conv1.bias': 'head.conv1.bias',
    'depth_head.scratch.output_conv2.0.weight': 'head.conv2.weight',
    'depth_head.scratch.output_conv2.0.bias': 'head.conv2.bias',
    'depth_head.scratch.output_conv2.2.weight': 'head.conv3.weight',
    'depth_head.scratch.output_conv2.2.bias': 'head.conv3.bias',
}
_FUSION_PARTS = {
    'out_conv': 'projection',
    'resConfUnit1.conv1': 'residual_layer1.convolution1',
    'resConfUnit1.conv2': 'residual_layer1.convolution2',
    'resConfUnit2.conv1': 'residual_layer2.convolution1',
    'resConfUnit2.conv2': 'residual_layer2.convolution2',
}
_QKV = ('query', 'key', 'value')


def is_hf_state_dict(state_dict: Mapping[str, Tensor]) -> bool:
    """Return True when the keys use transformers' ``backbone./neck./head.`` naming."""
    return any(k.startswith('backbone.embeddings.') for k in state_dict)


def _official_to_hf_name(key: str) -> str:
    if key in _FIXED:
        return _FIXED[key]
    m = re.fullmatch(r'pretrained\.blocks\.(\d+)\.(.+)', key)
    if m and m.group(2) in _BLOCK_RENAMES:
        return _HF_LAYER.format(n=m.group(1)) + _BLOCK_RENAMES[m.group(2)]
    m = re.fullmatch(r'depth_head\.projects\.(\d)\.(weight|bias)', key)
    if m:
        return f'neck.reassemble_stage.layers.{m.group(1)}.projection.{m.group(2)}'
    m = re.fullmatch(r'depth_head\.resize_layers\.(\d)\.(weight|bias)', key)
    if m:
        return f'neck.reassemble_stage.layers.{m.group(1)}.resize.{m.group(2)}'
    m = re.fullmatch(r'depth_head\.scratch\.layer(\d)_rn\.weight', key)
    if m:
        return f'neck.convs.{int(m.group(1)) - 1}.weight'
    m = re.fullmatch(r'depth_head\.scratch\.refinenet(\d)\.(.+)\.(weight|bias)', key)
    if m and m.group(2) in _FUSION_PARTS:
        j = 4 - int(m.group(1))  # refinenet4 (coarsest) is fusion layer 0
        return f'neck.fusion_stage.layers.{j}.{_FUSION_PARTS[m.group(2)]}.{m.group(3)}'
    raise KeyError(f'no Hugging Face name known for official key {key!r}')


def official_to_hf(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Official key names -> transformers names (qkv split into query/key/value)."""
    out: dict[str, Tensor] = {}
    for key, t in state_dict.items():
        m = re.fullmatch(r'pretrained\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)', key)
        if m:
            for name, part in zip(_QKV, t.chunk(3, dim=0)):  # rows are [q; k; v]
                out[f'{_HF_LAYER.format(n=m.group(1))}attention.attention.{name}.'
                    f'{m.group(2)}'] = part.clone()
            continue
        out[_official_to_hf_name(key)] = t
    return out


def hf_to_official(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Map transformers key names to official names (query/key/value fused back into qkv).

    Keys the official model has no use for in inference are still mapped; unknown keys raise
    ``KeyError`` naming them.
    """
    reverse: dict[str, str] = {}
    n_layers = 1 + max((int(m.group(1)) for k in state_dict
                        if (m := re.match(r'backbone\.encoder\.layer\.(\d+)\.', k))), default=-1)
    candidates = list(_FIXED)
    for n in range(n_layers):
        candidates += [_BLOCK.format(n=n) + k for k in _BLOCK_RENAMES]
    for i in range(4):
        candidates += [f'depth_head.projects.{i}.{p}' for p in ('weight', 'bias')]
        candidates += [f'depth_head.resize_layers.{i}.{p}' for p in ('weight', 'bias')]
        candidates.append(f'depth_head.scratch.layer{i + 1}_rn.weight')
        candidates += [f'depth_head.scratch.refinenet{i + 1}.{part}.{p}'
                       for part in _FUSION_PARTS for p in ('weight', 'bias')]
    for key in candidates:
        reverse[_official_to_hf_name(key)] = key
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    unknown = []
    for key, t in state_dict.items():
        m = re.fullmatch(r'backbone\.encoder\.layer\.(\d+)\.attention\.attention\.'
                         r'(query|key|value)\.(weight|bias)', key)
        if m:
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = t
        elif key in reverse:
            out[reverse[key]] = t
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'unknown Hugging Face Depth Anything keys: {unknown[:8]}'
                       f'{" ..." if len(unknown) > 8 else ""}')
    for (n, kind), parts in sorted(qkv.items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
        if set(parts) != set(_QKV):
            raise KeyError(f'layer {n} {kind}: expected query, key and value, got {sorted(parts)}')
        out[f'pretrained.blocks.{n}.attn.qkv.{kind}'] = torch.cat([parts[q] for q in _QKV], 0)
    return out
