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

"""Depth Anything V2 as a model family: its checkpoints, inputs, outputs and runtimes.

Plain data (no torch): the registry imports this to list the family; the network code is in
:mod:`depth_anything_ros.models.da2.checkpoint` and the modules beside it.
"""

from __future__ import annotations

from depth_anything_ros.models.da2.config import ENCODERS, EXTRA_ENCODERS
from depth_anything_ros.models.registry import Checkpoint, ModelFamily, register_family

_SIZE = {'vits': 'Small', 'vitb': 'Base', 'vitl': 'Large', 'vitg': 'Giant'}
_LICENCE = {'vits': 'Apache-2.0', 'vitb': 'CC-BY-NC-4.0', 'vitl': 'CC-BY-NC-4.0',
            'vitg': 'CC-BY-NC-4.0'}
# parameters of each network (the same for the relative and the metric head)
_PARAMETERS = {'vits': 24_785_089, 'vitb': 97_470_785, 'vitl': 335_315_649,
               'vitg': 1_258_132_225}
# metric training sets: (file name part, alias, Hugging Face name, ceiling in metres)
_METRIC = (('hypersim', 'indoor', 'Hypersim', 20.0), ('vkitti', 'outdoor', 'VKITTI', 80.0))


#: The toy model that ships with the package (tools/make_bundled_model.py makes it).
BUNDLED = Checkpoint(
    'rooms_tiny', 'tiny', 'metric', 'rooms_tiny.pth', 'Apache-2.0', max_depth=10.0,
    parameters=430_713, bundled=True,
    note='a toy trained on procedural synthetic rooms, not Depth Anything')


def _checkpoints() -> tuple[Checkpoint, ...]:
    out = []
    for enc, size in _SIZE.items():
        # The giant relative model was announced but never published.
        repo = None if enc == 'vitg' else f'depth-anything/Depth-Anything-V2-{size}'
        out.append(Checkpoint(enc, enc, 'disparity', f'depth_anything_v2_{enc}.pth',
                              _LICENCE[enc], repo, parameters=_PARAMETERS[enc]))
        if enc == 'vitg':
            continue
        for dataset, alias, hf_name, max_depth in _METRIC:
            out.append(Checkpoint(
                f'metric_{dataset}_{enc}', enc, 'metric',
                f'depth_anything_v2_metric_{dataset}_{enc}.pth', _LICENCE[enc],
                f'depth-anything/Depth-Anything-V2-Metric-{hf_name}-{size}', max_depth,
                aliases=(f'metric_{alias}_{enc}',), parameters=_PARAMETERS[enc]))
    return (*out, BUNDLED)


FAMILY = register_family(ModelFamily(
    name='da2',
    title='Depth Anything V2',
    implementation='depth_anything_ros.models.da2.checkpoint',
    encoders=tuple(ENCODERS),
    extra_encoders=EXTRA_ENCODERS,
    checkpoints=_checkpoints(),
    # official keys, and the transformers layout (converted on loading)
    key_prefixes=('pretrained.', 'depth_head.', 'backbone.', 'neck.', 'head.'),
    outputs=('disparity', 'metric'),
    checkpoint_names=(('relative', '{encoder}'), ('metric', 'metric_{scene}_{encoder}')),
    order=0,
))
