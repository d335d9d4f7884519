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

"""Depth Pro (transformers ``DepthProForDepthEstimation``): metric depth and field of view.

Plain data, no torch: the network and its image processor come from ``transformers``, an
optional extra imported only when this family is chosen (models/depth_pro/network.py). With
the camera's focal length the depth uses it; without, the network's estimated field of view.
"""

from depth_anything_ros.models.registry import (
                                                Checkpoint,
                                                InputPolicy,
                                                ModelFamily,
                                                register_family,
)

FAMILY = register_family(ModelFamily(
    name='depth_pro',
    title='Depth Pro (transformers)',
    implementation='depth_anything_ros.models.depth_pro.network',
    encoders=('depthpro',),
    checkpoints=(Checkpoint('depth-pro', 'depthpro', 'metric', 'model.safetensors',
                            'apple-amlr', repo='apple/DepthPro-hf', subdir='depth-pro',
                            extra_files=('config.json', 'preprocessor_config.json')),),
    input=InputPolicy(aspect='library'),
    outputs=('metric',),
    backends=('torch',),
    precisions=('fp32',),
    checkpoint_names=(('relative', 'depth-pro'), ('metric', 'depth-pro')),
    order=22,
    model_types=('depth_pro',),
))
