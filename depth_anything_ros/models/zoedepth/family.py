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

from depth_anything_ros.models import registry

FAMILY = registry.register_family(registry.library_family(
    name='zoedepth', title='ZoeDepth (transformers)', encoder='zoedepth', output='metric',
    checkpoints=tuple(
        registry.library_checkpoint(name, 'zoedepth', 'metric', f'Intel/{name}', 'MIT', depth)
        for name, depth in (('zoedepth-nyu', 10.0), ('zoedepth-kitti', 80.0),
                            ('zoedepth-nyu-kitti', 80.0))),
    default='zoedepth-nyu-kitti', order=21, **registry.LIBRARY_EXPORTED))
