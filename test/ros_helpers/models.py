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

"""Small deterministic networks the node and stage tests share."""

from __future__ import annotations

from typing import Any


def tiny_da3_estimators() -> dict[str, Any]:
    """Return the reduced-width Depth Anything 3 estimators (torch, CPU, fp32, input 70).

    ``anyview``: ``da3-tiny`` (any-view, confidence); ``metric``: ``da3metric-tiny`` (metres
    with the focal length, sky). One torch thread, as the node tests run beside others.
    """
    import torch

    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.models.loading import load_model
    torch.set_num_threads(1)

    def make(name: str) -> DepthEstimator:
        return DepthEstimator(load_model(f'untrained:{name}', allow_untrained=True),
                              device='cpu', backend='torch', precision='fp32', input_size=70)
    return {'anyview': make('da3-tiny'), 'metric': make('da3metric-tiny')}
