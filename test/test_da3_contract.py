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

"""The documented form of a Depth Anything 3 network: ``depth_anything_ros.model.build_model``.

``build_model('da3-…')`` loads the official state dict strictly (a published file's
``model.``-prefixed keys, or the official network's own) and, called on views
``[B, S, 3, H, W]``, gives the official network's outputs shaped as the official ones.
"""

from __future__ import annotations

import pytest
import torch

from depth_anything_ros.model import build_model
from depth_anything_ros.models.da3 import build_model as build_network
from depth_anything_ros.models.da3.adapter import untrained_model

NAMES = ('da3-small', 'da3-base', 'da3-large', 'da3-giant', 'da3mono-large', 'da3metric-large',
         'da3nested-giant-large')


@pytest.mark.parametrize('name', NAMES)
def test_loads_the_official_state_dict_strictly(name: str) -> None:
    model = build_model(name, device='meta')
    official = build_network(name, device='meta').state_dict()   # the official network's keys
    published = {f'model.{k}': v for k, v in official.items()}    # as the published files hold
    for sd in (official, published):
        assert not model.load_state_dict(sd, strict=True, assign=True).missing_keys
    key = next(iter(official))
    with pytest.raises(RuntimeError, match='Missing key'):
        model.load_state_dict({k: v for k, v in official.items() if k != key}, assign=True)
    with pytest.raises(RuntimeError, match='Unexpected key'):
        model.load_state_dict({**official, 'extra.weight': torch.zeros(1)}, assign=True)


def _tiny(name: str) -> torch.nn.Module:
    """Return a reduced-width network of ``name``'s kind with the deterministic weights."""
    return untrained_model(name).eval()


@pytest.mark.parametrize('name', ['da3-tiny', 'da3metric-tiny'])
@pytest.mark.parametrize('mode', ['no_grad', 'inference_mode'])
def test_views_give_the_official_outputs(name: str, mode: str) -> None:
    model = _tiny(name)
    x = torch.randn(2, 2 if name == 'da3-tiny' else 1, 3, 28, 42, generator=torch.Generator()
                    .manual_seed(0))
    context = torch.no_grad() if mode == 'no_grad' else torch.inference_mode()
    with context:
        out = model(x)
        direct = model.model(x)
        single = model(x[:, 0]) if name == 'da3-tiny' else None
    b, s, _, h, w = x.shape
    keys = {'depth', 'depth_conf'} if name == 'da3-tiny' else {'depth', 'sky'}
    assert keys <= set(out)
    for key in keys:
        assert out[key].shape == (b, s, h, w)
        assert torch.equal(out[key], direct[key])
    if name == 'da3-tiny':   # one view as [B, 3, H, W]: the estimator's per-image form
        first = model.model(x[:, :1])
        torch.testing.assert_close(single['depth'], first['depth'][:, 0])
        torch.testing.assert_close(single['confidence'], first['depth_conf'][:, 0])


def test_too_many_views_is_one_clear_error() -> None:
    model = _tiny('da3metric-tiny')
    with pytest.raises(ValueError, match='at most 1 view'):
        model(torch.zeros(1, 2, 3, 28, 28))
    with pytest.raises(ValueError, match=r'\(B, S, 3, H, W\)'):
        model(torch.zeros(3, 28, 28))
