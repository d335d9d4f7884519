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

"""Prompt Depth Anything (transformers ``PromptDepthAnythingForDepthEstimation``): metric depth.

Plain data, no torch: the network and its image processor come from ``transformers``, an
optional extra imported only when this family is chosen (network.py). Its metres come from a
metric prompt fed into its decoder: the node's ``anchor/depth`` or ``anchor/points``
(``alignment: sparse`` or ``lidar``), made dense at the prompt resolution (core/prompt.py).
"""

from depth_anything_ros.models import registry

FAMILY = registry.register_family(registry.library_family(
    name='prompt_depth_anything', title='Prompt Depth Anything (transformers)',
    encoder='promptda', output='metric',
    checkpoints=tuple(
        registry.library_checkpoint(f'prompt-depth-anything-{size}', 'promptda', 'metric',
                                    f'depth-anything/prompt-depth-anything-{size}-hf',
                                    'Apache-2.0', needs_prompt=True)
        for size in ('vits', 'vitl')),
    default='prompt-depth-anything-vits', order=23))
