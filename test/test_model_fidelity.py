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

"""The network reproduces the official Depth Anything V2 numerics.

Reference arrays (``test/data/model_goldens.npz``) are official outputs computed with the
deterministic weight recipe; ``make_model_goldens.py`` beside them rebuilds the file.
"""

from __future__ import annotations

import gc
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import (
    build_model,
    ENCODERS,
    export_model,
    fill_deterministic_,
    load_model,
    ModelConfig,
    untrained_model,
)
from depth_anything_ros.models.da2.dinov2 import cubic_resize_matrix

DATA = Path(__file__).resolve().parent / 'data'
GOLDEN = np.load(DATA / 'model_goldens.npz', allow_pickle=False)
# sha256 of every filled vits tensor's float32 bytes in state-dict order (reference recipe).
VITS_FILL_SHA256 = '209c424afa5e425e7f100adc09d119473dd377134c4d6776c9dd0b2a98513442'
PARAMS = {'vits': 24_785_089, 'vitb': 97_470_785, 'vitl': 335_315_649,
          'vitg': 1_258_132_225}


def golden_input() -> torch.Tensor:
    """Rebuild the goldens' input [1,3,140,182] from its formula (and check the file)."""
    c, i, j = np.meshgrid(np.arange(3), np.arange(140), np.arange(182), indexing='ij')
    x = (np.sin(0.19 * (c + 1) * i + 0.11 * j + 0.5 * c)
         + 0.6 * np.cos(0.07 * (c + 2) * j - 0.13 * i)).astype(np.float32)[None]
    np.testing.assert_array_equal(x, GOLDEN['x'])
    return torch.from_numpy(x)


@pytest.fixture(scope='module')
def vits() -> torch.nn.Module:
    return untrained_model('vits', warn=False)


def test_fill_recipe_matches_reference_sha256(vits: torch.nn.Module) -> None:
    h = hashlib.sha256()
    for t in vits.state_dict().values():
        h.update(t.float().contiguous().numpy().tobytes())
    assert h.hexdigest() == VITS_FILL_SHA256
    sd = vits.state_dict()
    assert sd['pretrained.pos_embed'].double().sum().item() == pytest.approx(-1.3173699802,
                                                                             abs=1e-8)
    assert sd['pretrained.norm.weight'].double().sum().item() == pytest.approx(383.5645000935,
                                                                               abs=1e-8)


def test_fill_is_chunk_and_layout_independent() -> None:
    a = {'blocks.0.mlp.fc1.weight': torch.empty(3000, 1500)}  # > one hashing chunk
    b = {'blocks.0.mlp.fc1.weight': torch.empty(1500, 3000).t()}  # non-contiguous storage
    fill_deterministic_(a)
    fill_deterministic_(b)
    first = a['blocks.0.mlp.fc1.weight']
    assert first.std().item() == pytest.approx(1 / 1500 ** 0.5, rel=0.02)  # fan-in scaling
    torch.testing.assert_close(b['blocks.0.mlp.fc1.weight'].contiguous().view(-1)[:100],
                               first.view(-1)[:100], rtol=0, atol=0)


@pytest.mark.parametrize('encoder', list(ENCODERS))
def test_state_dict_keys_shapes_and_order_match_official(encoder: str) -> None:
    manifest = json.loads((DATA / f'state_dict_{encoder}.json').read_text())
    for head in ('relative', 'metric'):
        model = build_model(encoder, head, device='meta')  # no memory for vitg
        sd = model.state_dict()
        assert list(sd) == list(manifest)
        for key, (shape, dtype) in manifest.items():
            assert list(sd[key].shape) == shape, key
            assert str(sd[key].dtype) == f'torch.{dtype}', key
    assert sum(p.numel() for p in model.parameters()) == PARAMS[encoder]


@pytest.mark.slow
def test_forward_features_and_pos_embed_match_official(vits: torch.nn.Module) -> None:
    x = golden_input()
    with torch.inference_mode():
        pos = vits.pretrained.interpolate_pos_embed(10, 13)
        feats = vits.forward_features(x)
    np.testing.assert_allclose(pos.numpy(), GOLDEN['pos_embed_10x13'], rtol=0, atol=2e-7)
    assert len(feats) == 4
    for i, (patches, cls) in enumerate(feats):
        assert patches.shape == (1, 130, 384) and cls.shape == (1, 384)
        np.testing.assert_allclose(patches[:, ::3].numpy(), GOLDEN[f'feat{i}_stride3'],
                                   rtol=0, atol=2e-5)
        np.testing.assert_allclose(cls.numpy(), GOLDEN[f'cls{i}'], rtol=0, atol=2e-5)


def test_cubic_matrix_equals_torch_bicubic_scale_factor() -> None:
    g = 37
    grid = torch.randn(1, 1, g, g, dtype=torch.float64).float()
    for ph, pw in ((10, 13), (37, 49), (26, 35), (37, 38), (40, 37), (5, 90)):
        want = torch.nn.functional.interpolate(
            grid, scale_factor=((ph + 0.1) / g, (pw + 0.1) / g), mode='bicubic',
            align_corners=False)[0, 0]
        wr, wc = cubic_resize_matrix(ph, g), cubic_resize_matrix(pw, g)
        got = wr @ grid[0, 0] @ wc.T
        assert got.shape == want.shape == (ph, pw)
        # Same weights; only float32 summation order differs (~1e-6 relative on N(0,1) data).
        # A wrong source mapping (size= instead of scale_factor=) is off by > 1e-2.
        torch.testing.assert_close(got, want, rtol=0, atol=1.5e-5)
    # The exactly square full-size grid is the identity (official shortcut), not a resample.
    assert torch.equal(cubic_resize_matrix(37, g, square=True), torch.eye(g))
    assert not torch.equal(cubic_resize_matrix(37, g, square=False), torch.eye(g))


def test_cubic_matrix_weights_equal_torch_for_every_grid_size() -> None:
    g = 37
    basis = torch.eye(g)[None, :, :, None]  # channel c = unit impulse at row c
    for n in range(1, 160):
        # Resampling the impulses gives torch's weight matrix, transposed, column by column.
        want = torch.nn.functional.interpolate(basis, scale_factor=((n + 0.1) / g, 1.0),
                                               mode='bicubic', align_corners=False)
        got = cubic_resize_matrix(n, g)
        # float32 rounding of the source coordinate differs by a few ulp (<= 2.6e-6 in a
        # weight); a wrong mapping (size= instead of scale_factor=, no +0.1) is off by > 1e-2.
        torch.testing.assert_close(got, want[0, :, :, 0].T, rtol=0, atol=5e-6, msg=f'n={n}')
        torch.testing.assert_close(got.sum(1), torch.ones(n), rtol=0, atol=1e-6)


def test_pos_embed_cache_follows_weight_updates(vits: torch.nn.Module) -> None:
    enc = vits.pretrained
    with torch.inference_mode():
        first = enc._pos_embed_for(10, 13)
        assert enc._pos_embed_for(10, 13) is first  # cached
    with torch.no_grad():
        enc.pos_embed.add_(1.0)
    try:
        with torch.inference_mode():
            second = enc._pos_embed_for(10, 13)
        torch.testing.assert_close(second, first + 1.0, rtol=0, atol=1e-5)
    finally:
        with torch.no_grad():
            enc.pos_embed.sub_(1.0)


@pytest.mark.parametrize('context', [torch.inference_mode, torch.no_grad])
@pytest.mark.slow
def test_models_built_and_loaded_without_autograd_match_official(
        vits: torch.nn.Module, context: type, tmp_path: Path) -> None:
    with context():   # weights made here are inference tensors under inference_mode
        model = build_model('vits', 'relative')
        model.load_state_dict(vits.state_dict())
    _check_forward(model.eval(), GOLDEN['y_vits'], 5e-5)
    est = DepthEstimator(model, device='cpu', exact=True)
    for _ in range(2):   # the first frame and the following ones
        np.testing.assert_allclose(est.infer(GOLDEN['image_bgr'])[::4, ::4],
                                   GOLDEN['depth_stride4'], rtol=0, atol=1e-4)
    tiny = build_model(ModelConfig.tiny(), 'relative').eval()
    path = export_model(tiny, tmp_path / 'tiny.pth')
    with context():
        loaded = load_model(path)
    x = golden_input()
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), tiny(x), rtol=0, atol=0)


def _check_forward(model: torch.nn.Module, golden: np.ndarray, atol: float) -> None:
    with torch.inference_mode():
        y = model(golden_input())
    assert y.shape == (1, 140, 182) and y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), golden, rtol=0, atol=atol)


def test_forward_vits_matches_official(vits: torch.nn.Module) -> None:
    _check_forward(vits, GOLDEN['y_vits'], 5e-5)


@pytest.mark.slow
def test_forward_metric_vits_matches_official() -> None:
    model = untrained_model('vits', 'metric', warn=False)
    assert model.config.max_depth == 20.0 and model.is_metric
    _check_forward(model, GOLDEN['y_metric_vits'], 2e-4)
    y = GOLDEN['y_metric_vits']
    assert 0 < y.min() and y.max() < 20.0  # metres in (0, max_depth)


@pytest.mark.parametrize('encoder', ['vitb', 'vitl', 'vitg'])
@pytest.mark.slow
def test_forward_large_encoders_match_official(encoder: str) -> None:
    model = untrained_model(encoder, warn=False)  # built on meta, filled in place: one copy
    try:
        _check_forward(model, GOLDEN[f'y_{encoder}'], 5e-5)
    finally:
        del model
        gc.collect()


@pytest.mark.slow
def test_training_mode_gradients_flow_through_pos_embed() -> None:
    model = build_model(ModelConfig.tiny(), 'metric')  # sigmoid: no ReLU dead zone at init
    model.train()
    y = model(torch.randn(2, 3, 56, 70))
    assert y.shape == (2, 56, 70)
    y.mean().backward()
    assert model.pretrained.pos_embed.grad is not None
    assert model.pretrained.pos_embed.grad.abs().sum() > 0


def test_tiny_config_and_metric_head() -> None:
    model = build_model('tiny', 'metric', max_depth=80.0).eval()
    assert model.config.embed_dim == 64 and model.config.max_depth == 80.0
    with torch.inference_mode():
        y = model(torch.randn(1, 3, 42, 84))
    assert y.shape == (1, 42, 84)
    assert (y > 0).all() and (y < 80.0).all()
    with pytest.raises(ValueError, match='multiples of 14'):
        model(torch.randn(1, 3, 40, 84))
    with pytest.raises(ValueError, match='unknown encoder'):
        build_model('vitx')
    with pytest.raises(ValueError, match='max_depth only applies'):
        build_model('vits', 'relative', max_depth=10.0)
