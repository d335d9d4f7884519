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

"""Depth Anything 3 as a model family: its checkpoints, inputs, outputs and runtimes.

Plain data (no torch): the registry imports this to list the family; the implementation module
is :mod:`depth_anything_ros.models.da3.adapter`. Each published checkpoint is a Hugging Face
repository holding ``model.safetensors`` and ``config.json``; both are kept in a folder named
after the checkpoint (``<weights_dir>/da3-small/model.safetensors``).
"""

from __future__ import annotations

from depth_anything_ros.models.da3.config import EXTRA_CONFIGS, NAMES, PUBLISHED
from depth_anything_ros.models.registry import (
    Checkpoint,
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputPolicy,
    ModelFamily,
    register_family,
)
from depth_anything_ros.vocabulary import PATCH_SIZE

#: Views one any-view forward pass takes here (the networks have no limit of their own).
MAX_VIEWS = 8
#: The official processing resolution: the longest side of the network input.
PROCESS_RES = 504
#: Parameters of each network (counted over the official state dict, docs/da3.md).
PARAMETERS = {'da3-small': 34_299_655, 'da3-base': 135_366_791, 'da3-large': 410_941_959,
              'da3-giant': 1_355_674_317, 'da3mono-large': 334_171_394,
              'da3metric-large': 334_171_394, 'da3nested-giant-large': 1_689_845_711}


def traits(name: str) -> dict:
    """Return what network ``name`` outputs: output kind, confidence, sky, intrinsics, views."""
    if name.startswith('da3nested'):
        return {'output': 'metric', 'confidence': True, 'sky': True, 'max_views': MAX_VIEWS}
    if name.startswith('da3metric'):
        return {'output': 'metric', 'sky': True, 'needs_intrinsics': True}
    if name.startswith('da3mono'):
        return {'output': 'depth', 'sky': True}
    return {'output': 'depth', 'confidence': True, 'max_views': MAX_VIEWS}


def _checkpoints() -> tuple[Checkpoint, ...]:
    return tuple(Checkpoint(name, name, filename='model.safetensors', licence=licence,
                            repo=repo, subdir=name, extra_files=('config.json',),
                            parameters=PARAMETERS[name], **traits(name))
                 for name, (repo, licence) in PUBLISHED.items())


FAMILY = register_family(ModelFamily(
    name='da3',
    title='Depth Anything 3',
    implementation='depth_anything_ros.models.da3.adapter',
    encoders=NAMES,
    extra_encoders=tuple(EXTRA_CONFIGS),
    checkpoints=_checkpoints(),
    file_formats=('torch', 'safetensors'),
    # Specific enough never to own a Depth Anything V2 key (whose transformers layout also
    # starts with backbone. and head.); the published files add the wrapper's model. prefix.
    key_prefixes=tuple(f'{wrap}{p}' for wrap in ('', 'model.') for p in (
        'backbone.pretrained.', 'head.projects.', 'head.resize_layers.', 'head.scratch.',
        'head.norm.', 'cam_enc.', 'cam_dec.', 'gs_head.', 'da3.', 'da3_metric.')),
    input=InputPolicy(multiple=PATCH_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                      aspect='longest', default_size=PROCESS_RES),
    outputs=('depth', 'metric'),
    confidence=True,
    sky=True,
    needs_intrinsics=True,
    max_views=MAX_VIEWS,
    # train fine-tunes whole networks single-view; distill trains relative students
    trainable=True,
    # every backend: exported graphs hold the networks' raw outputs (models/da3/graph.py)
    checkpoint_names=(('relative', '{encoder}'), ('metric', '{encoder}')),
    order=10,
))
