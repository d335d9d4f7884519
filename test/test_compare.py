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

"""Comparing models on one's own data: ``eval --compare`` and ``process-bag --compare``.

Tiny models of several families (an untrained Depth Anything V2, DPT and ZoeDepth built from
transformers' config classes, a Marigold pipeline folder from diffusers' classes) are scored
on the synthetic RGB-D set in one run: one table, one JSON document, one bar chart, every row
on exactly the main model's images; and run on a real rosbag2 file, each under its own topics.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

import cv2
import numpy as np
import pytest

from depth_anything_ros.commands import cli
from depth_anything_ros.training.datasets import GenericDataset
from depth_anything_ros.training.evaluate import image_list, images_digest

pytest.importorskip('transformers')

SPLIT = ['--split', 'train', '--limit', '3', '--eval-max-depth', '10']


@pytest.fixture(scope='module')
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the synthetic RGB-D set (4 training images of 28x40) and DA-2K-style pairs."""
    root = tmp_path_factory.mktemp('compare')
    assert cli.main(['synth', '--out', str(root / 'data'), '--num', '5', '--size', '28x40']) == 0
    lines = []
    for sample in GenericDataset(root / 'data', 'train').refs:
        depth = cv2.imread(str(sample.depth), cv2.IMREAD_UNCHANGED).astype(np.float32)
        (y1, x1), (y2, x2) = (np.unravel_index(np.argmin(depth), depth.shape),
                              np.unravel_index(np.argmax(depth), depth.shape))
        lines.append(f'{sample.rgb.name}, ({x1},{y1}), ({x2},{y2}), 1')
    (root / 'pairs.txt').write_text('\n'.join(lines) + '\n')
    return root


@pytest.fixture(scope='module')
def marigold_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Save the tiny Marigold pipeline as diffusers' save_pretrained writes it."""
    pytest.importorskip('diffusers')
    from depth_anything_ros.model import load_model
    folder = tmp_path_factory.mktemp('marigold') / 'tiny-marigold'
    load_model('untrained:marigold', allow_untrained=True).pipe.save_pretrained(folder)
    return folder


def run_eval(synth: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    import contextlib
    import io
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            rc = cli.main(['eval', '--data', str(synth / 'data'), *SPLIT, '--out', str(out),
                           '--device', 'cpu', '--input-size', '28', '--allow-untrained',
                           *extra])
        except SystemExit as exc:
            rc = exc.code
    return rc, stdout.getvalue(), stderr.getvalue()


def test_eval_compares_families_on_the_same_images_in_one_table_json_and_chart(
        synth: Path, marigold_folder: Path, tmp_path: Path, one_torch_thread: None) -> None:
    out = tmp_path / 'compare.json'
    rc, printed, err = run_eval(
        synth, out, '--checkpoint', 'untrained:tiny', '--pairs', str(synth / 'pairs.txt'),
        '--compare', f'untrained:dpt,untrained:zoedepth,{marigold_folder}', '--steps', '1')
    assert rc == 0, err
    doc = json.loads(out.read_text())
    rows = [doc, *doc['compare']]
    assert [r['settings']['checkpoint'] for r in rows] == [
        'untrained:tiny', 'untrained:dpt', 'untrained:zoedepth', str(marigold_folder)]
    # every row on exactly the main model's images, which are the split's first three
    expected = images_digest(image_list(GenericDataset(synth / 'data', 'train').limit(3)))
    assert {r['settings']['images_sha256'] for r in rows} == {expected}
    assert {r['n_images'] for r in rows} == {3}
    for r in rows:
        for key in ('abs_rel', 'delta1', 'rmse', 'ordinal_acc', 'ms_per_frame'):
            assert np.isfinite(r[key]) and r[key] >= 0, (r['settings']['checkpoint'], key)
        assert r['n_pairs'] == 3
    # the same rules per output kind: relative ones fitted by scale and shift, metric ones not
    assert [r['settings']['align'] for r in rows] == ['scale_shift', 'scale_shift', 'none',
                                                      'scale_shift']
    assert [r['settings']['output'] for r in rows] == ['disparity', 'disparity', 'metric',
                                                       'depth']
    assert rows[3]['settings']['sampling']['steps'] == 1 and 'sampling' not in doc['settings']
    # one table: a column per model, the rows the issue names
    table = printed[printed.index('metric '):].splitlines()
    assert all(name in table[0] for name in ('untrained:tiny', 'untrained:dpt',
                                            'untrained:zoedepth', 'tiny-marigold'))
    assert {line.split()[0] for line in table[1:] if line.strip()} >= {
        'abs_rel', 'delta1', 'rmse', 'ordinal_acc', 'ms_per_frame'}
    chart = cv2.imread(str(out.with_suffix('.png')))
    assert chart is not None and chart.shape[0] > 100 and chart.std() > 0
    # a compared row is what evaluating that model alone gives
    rc, _, err = run_eval(synth, tmp_path / 'alone.json', '--checkpoint', 'untrained:dpt',
                          '--pairs', str(synth / 'pairs.txt'))
    assert rc == 0, err
    alone = json.loads((tmp_path / 'alone.json').read_text())
    assert 'ms_per_frame' not in alone   # a single evaluation stays reproducible
    for key in ('abs_rel', 'delta1', 'rmse', 'ordinal_acc'):
        assert alone[key] == pytest.approx(rows[1][key], rel=1e-6), key


def test_a_compared_model_on_other_images_is_refused(synth: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.training import evaluate
    built = []
    real = evaluate.build_dataset

    def build_dataset(*args, **kwargs):
        dataset = real(*args, **kwargs)
        built.append(dataset)
        if len(built) > 1:   # the second model's dataset loses an image
            dataset.refs = dataset.refs[1:]
        return dataset

    monkeypatch.setattr(evaluate, 'build_dataset', build_dataset)
    with pytest.raises(RuntimeError, match='other images'):
        evaluate.run_eval('untrained:tiny', {'data': str(synth / 'data'), 'split': 'train',
                                             'limit': 3, 'input_size': 28, 'max_depth': 10.0},
                          compare=['untrained:tiny'], device='cpu', allow_untrained=True)


def test_the_chart_is_drawn_without_matplotlib(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.training.evaluate import save_comparison_chart
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    results = {'a': {'abs_rel': 0.1, 'delta1': 0.9, 'rmse': 1.0, 'ms_per_frame': 12.0},
               'b': {'abs_rel': 0.3, 'delta1': 0.5, 'rmse': 2.0, 'ms_per_frame': 40.0}}
    path = save_comparison_chart(results, tmp_path / 'chart.png')
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] == 4 * 240   # one panel per metric given
    assert (image < 255).any()


@pytest.mark.parametrize('extra, said', [
    (['--compare', 'untrained:tiny,,untrained:dpt'], 'give checkpoints separated by commas'),
    (['--compare', 'untrained:dpt', '--steps', '2'], '--steps: none of the evaluated models '
                                                     'samples'),
    (['--compare', 'no_such_model'], 'no_such_model'),
])
def test_bad_compare_flags_are_one_line_and_exit_2(extra: list[str], said: str, synth: Path,
                                                   tmp_path: Path) -> None:
    rc, _, err = run_eval(synth, tmp_path / 'out.json', '--checkpoint', 'untrained:tiny',
                          *extra)
    errors = [line for line in err.splitlines() if ': error: ' in line]
    assert rc == 2 and len(errors) == 1 and said in errors[0], err
    assert 'Traceback' not in err


def test_process_bag_writes_each_model_under_its_own_namespace(
        marigold_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        one_torch_thread: None) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import IMAGE_TOPIC, read_bag, write_camera_bag

    from depth_anything_ros.ros.conversions import image_to_array
    src = write_camera_bag(tmp_path / 'in', 2, h=24, w=32)
    runtime = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32',
               '--input-size', '70', '--allow-untrained', '--outputs', 'depth', '--json']
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), '--checkpoint',
                   'untrained:tiny', '--compare', f'untrained:dpt,{marigold_folder}',
                   '--steps', '1', *runtime])
    printed, err = capsys.readouterr()
    assert rc == 0, err
    summary = json.loads(printed)
    assert summary['processed'] == 2
    assert list(summary['models']) == ['untrained_tiny', 'untrained_dpt', 'tiny_marigold']
    bag = read_bag(tmp_path / 'out')
    namespace = IMAGE_TOPIC.rsplit('/', 1)[0]
    images = [m for _, m in bag[IMAGE_TOPIC]]
    for name in summary['models']:
        msgs = [m for _, m in bag[f'{namespace}/{name}/disparity/image']]
        assert [m.header.stamp for m in msgs] == [m.header.stamp for m in images]
        assert {m.header.frame_id for m in msgs} == {images[0].header.frame_id}
        assert image_to_array(msgs[0]).shape == (24, 32)
        assert f'{namespace}/{name}/depth/camera_info' in bag
    # the main model's depth is what it writes alone
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'alone'), '--checkpoint',
                   'untrained:tiny', *runtime])
    capsys.readouterr()
    assert rc == 0
    alone = read_bag(tmp_path / 'alone')[f'{namespace}/disparity/image']
    compared = bag[f'{namespace}/untrained_tiny/disparity/image']
    for (_, a), (_, b) in zip(alone, compared):
        np.testing.assert_array_equal(image_to_array(a), image_to_array(b))


def test_compare_names_are_ros_names_and_unique() -> None:
    from depth_anything_ros.offline.bag_processing import compare_names
    assert compare_names(['vits', 'marigold-depth-v1-1', 'untrained:vits', '/x/dpt/',
                          'runs/a/model.pth', 'vits', '2x']) == [
        'vits', 'marigold_depth_v1_1', 'untrained_vits', 'dpt', 'model', 'vits_2', 'm_2x']


def test_process_bag_compare_is_refused_on_ray_in_one_line(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import write_camera_bag
    src = write_camera_bag(tmp_path / 'in', 1)
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), '--checkpoint',
                   'untrained:tiny', '--allow-untrained', '--compare', 'untrained:dpt',
                   '--engine', 'ray'])
    err = capsys.readouterr().err
    assert rc == 2 and '--compare runs every model in one process' in err


def test_relative_depth_of_unknown_shift_is_fitted_in_depth_space() -> None:
    import torch

    from depth_anything_ros.training.evaluate import score_prediction
    gt = torch.linspace(1.0, 5.0, 80).reshape(8, 10)
    valid = torch.ones(8, 10, dtype=torch.bool)
    pred = (gt - 1.0) / 4.0   # Marigold-like: affine in depth, 0 at the nearest pixel
    kw = {'min_depth': 0.1, 'max_depth': 10.0, 'is_metric': False, 'align': 'scale_shift'}
    m, depth, _ = score_prediction(pred, gt, valid, relative_depth=True, **kw)
    assert m['abs_rel'] < 1e-5
    np.testing.assert_allclose(depth.numpy(), gt.numpy(), rtol=1e-5)
    # read as disparity (1 / depth), the same prediction is far off
    m, _, _ = score_prediction(1.0 / pred.clamp(min=1e-6), gt, valid, **kw)
    assert m['abs_rel'] > 0.1
