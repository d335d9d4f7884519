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

"""Depth Anything 3 through the registry: names, files, the estimator's outputs, the commands.

The networks themselves are proven equal to the official code in test_da3_model.py; here the
family's seam: checkpoint names and files, the official preprocessing and focal-length rule as
the estimator applies them, confidence and sky, licences, and the commands.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.commands import cli
from depth_anything_ros.models import registry

RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']
NAMES = ('da3-small', 'da3-base', 'da3-large', 'da3-giant', 'da3mono-large', 'da3metric-large',
         'da3nested-giant-large')


def _image(h: int = 60, w: int = 80) -> np.ndarray:
    """Return a textured bgr8 test frame (a gradient plus a pattern, no flat areas)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 3) % 256, (y * 4) % 256, ((x + y) * 7) % 256], -1)
    return img.astype(np.uint8)


@pytest.fixture(scope='module')
def small():
    """Return untrained:da3-small as load_model gives it (one per module: 1 s to fill)."""
    from depth_anything_ros.models.loading import load_model
    return load_model('untrained:da3-small', allow_untrained=True)


@pytest.fixture(scope='module')
def metric():
    """Return the small metric configuration (focal rule, sky) with deterministic weights."""
    from depth_anything_ros.models.loading import load_model
    return load_model('untrained:da3metric-tiny', allow_untrained=True)


def _estimator(model, input_size: int | None = 70):
    from depth_anything_ros.estimator import DepthEstimator
    return DepthEstimator(model, device='cpu', backend='torch', precision='fp32',
                          input_size=input_size)


# ---------------------------------------------------------------- registry
def test_every_published_name_is_a_checkpoint_with_its_licence_and_traits() -> None:
    from depth_anything_ros.models.da3.config import PUBLISHED
    fam = registry.family('da3')
    assert tuple(c.name for c in fam.checkpoints) == NAMES
    for c in fam.checkpoints:
        assert (c.repo, c.licence) == PUBLISHED[c.name]
        assert c.licence in ('Apache-2.0', 'CC-BY-NC-4.0')
        assert (c.filename, c.subdir, c.extra_files) == ('model.safetensors', c.name,
                                                          ('config.json',))
        assert c.url == f'https://huggingface.co/{c.repo}/resolve/main/model.safetensors'
    by = {c.name: c for c in fam.checkpoints}
    assert (by['da3-small'].output, by['da3-small'].confidence, by['da3-small'].sky) == (
        'depth', True, False)
    assert by['da3metric-large'].needs_intrinsics and by['da3metric-large'].output == 'metric'
    assert not by['da3nested-giant-large'].needs_intrinsics
    assert by['da3mono-large'].max_views == 1 and by['da3-small'].max_views > 1
    # the encoder parameter (and so the launch file's argument) offers them
    from depth_anything_ros.params import spec
    assert set(NAMES) <= set(spec('encoder').choices)


def test_the_readme_model_table_is_current() -> None:
    text = (Path(__file__).resolve().parents[1] / 'README.md').read_text()
    begin = text.index('<!-- models:begin')
    block = text[text.index('\n', begin) + 1:text.index('<!-- models:end -->')]
    assert block.strip() == registry.markdown_table(), (
        'README.md is out of date: paste depth_anything_ros.models.registry.markdown_table() '
        'between the models markers')
    assert '| `da3metric-large` | Depth Anything 3 | 334.2 M | Apache-2.0 | metres, sky | ' \
        'fx, fy | no |' in block


def test_a_published_file_is_known_by_its_folder_only(tmp_path: Path) -> None:
    fam, c = registry.find_checkpoint(tmp_path / 'da3metric-large' / 'model.safetensors')
    assert (fam.name, c.name) == ('da3', 'da3metric-large')
    assert registry.find_checkpoint(tmp_path / 'model.safetensors') == (None, None)
    assert registry.find_checkpoint('da3-small')[1].local_name == 'da3-small/model.safetensors'


def test_keys_shared_in_prefix_with_depth_anything_v2_go_to_the_right_family(small) -> None:
    da3_keys = list(small.state_dict())
    assert all(k.startswith('model.') for k in da3_keys)   # the published layout
    assert registry.family_for_keys(da3_keys).name == 'da3'
    assert registry.family_for_keys([k[len('model.'):] for k in da3_keys]).name == 'da3'
    # Depth Anything V2: official keys, and its transformers layout (backbone., neck., head.)
    assert registry.family_for_keys(['pretrained.cls_token', 'depth_head.x']).name == 'da2'
    hf = ['backbone.embeddings.cls_token', 'backbone.encoder.layer.0.norm1.weight',
          'neck.reassemble_stage.x', 'head.conv1.weight', 'head.conv3.bias']
    assert registry.family_for_keys(hf).name == 'da2'


def test_a_family_declaring_traits_its_checkpoints_exceed_is_refused() -> None:
    c = registry.Checkpoint('x', 'x8', 'metric', 'x.pth', 'MIT', needs_intrinsics=True)
    with pytest.raises(ValueError, match='needs_intrinsics but the family does not declare'):
        registry.ModelFamily(name='x', title='x', implementation='x', encoders=('x8',),
                             outputs=('metric',), checkpoints=(c,))
    with pytest.raises(ValueError, match='only a metric output needs intrinsics'):
        registry.Checkpoint('y', 'y8', 'depth', 'y.pth', 'MIT', needs_intrinsics=True)
    with pytest.raises(ValueError, match='aspect must be one of'):
        registry.InputPolicy(aspect='stretch')


# ---------------------------------------------------------------- files
def test_the_published_layout_loads_and_a_sidecar_keeps_the_licence(small, tmp_path: Path,
                                                                     metric) -> None:
    from safetensors.torch import save_file

    from depth_anything_ros.models.loading import export_model, load_model
    from depth_anything_ros.models.sidecar import read_sidecar
    # as published: model.safetensors (keys "model.") + config.json naming the network
    folder = tmp_path / 'mine'
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in metric.state_dict().items()},
              str(folder / 'model.safetensors'))
    (folder / 'config.json').write_text(json.dumps({'model_name': 'da3metric-tiny'}))
    loaded = load_model(folder / 'model.safetensors')
    assert loaded.config.encoder == 'da3metric-tiny' and loaded.config.needs_intrinsics
    for a, b in zip(loaded.state_dict().values(), metric.state_dict().values()):
        assert torch.equal(a, b)
    # exported with its sidecar: family, config and licence come back
    loaded.licence = 'Apache-2.0'
    path = export_model(loaded, tmp_path / 'out' / 'm.pth')
    meta = read_sidecar(path, required=True)
    assert (meta['family'], meta['encoder'], meta['head'], meta['licence']) == (
        'da3', 'da3metric-tiny', 'metric', 'Apache-2.0')
    again = load_model(path)
    assert again.licence == 'Apache-2.0' and again.config.encoder == 'da3metric-tiny'


def test_a_depth_anything_3_file_is_never_taken_for_v2_nor_the_reverse(
        small, tiny, tmp_path: Path) -> None:
    from depth_anything_ros.models.files import CheckpointError
    from depth_anything_ros.models.loading import load_model
    # Depth Anything 3 weights under a Depth Anything V2 name
    v2_name = tmp_path / 'depth_anything_v2_vits.pth'
    torch.save(dict(list(small.state_dict().items())[:8]), v2_name)
    with pytest.raises(CheckpointError) as got:
        load_model(v2_name)
    assert 'holds Depth Anything 3 weights, but its name says Depth Anything V2' in str(got.value)
    assert '\n' not in str(got.value)
    # Depth Anything V2 weights where Depth Anything 3 files go
    (tmp_path / 'da3-small').mkdir()
    torch.save(tiny.state_dict(), tmp_path / 'da3-small' / 'model.safetensors')
    for spec in (tmp_path / 'da3-small' / 'model.safetensors', 'da3-small'):
        with pytest.raises(CheckpointError) as got:
            load_model(spec, weights_dir=tmp_path)
        assert 'holds Depth Anything V2 weights, but its name says Depth Anything 3' in \
            str(got.value)
        assert '\n' not in str(got.value)


# ---------------------------------------------------------------- estimator
def test_the_estimator_uses_the_official_preprocessing_and_gives_confidence(
        small, one_torch_thread: None) -> None:
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.models.da3.network import infer
    from depth_anything_ros.models.transforms import postprocess
    est = _estimator(small)
    assert (est.output, est.is_metric, est.has_confidence, est.has_sky,
            est.needs_intrinsics) == ('depth', False, True, False, False)
    img = _image()
    res = est.estimate(img, 'bgr8')
    assert est.network_size(60, 80) == (56, 70)   # longest side 70, official rounding
    ref = infer(small.model, [img[:, :, ::-1].copy()], process_res=70)
    np.testing.assert_allclose(res.depth, postprocess(ref['depth'], (60, 80))[0].numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.confidence,
                               postprocess(ref['depth_conf'], (60, 80))[0].numpy(),
                               rtol=1e-5, atol=1e-6)
    assert res.sky is None and res.confidence.min() >= 1.0
    # the callers that want depth only keep their return type
    depth = est.infer_batch([img, img[:40]], 'bgr8')
    np.testing.assert_array_equal(depth[0], res.depth)
    assert depth[1].shape == (40, 80)
    # no input size given: the family's (the official processing resolution, longest side)
    assert DepthEstimator(small, device='cpu', backend='torch',
                          precision='fp32').input_size == 504


def test_metric_depth_follows_the_focal_length_at_the_network_input(
        metric, one_torch_thread: None) -> None:
    from depth_anything_ros.estimator import IntrinsicsRequired
    from depth_anything_ros.models.da3.network import infer
    from depth_anything_ros.models.transforms import postprocess
    est = _estimator(metric)
    assert (est.output, est.needs_intrinsics, est.has_sky) == ('metric', True, True)
    img = _image()
    with pytest.raises(IntrinsicsRequired, match='focal length') as got:
        est.estimate(img)
    assert '\n' not in str(got.value)
    a = est.estimate(img, intrinsics=(300.0, 240.0))
    # the official end-to-end rule: K follows the resize, metres = depth * mean(fx, fy) / 300
    k = np.array([[300.0, 0, 40], [0, 240.0, 30], [0, 0, 1]])
    ref = infer(metric.model, [img[:, :, ::-1].copy()], intrinsics=[k], process_res=70)
    np.testing.assert_allclose(a.depth, postprocess(ref['metric_depth'], (60, 80))[0].numpy(),
                               rtol=1e-5)
    # each axis scales by its own resize (80 -> 70, 60 -> 56): (300 * 70/80 + 240 * 56/60) / 2
    b = est.estimate(img, intrinsics=(600.0, 480.0))
    np.testing.assert_allclose(b.depth, 2 * a.depth, rtol=1e-6)
    c = est.estimate(img, intrinsics=(400.0, 240.0))
    ratio = (400 * 70 / 80 + 240 * 56 / 60) / (300 * 70 / 80 + 240 * 56 / 60)
    np.testing.assert_allclose(c.depth, ratio * a.depth, rtol=1e-6)
    assert a.sky.dtype == bool and a.sky.shape == (60, 80) and a.confidence is None
    with pytest.raises(ValueError, match='finite and > 0'):
        est.estimate(img, intrinsics=(0.0, 240.0))


def test_sky_and_low_confidence_become_nan() -> None:
    from depth_anything_ros.core.model_outputs import (
        depth_to_disparity,
        mask_invalid,
        network_focal,
        pipeline_values,
    )
    depth = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    conf = np.array([[1.0, 2.0, np.nan], [3.0, 1.5, 4.0]], np.float32)
    sky = np.array([[False, False, False], [False, False, True]])
    out = mask_invalid(depth, conf, sky, min_confidence=2.0)
    assert np.isnan(out).tolist() == [[True, False, True], [False, True, True]]
    assert np.isfinite(depth).all()              # the input is left alone
    assert mask_invalid(depth, conf) is not None and np.isfinite(mask_invalid(depth, conf)[0, 2])
    with pytest.raises(ValueError, match='min_confidence'):
        mask_invalid(depth, conf, min_confidence=-1)
    with pytest.raises(ValueError, match='not the depth map'):
        mask_invalid(depth, conf[:1])
    values = pipeline_values(depth, 'depth', conf, sky, min_confidence=2.0)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(out))
    np.testing.assert_allclose(values[0, 1], 1 / depth[0, 1])
    np.testing.assert_array_equal(pipeline_values(depth, 'metric', sky=sky)[0], depth[0])
    with pytest.raises(ValueError, match='unknown output'):
        pipeline_values(depth, 'metres')
    disparity = depth_to_disparity(np.array([[2.0, 0.0], [np.nan, -1.0]], np.float32))
    assert disparity[0, 0] == 0.5 and np.isnan(disparity[0, 1:]).all() and \
        np.isnan(disparity[1]).all() and disparity.dtype == np.float32
    assert network_focal(500, 400, (480, 640), (378, 504)) == (500 * 504 / 640, 400 * 378 / 480)
    with pytest.raises(ValueError, match='finite and > 0'):
        network_focal(float('nan'), 1, (2, 2), (2, 2))


# ---------------------------------------------------------------- commands
def test_download_lists_the_names_with_their_licences(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(['download', '--list']) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    for name in NAMES:
        c = registry.find_checkpoint(name)[1]
        assert c.licence in rows[name] and c.repo in rows[name], rows[name]
    assert 'needs fx/fy' in rows['da3metric-large'] and 'confidence' in rows['da3-small']


def test_download_knows_the_repository_and_the_config(monkeypatch, tmp_path: Path) -> None:
    import sys
    import types
    calls = []

    def hf_hub_download(repo_id: str, filename: str, local_dir: str) -> str:
        calls.append((repo_id, filename, Path(local_dir)))
        return str(Path(local_dir) / filename)

    monkeypatch.setitem(sys.modules, 'huggingface_hub',
                        types.SimpleNamespace(hf_hub_download=hf_hub_download))
    assert cli.main(['download', 'da3metric-large', '--weights-dir', str(tmp_path)]) == 0
    folder = tmp_path / 'da3metric-large'
    assert calls == [('depth-anything/DA3METRIC-LARGE', 'model.safetensors', folder),
                     ('depth-anything/DA3METRIC-LARGE', 'config.json', folder)]


def test_infer_writes_depth_and_confidence_and_shows_the_licence(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), _image())
    rc = cli.main(['infer', str(image), '--out', str(tmp_path / 'out'), '--checkpoint',
                   'untrained:da3-small', '--allow-untrained', *RUNTIME])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert 'weights licence: none (deterministic test weights)' in out
    assert '(relative depth)' in out
    depth = np.load(tmp_path / 'out' / 'a.npy')
    conf = np.load(tmp_path / 'out' / 'a_confidence.npy')
    assert depth.shape == conf.shape == (60, 80) and conf.min() >= 1


def test_infer_with_a_model_that_needs_intrinsics(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture,
                                                  one_torch_thread: None) -> None:
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), _image())
    base = ['infer', str(image), '--out', str(tmp_path / 'out'), '--checkpoint',
            'untrained:da3metric-tiny', '--allow-untrained', *RUNTIME]
    assert cli.main(base) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == ('depth-anything-ros infer: error: da3metric-tiny gives metres only '
                         "with the camera's focal length; pass --fx (and --fy) in pixels of "
                         'the images')
    assert cli.main([*base, '--fy', '300']) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'depth-anything-ros infer: error: --fy needs --fx (the horizontal focal length) too')
    assert cli.main([*base, '--fx', '300']) == 0, capsys.readouterr()
    a = np.load(tmp_path / 'out' / 'a.npy')
    assert cli.main([*base, '--fx', '600']) == 0
    b = np.load(tmp_path / 'out' / 'a.npy')
    finite = np.isfinite(a)
    assert (finite == np.isfinite(b)).all()   # sky: NaN both times
    np.testing.assert_allclose(b[finite], 2 * a[finite], rtol=1e-6)
    for bad in ('0', '-3', 'nan', 'inf', 'x'):
        with pytest.raises(SystemExit) as got:
            cli.main([*base, '--fx', bad])
        assert got.value.code == 2


def test_eval_gives_a_model_that_needs_intrinsics_each_images_focal_length(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    from depth_anything_ros.training.datasets import GenericWriter
    h, w = 28, 42
    depth = np.tile(np.linspace(1.0, 5.0, w, dtype=np.float32), (h, 1))
    rgb = np.stack([np.round(255 / depth).astype(np.uint8)] * 3, -1)
    results = {}
    for fx in (None, 40.0, 80.0):
        writer = GenericWriter(tmp_path / f'data{fx}', depth_scale=1e-3)
        writer.add('ramp', rgb, depth, 'val',
                   intrinsics=None if fx is None else np.array(
                       [[fx, 0, 20.5], [0, fx, 13.5], [0, 0, 1]], np.float32))
        writer.close()
        out = tmp_path / f'{fx}.json'
        rc = cli.main(['eval', '--checkpoint', 'untrained:da3metric-tiny', '--allow-untrained',
                       '--data', str(tmp_path / f'data{fx}'), '--out', str(out),
                       '--input-size', '28', '--device', 'cpu', '--min-depth', '0.001',
                       '--eval-max-depth', '1000'])
        if fx is None:   # no intrinsics: one line naming the fix, no result
            assert rc == 2
            err = capsys.readouterr().err.strip().splitlines()[-1]
            assert err.startswith('depth-anything-ros eval: error: da3metric-tiny gives metres '
                                  "only with each image's focal length"), err
            assert not out.exists()
            continue
        assert rc == 0, capsys.readouterr()
        results[fx] = json.loads(out.read_text())
    assert results[40.0]['n_images'] == 1 and results[40.0] != results[80.0]
    # the focal length is taken at the network input: twice it, twice the metres
    from depth_anything_ros.models.loading import load_model
    from depth_anything_ros.training.evaluate import predict
    from depth_anything_ros.training.transforms import EvalTransform
    model = load_model('untrained:da3metric-tiny', allow_untrained=True)
    x = EvalTransform(28)({'image': rgb, 'depth': depth, 'valid_mask': depth > 0})['image']
    k = np.array([[40.0, 0, 20.5], [0, 40.0, 13.5], [0, 0, 1]], np.float32)
    a = predict(model, x, (h, w), intrinsics=k)
    b = predict(model, x, (h, w), intrinsics=k * [[2], [2], [1]])
    torch.testing.assert_close(b, 2 * a, rtol=1e-6, atol=0)


def test_infer_runs_on_an_exported_runtime(tmp_path: Path) -> None:
    """Exported runtimes run the family too (test_da3_backends.py compares them with torch)."""
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), _image())
    assert cli.main(['infer', str(image), '--out', str(tmp_path / 'out'), '--checkpoint',
                     'untrained:da3-tiny', '--allow-untrained', '--device', 'cpu',
                     '--backend', 'onnxruntime', '--precision', 'fp32', '--input-size',
                     '70']) == 0
    assert any((tmp_path / 'out').iterdir())


def test_training_offers_every_configuration_of_the_family() -> None:
    from depth_anything_ros.training.config import ENCODERS
    from depth_anything_ros.training.distill import STUDENTS
    assert 'vits' in ENCODERS and 'tiny' in STUDENTS
    # train and distill refuse what they cannot teach (the nested model, metric students)
    # with a reason, see test_da3_training.py
    assert {*NAMES, 'da3-tiny', 'da3metric-tiny'} <= set(ENCODERS) == set(STUDENTS)


def test_eval_scores_relative_depth_as_the_inverse_of_disparity(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    from types import SimpleNamespace

    from depth_anything_ros.training.datasets import build_dataset, GenericWriter
    from depth_anything_ros.training.evaluate import evaluate_model
    from depth_anything_ros.training.transforms import EvalTransform
    h, w = 28, 42
    depth = np.tile(np.linspace(1.0, 5.0, w, dtype=np.float32), (h, 1))
    rgb = np.stack([np.round(255 / depth).astype(np.uint8)] * 3, -1)
    writer = GenericWriter(tmp_path / 'data', depth_scale=1e-3)
    writer.add('ramp', rgb, depth, 'val')
    writer.close()
    # the whole command runs on a family whose networks give relative depth
    rc = cli.main(['eval', '--checkpoint', 'untrained:da3-tiny', '--allow-untrained', '--data',
                   str(tmp_path / 'data'), '--out', str(tmp_path / 'out.json'), '--input-size',
                   '28', '--device', 'cpu', '--eval-max-depth', '10'])
    assert rc == 0, capsys.readouterr()
    assert json.loads((tmp_path / 'out.json').read_text())['n_images'] == 1

    class Oracle(torch.nn.Module):
        """Reads the depth the image encodes (255 / grey): perfect relative depth, x 3."""

        def __init__(self, output: str) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.is_metric = False
            self.config = SimpleNamespace(output=output)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            grey = (x[:, 0] * 0.229 + 0.485) * 255
            return {'depth': 3 * 255 / grey.clamp(min=1)}

    data = build_dataset('generic', str(tmp_path / 'data'), 'val', EvalTransform(28),
                         min_depth=1e-3, max_depth=10.0)
    got = {out: evaluate_model(Oracle(out), data, min_depth=1e-3, max_depth=10.0,
                               align='scale_shift')['abs_rel'] for out in ('depth', 'disparity')}
    assert got['depth'] < 0.03 < got['disparity'], got


def test_the_stated_parameter_counts_are_those_of_the_networks() -> None:
    """The registry (and so the README table) counts what the networks hold, tensor by tensor.

    The official README rounds differently (0.08B for da3-small, 0.12B for da3-base, ...);
    the counts here are those of the state dicts that load the published files strictly.
    """
    from depth_anything_ros.models.da3.network import build_model
    fam = registry.family('da3')
    for c in fam.checkpoints:
        net = build_model(c.name, device='meta')   # shapes only, no memory
        assert c.parameters == sum(t.numel() for t in net.state_dict().values()), c.name
    assert {c.name: c.parameters for c in fam.checkpoints}['da3-small'] == 34_299_655
