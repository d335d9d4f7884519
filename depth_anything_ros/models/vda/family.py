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

"""Video Depth Anything as a model family: its checkpoints, inputs, outputs and runtimes.

Plain data (no torch): the registry imports this to list the family; the implementation module
is :mod:`depth_anything_ros.models.vda.checkpoint`. The networks keep state between frames
(``stateful``): the temporal attention of the official streaming mode looks back at cached
features of earlier frames of the same camera (docs/temporal.md, "Video Depth Anything").

Licences, as the official README and model cards give them: the Small networks (relative and
metric) Apache-2.0, Base and Large CC-BY-NC-4.0.
"""

from __future__ import annotations

from depth_anything_ros.models.registry import Checkpoint, ModelFamily, register_family

from .config import CONFIGS, EXTRA_CONFIGS, OFFICIAL_ENCODER

_SIZE = {'vda-small': 'Small', 'vda-base': 'Base', 'vda-large': 'Large'}
_LICENCE = {'vda-small': 'Apache-2.0', 'vda-base': 'CC-BY-NC-4.0', 'vda-large': 'CC-BY-NC-4.0'}
#: Parameters of each network (counted over the official state dict; the same for the
#: relative and the metric one).
PARAMETERS = {'vda-small': 29_035_137, 'vda-base': 114_441_409, 'vda-large': 384_390_337}
#: The suffix of a metric checkpoint's name (``vda-small-metric``).
METRIC_SUFFIX = '-metric'


def _checkpoints() -> tuple[Checkpoint, ...]:
    out = []
    for enc, size in _SIZE.items():
        trunk = OFFICIAL_ENCODER[enc]
        out.append(Checkpoint(enc, enc, 'disparity', f'video_depth_anything_{trunk}.pth',
                              _LICENCE[enc], f'depth-anything/Video-Depth-Anything-{size}',
                              parameters=PARAMETERS[enc]))
        out.append(Checkpoint(enc + METRIC_SUFFIX, enc, 'metric',
                              f'metric_video_depth_anything_{trunk}.pth', _LICENCE[enc],
                              f'depth-anything/Metric-Video-Depth-Anything-{size}',
                              parameters=PARAMETERS[enc]))
    return tuple(out)


FAMILY = register_family(ModelFamily(
    name='vda',
    title='Video Depth Anything',
    implementation='depth_anything_ros.models.vda.checkpoint',
    encoders=tuple(CONFIGS),
    extra_encoders=tuple(EXTRA_CONFIGS),
    checkpoints=_checkpoints(),
    # The trunk's keys are Depth Anything V2's and the head's (but for its temporal modules)
    # Depth Anything 3's: the temporal modules' prefix tells a file without a telling name.
    key_prefixes=('pretrained.', 'head.projects.', 'head.resize_layers.', 'head.scratch.',
                  'head.motion_modules.'),
    outputs=('disparity', 'metric'),
    stateful=True,
    trainable=False,
    # The state between frames lives in torch tensors the exported graphs have no input for.
    backends=('torch',),
    checkpoint_names=(('relative', '{encoder}'), ('metric', '{encoder}' + METRIC_SUFFIX)),
    order=20,
))
