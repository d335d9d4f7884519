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

"""Marigold (diffusers ``MarigoldDepthPipeline``): affine-invariant depth, offline only.

Plain data, no torch: the pipeline comes from ``diffusers``, an optional extra imported only
when this family is chosen (models/marigold/network.py).
"""

from depth_anything_ros.models.registry import (
    Checkpoint,
    InputPolicy,
    ModelFamily,
    register_family,
)

#: What a published pipeline folder holds besides its ``model_index.json`` (diffusers'
#: ``save_pretrained`` layout: one folder per part).
PIPELINE_FILES = ('scheduler/scheduler_config.json',
                  'text_encoder/config.json', 'text_encoder/model.safetensors',
                  'tokenizer/merges.txt', 'tokenizer/special_tokens_map.json',
                  'tokenizer/tokenizer_config.json', 'tokenizer/vocab.json',
                  'unet/config.json', 'unet/diffusion_pytorch_model.safetensors',
                  'vae/config.json', 'vae/diffusion_pytorch_model.safetensors')


def _published(name: str, repo: str, licence: str) -> Checkpoint:
    return Checkpoint(name, 'marigold', 'depth', 'model_index.json', licence, repo=repo,
                      subdir=name, extra_files=PIPELINE_FILES)


FAMILY = register_family(ModelFamily(
    name='marigold', title='Marigold (diffusers)',
    implementation='depth_anything_ros.models.marigold.network:IMPLEMENTATION',
    encoders=('marigold',),
    checkpoints=(_published('marigold-depth-v1-1', 'prs-eth/marigold-depth-v1-1',
                            'Apache-2.0'),
                 _published('marigold-depth-lcm-v1-0', 'prs-eth/marigold-depth-lcm-v1-0',
                            'Apache-2.0')),
    input=InputPolicy(aspect='library'), outputs=('depth',),
    backends=('torch',), precisions=('fp32',), trainable=False,
    checkpoint_names=(('relative', 'marigold-depth-v1-1'),
                      ('metric', 'marigold-depth-v1-1')),
    order=50, model_types=('MarigoldDepthPipeline',),
    offline=('a diffusion pipeline takes seconds per frame (several denoising passes of a '
             'Stable Diffusion U-Net, times the ensemble size), too slow for a live camera; '
             'run it offline (infer, process-bag, eval, pseudo-label --teacher) and use a '
             'Depth Anything V2 checkpoint such as vits in the node')))
