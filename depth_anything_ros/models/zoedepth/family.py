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

"""ZoeDepth (transformers ``ZoeDepthForDepthEstimation``): metric depth in metres.

Plain data, no torch: the network and its image processor come from ``transformers``, an
optional extra imported only when this family is chosen (models/zoedepth/network.py).
"""

from depth_anything_ros.models.registry import (
    Checkpoint,
    InputPolicy,
    ModelFamily,
    register_family,
)

_FILES = ('config.json', 'preprocessor_config.json')


def _published(name: str, repo: str, max_depth: float) -> Checkpoint:
    return Checkpoint(name, 'zoedepth', 'metric', 'model.safetensors', 'MIT', repo=repo,
                      max_depth=max_depth, subdir=name, extra_files=_FILES)


FAMILY = register_family(ModelFamily(
    name='zoedepth',
    title='ZoeDepth (transformers)',
    implementation='depth_anything_ros.models.zoedepth.network',
    encoders=('zoedepth',),
    checkpoints=(_published('zoedepth-nyu', 'Intel/zoedepth-nyu', 10.0),
                 _published('zoedepth-kitti', 'Intel/zoedepth-kitti', 80.0),
                 _published('zoedepth-nyu-kitti', 'Intel/zoedepth-nyu-kitti', 80.0)),
    input=InputPolicy(aspect='library'),
    outputs=('metric',),
    backends=('torch',),
    precisions=('fp32',),
    checkpoint_names=(('relative', 'zoedepth-nyu-kitti'), ('metric', 'zoedepth-nyu-kitti')),
    order=21,
    model_types=('zoedepth',),
))
