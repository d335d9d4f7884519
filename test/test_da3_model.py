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

"""The Depth Anything 3 networks reproduce the official ones and load their checkpoints strictly.

The goldens in ``test/data/da3_goldens_*.npz`` are official outputs (the official code run with
the package's deterministic weights) made by ``tools/make_da3_goldens.py``; the manifest
``da3_state_dicts.json.gz`` lists every official state dict's keys and shapes. Forward outputs
must match within 5e-5 of each output's largest magnitude, under ``no_grad`` and
``inference_mode``.
"""

from __future__ import annotations

import gc
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything_ros.models.da2.dinov2 import cubic_resize_matrix
from depth_anything_ros.models.da3 import (
    build_model,
    config_for,
    Da3Config,
    fill_da3_,
    heads,
    load_da3,
    metric_depth,
    NAMES,
    NestedConfig,
    PUBLISHED,
    untrained_model,
)
from depth_anything_ros.models.da3.checkpoint import infer_config
from depth_anything_ros.models.da3.network import infer, SKY_THRESHOLD
from depth_anything_ros.models.da3.transforms import prepare_views
from depth_anything_ros.models.da3.weights import da3_values
from depth_anything_ros.models.files import CheckpointError

# Small inputs: one thread is as fast, and leaves the second core to the rest of CI.
pytestmark = pytest.mark.usefixtures('one_torch_thread')

DATA = Path(__file__).resolve().parent / 'data'
REDUCED = np.load(DATA / 'da3_goldens_reduced.npz', allow_pickle=False)
FULL = np.load(DATA / 'da3_goldens_full.npz', allow_pickle=False)
E2E = np.load(DATA / 'da3_goldens_e2e.npz', allow_pickle=False)
RTOL = 5e-5
E2E_RTOL = 1e-4
# Above 100k pixels the official code estimates its quantiles from a random subsample (ours
# from an even one), so the far value given to sky pixels differs by that sampling noise.
SKY_FAR_RTOL = 0.05
MODES = {'no_grad': torch.no_grad, 'inference_mode': torch.inference_mode}


def _config(golden: np.lib.npyio.NpzFile, tag: str) -> Da3Config | NestedConfig:
    d = json.loads(str(golden[f'{tag}/config']))
    return NestedConfig.from_dict(d) if 'anyview' in d else Da3Config.from_dict(d)


def _cases(golden: np.lib.npyio.NpzFile, tag: str) -> dict[str, dict[str, np.ndarray]]:
    cases: dict[str, dict[str, np.ndarray]] = {}
    for key in golden.files:
        parts = key.split('/')
        if len(parts) == 3 and parts[0] == tag:
            cases.setdefault(parts[1], {})[parts[2]] = golden[key]
    return cases


def assert_matches(got: torch.Tensor, want: np.ndarray, what: str, rtol: float = RTOL) -> None:
    """Largest difference within ``rtol`` of the largest magnitude of ``want``."""
    got = got.detach().float().numpy()
    assert got.shape == want.shape, what
    scale = max(float(np.abs(want).max()), 1e-12)
    err = float(np.abs(got - want).max()) / scale
    assert err <= rtol, f'{what}: max error {err:.2e} of the largest value ({scale:.3g})'


def check_goldens(golden: np.lib.npyio.NpzFile, tag: str) -> None:
    """Every stored case of ``tag``, under no_grad and under inference_mode."""
    model = untrained_model(_config(golden, tag), warn=False)
    x = torch.from_numpy(golden['x'])
    poses = torch.from_numpy(golden['extrinsics']), torch.from_numpy(golden['intrinsics'])
    cases = _cases(golden, tag)
    assert cases, tag
    for mode, context in MODES.items():
        for case, outputs in cases.items():
            views = int(case[0])
            with context():
                out = model(x[:, :views], *(poses if case.endswith('posed') else (None, None)))
            for key, want in outputs.items():
                assert_matches(out[key], want, f'{tag} {case} {key} ({mode})')


def _tags(golden: np.lib.npyio.NpzFile) -> list[str]:
    return sorted({k.split('/')[0] for k in golden.files if k.endswith('/config')})


def test_goldens_cover_every_official_configuration() -> None:
    assert _tags(REDUCED) == sorted(NAMES)
    assert _tags(FULL) == ['da3-base', 'da3-large', 'da3-small', 'da3metric-large']
    for tag in _tags(REDUCED):  # reduced: official depth and taps, narrower
        cfg, official = _config(REDUCED, tag), config_for(tag)
        pairs = ([(cfg.anyview, official.anyview), (cfg.metric, official.metric)]
                 if isinstance(cfg, NestedConfig) else [(cfg, official)])
        for small, full in pairs:
            assert (small.depth, small.out_layers, small.alt_start, small.qknorm_start,
                    small.rope_start, small.head, small.camera, small.gs_head) == (
                full.depth, full.out_layers, full.alt_start, full.qknorm_start,
                full.rope_start, full.head, full.camera, full.gs_head)
            assert small.embed_dim == 64
    for tag in _tags(FULL):
        assert _config(FULL, tag) == config_for(tag)


@pytest.mark.parametrize('name', NAMES)
def test_state_dict_is_the_official_one(name: str) -> None:
    with gzip.open(DATA / 'da3_state_dicts.json.gz', 'rt') as f:
        official = json.load(f)[name]
    ours = {k: list(v.shape) for k, v in build_model(name, device='meta').state_dict().items()}
    assert sorted(ours) == sorted(official)
    assert ours == official


@pytest.mark.parametrize('tag', NAMES)
def test_reduced_width_matches_official(tag: str) -> None:
    check_goldens(REDUCED, tag)


@pytest.mark.slow
@pytest.mark.parametrize('tag', ['da3-small', 'da3-base', 'da3-large', 'da3metric-large'])
def test_full_size_matches_official(tag: str) -> None:
    check_goldens(FULL, tag)
    gc.collect()


@pytest.fixture(scope='module')
def small() -> torch.nn.Module:
    return untrained_model(_config(REDUCED, 'da3-small'), warn=False)


def test_one_view_may_come_without_the_view_axis(small: torch.nn.Module) -> None:
    x = torch.from_numpy(REDUCED['x'])[:, 0]  # (1, 3, H, W)
    with torch.inference_mode():
        a, b = small(x), small(x[:, None])
    assert a['depth'].shape == (1, 1, *x.shape[-2:])
    for key in b:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_position_grid_is_used_as_stored_only_for_a_518_square(small: torch.nn.Module) -> None:
    vit = small.backbone.pretrained
    stored = vit.pos_embed.detach()
    with torch.inference_mode():
        torch.testing.assert_close(vit.pos_embed_for(37, 37), stored, rtol=0, atol=0)
        wider = vit.pos_embed_for(37, 38)
    assert wider.shape == (1, 1 + 37 * 38, 64)
    # Without the shortcut a 37-patch side is still resampled (scale 37.1 / 37): not identity.
    resample = cubic_resize_matrix(37, 37, False)
    assert (resample - torch.eye(37)).abs().max() > 1e-3


def test_a_batch_is_its_items_side_by_side(small: torch.nn.Module) -> None:
    x = torch.from_numpy(REDUCED['x'])
    pair = torch.cat([x[:, :2], x[:, 1:]])  # (2, 2, 3, H, W): two scenes of two views
    with torch.inference_mode():
        both = small(pair)
        alone = [small(pair[i:i + 1]) for i in range(2)]
    for key, value in both.items():
        for i in range(2):
            torch.testing.assert_close(value[i:i + 1], alone[i][key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape, message', [((1, 2, 4, 42, 56), 'views, 3, H, W'),
                                            ((3, 42, 56), 'views, 3, H, W'),
                                            ((1, 3, 40, 56), 'multiples of 14')])
def test_bad_input_shapes_are_refused(small: torch.nn.Module, shape: tuple,
                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small(torch.zeros(shape))


def test_poses_need_both_parts_one_per_view(small: torch.nn.Module) -> None:
    x = torch.from_numpy(REDUCED['x'])
    ext, ks = torch.from_numpy(REDUCED['extrinsics']), torch.from_numpy(REDUCED['intrinsics'])
    with pytest.raises(ValueError, match='both'):
        small(x[:, :2], ext)
    with pytest.raises(ValueError, match=r'for 1 x 3 views the poses are extrinsics \(1, 3, 4'):
        small(x, ext, ks)  # poses of two views for three images


def test_units_say_which_depth_needs_the_focal_length() -> None:
    units = {name: build_model(name, device='meta').depth_unit for name in NAMES}
    assert units == {'da3-small': 'relative', 'da3-base': 'relative', 'da3-large': 'relative',
                     'da3-giant': 'relative', 'da3mono-large': 'relative',
                     'da3metric-large': 'focal', 'da3nested-giant-large': 'metres'}


@pytest.mark.parametrize('tag', ['da3-small', 'da3nested-giant-large'])
def test_bf16_autocast_keeps_heads_and_cameras_in_float32(tag: str) -> None:
    """Only the backbone takes the lower precision, as officially.

    Before, the nested model's alignment mixed bfloat16 and float32 and failed.
    """
    model = untrained_model(_config(REDUCED, tag), warn=False)
    x = torch.from_numpy(REDUCED['x'])[:, :2]
    poses = torch.from_numpy(REDUCED['extrinsics']), torch.from_numpy(REDUCED['intrinsics'])
    with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(x, *poses)
    assert {v.dtype for v in out.values()} == {torch.float32}
    if tag == 'da3-small':
        assert_matches(out['depth'], REDUCED[f'{tag}/2view_posed/depth'], 'bf16 depth', 0.05)


def test_every_official_name_has_its_weights_and_licence() -> None:
    assert sorted(PUBLISHED) == sorted(NAMES)
    for name, (repo, licence) in PUBLISHED.items():
        assert repo.lower().removeprefix('depth-anything/').removesuffix('-1.1') == name
        assert licence in ('Apache-2.0', 'CC-BY-NC-4.0')


@pytest.mark.parametrize('image, message', [(np.zeros((8, 8, 3), np.float32), 'uint8'),
                                            (np.zeros((8, 8), np.uint8), r'\(h, w, 3\)')])
def test_preprocessing_refuses_what_is_no_rgb_image(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_views([image])
    with pytest.raises(ValueError, match='2 images but 1 intrinsics'):
        prepare_views([np.zeros((8, 8, 3), np.uint8)] * 2, [np.eye(3)])


def test_metric_depth_uses_the_mean_focal_over_300() -> None:
    depth = torch.tensor([[[[3.0]]]])
    assert metric_depth(depth, 600.0, 900.0).item() == pytest.approx(3.0 * 750 / 300)


@pytest.mark.parametrize('perturb', ['rope', 'uv', 'reference'])
def test_goldens_notice_small_departures(perturb: str, monkeypatch: pytest.MonkeyPatch,
                                         small: torch.nn.Module) -> None:
    """The goldens are sensitive to the details that are easy to get wrong."""
    strategy = 'saddle_balanced'
    if perturb == 'rope':  # no rotary position encoding
        monkeypatch.setattr(small.backbone.pretrained, '_rope', lambda *a: (None, None))
    elif perturb == 'uv':  # no position encoding in the head
        monkeypatch.setattr(heads, 'add_uv', lambda x, h, w: x)
    else:  # the first view as the reference
        strategy = 'first'
    x = torch.from_numpy(REDUCED['x'])
    with torch.inference_mode():
        depth = small(x, ref_view_strategy=strategy)['depth'].numpy()
    want = REDUCED['da3-small/3view/depth']
    assert np.abs(depth - want).max() / np.abs(want).max() > 100 * RTOL


def test_deterministic_weights_extend_the_package_recipe() -> None:
    sd = {'backbone.pretrained.blocks.4.attn.q_norm.weight': torch.empty(32),
          'cam_enc.token_norm.weight': torch.empty(64),
          'cam_dec.fc_fov.0.bias': torch.empty(2),
          'head.scratch.sky_output_conv2.2.weight': torch.empty(1, 32, 1, 1),
          'head.scratch.output_conv2.2.weight': torch.empty(2, 32, 1, 1),
          'backbone.pretrained.blocks.0.norm1.weight': torch.empty(64)}
    fill_da3_(sd)
    for key in list(sd)[:3] + [list(sd)[-1]]:
        assert (sd[key] - 1).abs().max() < 0.04, key  # norms and the fov bias near 1
    assert (sd['head.scratch.sky_output_conv2.2.weight'] < 0).any()  # signed: sky and ground
    assert (sd['head.scratch.output_conv2.2.weight'] >= 0).all()  # depth logits stay positive
    n = torch.zeros(3)
    assert da3_values('x.weight', torch.empty(3, 1), n).tolist() == [0.0, 0.0, 0.0]


# --- the official inference path ------------------------------------------------------------


def _e2e_views() -> tuple[list[np.ndarray], np.ndarray]:
    return [E2E['e2e/image0'], E2E['e2e/image1']], E2E['e2e/intrinsics']


def test_preprocessing_is_the_official_one() -> None:
    views, ks = _e2e_views()
    x, k = prepare_views(views, ks)
    assert x.shape == (1, 2, 3, 392, 504)  # 100x130 and 104x130 -> 392x504 and 406x504 -> crop
    np.testing.assert_allclose(x[0, ..., ::6, ::6].numpy(), E2E['e2e/input_stride6'], rtol=0,
                               atol=1e-6)
    np.testing.assert_allclose(k[0].numpy(), E2E['e2e/input_intrinsics'], rtol=0, atol=1e-5)


@pytest.mark.parametrize('name, views', [('da3-small', 2), ('da3metric-large', 1),
                                         ('da3nested-giant-large', 1)])
def test_inference_matches_official(name: str, views: int) -> None:
    """Official preprocessing at 504, the forward pass and the metric scaling from intrinsics."""
    model = untrained_model(_config(E2E, f'e2e/{name}'), warn=False)
    images, ks = _e2e_views()
    out = infer(model, images[:views], ks[:views])
    prefix = f'e2e/{name}/'
    sky = (E2E[prefix + 'sky'] >= SKY_THRESHOLD) if prefix + 'sky' in E2E else None
    for key in [k[len(prefix):] for k in E2E.files if k.startswith(prefix)]:
        if key == 'config':
            continue
        want, got = E2E[prefix + key], out[key].numpy()
        if got.ndim == 3 and got.shape[-1] == 504:
            got = got[..., ::6, ::6]
        assert got.shape == want.shape, key
        if sky is None or key not in ('depth', 'metric_depth'):
            assert_matches(out[key] if got.shape == out[key].shape else torch.from_numpy(got),
                           want, f'{name} {key}', E2E_RTOL)
            continue
        # every pixel that is not sky exactly; sky pixels share one far value
        np.testing.assert_allclose(got[~sky], want[~sky], rtol=E2E_RTOL, err_msg=key)
        far, official_far = np.unique(got[sky]), np.unique(want[sky])
        assert far.size == official_far.size == 1, key
        assert far[0] == pytest.approx(official_far[0], rel=SKY_FAR_RTOL), key
    assert sky is None or 0.02 < sky.mean() < 0.5  # both kinds of pixel are exercised
    if model.depth_unit == 'focal':
        k = out['input_intrinsics']
        ratio = out['metric_depth'] / out['depth']
        torch.testing.assert_close(ratio, ((k[:, 0, 0] + k[:, 1, 1]) / 600)[:, None, None]
                                   .expand_as(ratio), rtol=1e-6, atol=0)


# --- checkpoints --------------------------------------------------------------------------


def _save_safetensors(model: torch.nn.Module, path: Path, prefix: str = 'model.') -> None:
    from safetensors.torch import save_file
    save_file({prefix + k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def test_official_safetensors_with_config_load_strictly(tmp_path: Path) -> None:
    model = untrained_model('da3-small', warn=False)
    path = tmp_path / 'model.safetensors'
    _save_safetensors(model, path)
    (tmp_path / 'config.json').write_text(json.dumps({'model_name': 'da3-small'}))
    loaded = load_da3(path)
    assert loaded.config == config_for('da3-small')
    x = torch.from_numpy(REDUCED['x'])[:, :1]
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x)['depth'], model(x)['depth'], rtol=0, atol=0)


def test_bare_pth_loads_with_a_reduced_config_and_shapes_name_official_ones(
        tmp_path: Path, small: torch.nn.Module) -> None:
    path = tmp_path / 'weights.pth'
    torch.save(small.state_dict(), path)
    loaded = load_da3(path, small.config)
    for k, v in small.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    meta = build_model('da3-base', device='meta').state_dict()
    assert infer_config(meta, 'x') == config_for('da3-base')
    nested = build_model('da3nested-giant-large', device='meta').state_dict()
    assert infer_config(nested, 'x') == config_for('da3nested-giant-large')


def test_truncated_file_is_a_checkpoint_error(tmp_path: Path, small: torch.nn.Module) -> None:
    path = tmp_path / 'model.safetensors'
    _save_safetensors(small, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='download it again'):
        load_da3(path, small.config)


def test_missing_and_unexpected_keys_are_named(tmp_path: Path, small: torch.nn.Module) -> None:
    sd = dict(small.state_dict())
    del sd['head.norm.weight']
    sd['head.extra.weight'] = torch.zeros(1)
    path = tmp_path / 'w.pth'
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r'missing keys: head\.norm\.weight.*'
                                              r'unexpected keys: head\.extra\.weight'):
        load_da3(path, small.config)


def test_foreign_and_ambiguous_state_dicts_name_the_fix(tmp_path: Path) -> None:
    v2 = {'pretrained.pos_embed': torch.zeros(1, 1370, 384),
          'depth_head.projects.0.weight': torch.zeros(1)}
    with pytest.raises(CheckpointError, match='Depth Anything V2 checkpoint'):
        infer_config(v2, 'f')
    mono = {'backbone.pretrained.pos_embed': torch.zeros(1, 1370, 1024)}
    with pytest.raises(CheckpointError, match='da3mono-large or da3metric-large'):
        infer_config(mono, 'f')
    path = tmp_path / 'model.safetensors'
    path.write_bytes(b'<html>not found</html>')
    with pytest.raises(CheckpointError, match='HTML'):
        load_da3(path)
    weights = tmp_path / 'w.pth'
    torch.save({'backbone.pretrained.pos_embed': torch.zeros(1, 5, 64)}, weights)
    (tmp_path / 'config.json').write_text(json.dumps({'model_name': 'da3-tiny'}))
    with pytest.raises(CheckpointError, match='unknown Depth Anything 3 model'):
        load_da3(weights)
