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

from depth_anything_ros.models import registry

FAMILY = registry.register_family(registry.library_family(
    name='depth_pro', title='Depth Pro (transformers)', encoder='depthpro', output='metric',
    checkpoints=(registry.library_checkpoint('depth-pro', 'depthpro', 'metric',
                                             'apple/DepthPro-hf', 'apple-amlr'),),
    default='depth-pro', order=22, **registry.LIBRARY_EXPORTED))
