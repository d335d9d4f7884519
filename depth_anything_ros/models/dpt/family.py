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

"""MiDaS / DPT (transformers ``DPTForDepthEstimation``): relative inverse depth.

Plain data, no torch: the network and its image processor come from ``transformers``, an
optional extra imported only when this family is chosen (models/dpt/network.py).
"""

from depth_anything_ros.models.registry import (
    Checkpoint,
    library_checkpoint,
    LIBRARY_EXPORTED,
    library_family,
    register_family,
)


def _published(name: str, repo: str, licence: str) -> Checkpoint:
    return library_checkpoint(name, 'dpt', 'disparity', repo, licence)


FAMILY = register_family(library_family(
    name='dpt', title='MiDaS / DPT (transformers)', encoder='dpt', output='disparity',
    checkpoints=(_published('dpt-large', 'Intel/dpt-large', 'Apache-2.0'),
                 _published('dpt-hybrid-midas', 'Intel/dpt-hybrid-midas', 'Apache-2.0'),
                 _published('dpt-beit-large-512', 'Intel/dpt-beit-large-512', 'MIT')),
    default='dpt-large', order=20, **LIBRARY_EXPORTED))
