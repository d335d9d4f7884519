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

"""Depth Anything 3 in ``train`` and ``distill``: losses, focal scaling, runs, licences, errors.

Networks are the small configurations (``da3metric-tiny``, ``da3-tiny``) and the full
``da3-small`` with deterministic weights, on tiny synthetic RGB-D data (CPU, one thread).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.commands import cli
from depth_anything_ros.model import export_model, load_model
from depth_anything_ros.models.loading import UNTRAINED_LICENCE
from depth_anything_ros.models.sidecar import read_sidecar, write_sidecar
from depth_anything_ros.training.config import load_config
from depth_anything_ros.training.datasets import GenericWriter
from depth_anything_ros.training.losses import (
    confidence_loss,
    scale_invariant_depth_loss,
)
from depth_anything_ros.training.synth import generate, render_sample

SIZE = (56, 70)   # H, W: 4 x 5 patches at input_size 56


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread: None) -> None:
    """Every test here on one torch thread (see conftest)."""


@pytest.fixture(scope='module')
def rgbd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 indoor frames (8 train, 4 val... by synth's every-5th rule) with intrinsics."""
    root = tmp_path_factory.mktemp('da3train') / 'indoor'
    return generate(root, 'indoor', num=12, seed=0, size=SIZE, progress=False)


def _no_intrinsics(root: Path, out: Path) -> Path:
    """Write four frames into a dataset without any camera."""
    writer = GenericWriter(out)
    for i in range(4):
        rgb, depth, _ = render_sample('indoor', i, 0, SIZE)
        writer.add(f'f{i}', rgb, depth, 'train' if i < 3 else 'val')
    writer.close()
    return out


def _with_licence(model: torch.nn.Module, path: Path, licence: str) -> Path:
    """Export ``model`` and record ``licence`` in its sidecar (as a published file would)."""
    export_model(model, path)
    write_sidecar(path, {**read_sidecar(path, required=True), 'licence': licence})
    return path


# ---------------------------------------------------------------------------------------------
# losses


def test_the_relative_depth_loss_forgives_each_images_scale_but_not_a_shift() -> None:
    gen = torch.Generator().manual_seed(0)
    gt = 1.0 + 4.0 * torch.rand(2, 8, 9, generator=gen)                 # (B, H, W)
    mask = torch.rand(2, 8, 9, generator=gen) > 0.2
    scaled = gt * torch.tensor([3.0, 0.25])[:, None, None]              # own scale per image
    assert float(scale_invariant_depth_loss(scaled, gt, mask)) < 1e-5
    # a shift in depth bends planes: it is an error, not a scale
    assert float(scale_invariant_depth_loss(gt + 1.0, gt, mask)) > 0.05
    # per image, it is SiLog with lambda = 1 (checked against numpy), averaged over images
    pred = gt * torch.exp(0.2 * torch.randn(2, 8, 9, generator=gen))
    want = []
    for i in range(2):
        d = np.log(pred[i][mask[i]].numpy()) - np.log(gt[i][mask[i]].numpy())
        want.append(np.sqrt(np.mean(d ** 2) - np.mean(d) ** 2))
    got = float(scale_invariant_depth_loss(pred, gt, mask))
    assert got == pytest.approx(np.mean(want), rel=1e-4)
    # an image without a valid pixel counts nothing (and breaks nothing)
    mask[1] = False
    assert float(scale_invariant_depth_loss(pred, gt, mask)) == pytest.approx(want[0], rel=1e-4)


def test_the_confidence_term_trains_the_confidence_to_the_inverse_error_only() -> None:
    gt = torch.full((1, 1, 4), 2.0)
    pred = gt * torch.exp(torch.tensor([0.1, -0.1, 0.25, -0.25]))[None, None]
    pred.requires_grad_(True)
    mask = torch.ones(1, 1, 4, dtype=torch.bool)
    r = torch.log(pred.detach() / gt) - torch.log(pred.detach() / gt).mean()
    conf = (1.0 / r.abs()).requires_grad_(True)      # the optimum: c = 1 / |r|
    loss = confidence_loss(conf, pred, gt, mask)
    loss.backward()
    assert torch.allclose(conf.grad, torch.zeros_like(conf), atol=1e-6)
    assert pred.grad is None or not pred.grad.any()   # the depth gets nothing from this term
    worse = confidence_loss(2.0 / r.abs(), pred.detach(), gt, mask)
    assert float(worse) > float(loss.detach())


# ---------------------------------------------------------------------------------------------
# metric scaling with each sample's intrinsics


def test_metric_training_scores_metres_from_each_samples_own_focal_length() -> None:
    from depth_anything_ros.training.train import batch_focal, fixed_output_loss
    model = load_model('untrained:da3metric-tiny', allow_untrained=True)
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    k = torch.eye(3).repeat(2, 1, 1)
    k[0, 0, 0], k[0, 1, 1], k[1, 0, 0], k[1, 1, 1] = 300.0, 300.0, 450.0, 750.0
    with torch.no_grad():
        raw = model.model(x, sky_to_far=False)['depth'][:, 0]             # (B, h, w)
        focal = batch_focal({'intrinsics': k}, torch.device('cpu'))
        out = model(x, focal=focal, sky_to_far=False)
    np.testing.assert_allclose(out['depth'][0], raw[0], rtol=1e-6)       # 300 px: x 1
    np.testing.assert_allclose(out['depth'][1], raw[1] * 2.0, rtol=1e-6)  # mean 600 px: x 2
    cfg = load_config('debug', ['encoder=da3metric-tiny'])
    mask = torch.ones_like(raw, dtype=torch.bool)
    # ground truth in metres made with each sample's focal: a perfect prediction
    gt = raw * torch.tensor([1.0, 2.0])[:, None, None]
    assert float(fixed_output_loss(out, gt, mask, 'metric', cfg)) < 1e-4
    # the batch's second focal length on both samples: the first sample is off by 2x
    with torch.no_grad():
        wrong = model(x, focal=focal[[1, 1]], sky_to_far=False)
    assert float(fixed_output_loss(wrong, gt, mask, 'metric', cfg)) > 0.3
    bad = k.clone()
    bad[0, 0, 0] = 0.0
    with pytest.raises(ValueError, match='focal length'):
        batch_focal({'intrinsics': bad}, torch.device('cpu'))


def test_the_sky_output_and_the_camera_parts_stay_frozen() -> None:
    from depth_anything_ros.training.train import build_training_model
    metric = build_training_model(load_config('debug', ['encoder=da3metric-tiny',
                                                        'init=untrained:da3metric-tiny']))
    frozen = {n for n, p in metric.named_parameters() if not p.requires_grad}
    assert frozen and all('sky_output_conv2' in n for n in frozen)
    anyview = build_training_model(load_config('debug', ['encoder=da3-tiny', 'init=untrained']))
    frozen = {n for n, p in anyview.named_parameters() if not p.requires_grad}
    assert any(n.startswith('model.cam_dec.') for n in frozen)
    assert any(n.startswith('model.cam_enc.') for n in frozen)
    assert any('_aux' in n for n in frozen)
    trained = [n for n, p in anyview.named_parameters() if p.requires_grad]
    assert any('backbone.pretrained' in n for n in trained)
    assert 'model.head.scratch.output_conv2.2.weight' in trained   # depth + confidence
    assert anyview.licence.startswith('none (default initialisation')


# ---------------------------------------------------------------------------------------------
# runs


def _train(rgbd: Path, out: Path, *overrides: str) -> dict:
    from depth_anything_ros.training.train import train
    cfg = load_config('debug', [f'data={rgbd}', 'input_size=56', 'batch_size=4', 'hflip=false',
                                'log_every=1', 'save_every=1000', *overrides])
    return train(cfg, out, progress=False)


def test_da3metric_fine_tuning_lowers_the_loss_and_keeps_the_licence(
        rgbd: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    init = _with_licence(load_model('untrained:da3metric-tiny', allow_untrained=True),
                         tmp_path / 'init' / 'model.pth', 'Apache-2.0')
    summary = _train(rgbd, tmp_path / 'run', 'encoder=da3metric-tiny', f'init={init}',
                     'max_steps=30', 'lr=2e-4', 'head_lr_mult=1')
    losses = summary['losses']
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
    assert summary['val_end']['abs_rel'] < summary['val_start']['abs_rel']
    export = Path(summary['export'])
    side = read_sidecar(export, required=True)
    assert side['licence'] == 'Apache-2.0' and side['encoder'] == 'da3metric-tiny'
    assert side['derived_from'] == [{'role': 'init', 'weights': str(init),
                                     'licence': 'Apache-2.0'}]
    # the export is a metric network again: eval gives it each image's focal length and
    # repeats the run's own validation
    out = tmp_path / 'eval.json'
    assert cli.main(['eval', '--checkpoint', str(export), '--data', str(rgbd), '--out',
                     str(out), '--input-size', '56', '--device', 'cpu']) == 0
    assert json.loads(out.read_text())['abs_rel'] == pytest.approx(
        summary['val_end']['abs_rel'], rel=1e-4)
    # and infer shows the licence of the weights it came from
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), cv2.imread(str(next((rgbd / 'rgb').iterdir()))))
    capsys.readouterr()
    assert cli.main(['infer', str(image), '--out', str(tmp_path / 'o'), '--checkpoint',
                     str(export), '--fx', '60', '--device', 'cpu', '--backend', 'torch',
                     '--input-size', '56']) == 0
    assert 'weights licence: Apache-2.0' in capsys.readouterr().out


@pytest.mark.slow
def test_relative_training_of_the_any_view_small_network_lowers_the_loss(
        rgbd: Path, tmp_path: Path) -> None:
    summary = _train(rgbd, tmp_path / 'run', 'encoder=da3-small', 'init=untrained:da3-small',
                     'max_steps=12', 'lr=5e-5', 'head_lr_mult=4', 'max_val_images=2')
    losses = summary['losses']
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    side = read_sidecar(summary['export'], required=True)
    assert side['licence'] == UNTRAINED_LICENCE and side['head'] == 'relative'
    assert load_model(summary['export']).config.encoder == 'da3-small'


def test_a_da3_run_resumes_exactly(rgbd: Path, tmp_path: Path) -> None:
    from depth_anything_ros.training.train import train
    args = [f'data={rgbd}', 'input_size=56', 'batch_size=4', 'log_every=1', 'save_every=1000',
            'encoder=da3-tiny', 'init=untrained:da3-tiny', 'max_steps=6', 'export=false',
            'max_val_images=1']
    whole = train(load_config('debug', args), tmp_path / 'whole', progress=False)['losses']
    first = train(load_config('debug', args), tmp_path / 'split', stop_at=3,
                  progress=False)['losses']
    rest = train(load_config('debug', args), tmp_path / 'split', resume=True,
                 progress=False)['losses']
    assert len(whole) == 6 and first + rest == whole


def test_a_depth_anything_v2_run_keeps_the_licence_of_its_init(rgbd: Path,
                                                                tmp_path: Path) -> None:
    from depth_anything_ros.model import build_model
    init = _with_licence(build_model('tiny', 'relative'), tmp_path / 'rel.pth', 'CC-BY-NC-4.0')
    summary = _train(rgbd, tmp_path / 'run', f'init={init}', 'init_head=relative',
                     'max_steps=1', 'max_val_images=1')
    side = read_sidecar(summary['export'], required=True)
    assert side['licence'] == 'CC-BY-NC-4.0' and side['head'] == 'metric'
    assert side['derived_from'] == [{'role': 'init', 'weights': str(init),
                                     'licence': 'CC-BY-NC-4.0'}]


def test_bad_da3_training_requests_are_one_line_each(rgbd: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    anyview = export_model(load_model('untrained:da3-tiny', allow_untrained=True),
                           tmp_path / 'anyview.pth')
    from depth_anything_ros.model import build_model
    v2 = export_model(build_model('tiny', 'metric', 10.0), tmp_path / 'v2.pth')
    no_k = _no_intrinsics(rgbd, tmp_path / 'no_k')
    cases = {
        f'init={v2} holds Depth Anything V2 weights but encoder=da3metric-tiny is a Depth '
        'Anything 3 network': ['encoder=da3metric-tiny', f'init={v2}'],
        'target=metric: da3-tiny gives relative depth': ['encoder=da3-tiny', 'target=metric'],
        'target=metric: da3mono-large gives relative depth (known up to a scale), not metres': [
            'encoder=da3mono-large', 'target=metric'],
        'target=relative: da3metric-tiny is a metric network': [
            'encoder=da3metric-tiny', 'target=relative'],
        'target=relative: train fine-tunes tiny to metric depth only': ['target=relative'],
        f'init={anyview} holds Depth Anything 3 weights but encoder=tiny is a Depth Anything '
        'V2 network': [f'init={anyview}'],
        f'init={anyview} holds da3-tiny (relative depth) but encoder=da3metric-tiny (metric '
        'depth)': ['encoder=da3metric-tiny', f'init={anyview}'],
        'encoder=da3nested-giant-large: its metres come from two networks': [
            'encoder=da3nested-giant-large'],
        'has no intrinsics, and da3metric-tiny gives metres only': [
            'encoder=da3metric-tiny', '--data', str(no_k)],
    }
    for i, (want, overrides) in enumerate(cases.items()):
        data = [] if '--data' in overrides else ['--data', str(rgbd)]
        rc = cli.main(['train', '--config', 'debug', *data, '--out',
                       str(tmp_path / f'run{i}'), '--no-progress', 'input_size=56',
                       *overrides])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2, (want, err)
        assert err[-1].startswith('depth-anything-ros train: error: '), err
        assert want in err[-1], (want, err[-1])
        if 'target=' in want:   # refused before the run folder is made
            assert not (tmp_path / f'run{i}').exists()


# ---------------------------------------------------------------------------------------------
# distillation with a Depth Anything 3 teacher


class _FakeEstimator:
    """Gives ``output`` maps of 1 + the blue channel, sky where blue is 0."""

    def __init__(self, output: str, needs_intrinsics: bool = False) -> None:
        self.output, self.needs_intrinsics, self.seen = output, needs_intrinsics, []

    def estimate_batch(self, images, encoding, intrinsics=None):
        from depth_anything_ros.estimator import DepthResult
        assert encoding == 'bgr8'
        self.seen.append(intrinsics)
        return [DepthResult(1.0 + im[:, :, 0].astype(np.float32),
                            sky=(im[:, :, 0] == 0) if self.output != 'disparity' else None)
                for im in images]


def test_teacher_outputs_become_disparity_consistently() -> None:
    from depth_anything_ros.training.pseudo_label import estimator_teacher
    img = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    img[0, 0, 0] = 0
    value = 1.0 + img[:, :, 0].astype(np.float32)
    (disp,) = estimator_teacher(_FakeEstimator('disparity'))([img])
    np.testing.assert_allclose(disp, value)                                # kept
    for output in ('depth', 'metric'):
        (inv,) = estimator_teacher(_FakeEstimator(output))([img])
        np.testing.assert_allclose(inv[1:], 1.0 / value[1:], rtol=1e-6)   # 1 / depth
        assert inv[0, 0] == 0.0                                             # sky: infinitely far
    focal = _FakeEstimator('metric', needs_intrinsics=True)
    estimator_teacher(focal)([img, img])
    assert focal.seen == [[(6, 6), (6, 6)]]   # a nominal focal length: the image width


def test_a_teacher_that_needs_a_focal_length_labels_without_intrinsics(
        tmp_path: Path) -> None:
    from depth_anything_ros.training.labels import LabelSet
    frames = tmp_path / 'frames'
    frames.mkdir()
    for i in range(2):
        rgb, _, _ = render_sample('indoor', i, 0, SIZE)
        cv2.imwrite(str(frames / f'f{i}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert cli.main(['pseudo-label', '--teacher', 'untrained:da3metric-tiny',
                     '--allow-untrained', '--inputs', str(frames), '--out',
                     str(tmp_path / 'labels'), '--input-size', '56', '--device', 'cpu',
                     '--no-progress']) == 0
    labels = LabelSet(tmp_path / 'labels')
    assert labels.meta['teacher_output'] == 'metric'
    assert labels.meta['teacher_licence'] == UNTRAINED_LICENCE
    label = labels.load_label(0)
    assert label.shape == SIZE and np.isfinite(label).all() and (label >= 0).all()
    assert (label > 0).any()


def test_a_depth_students_loss_reads_labels_as_inverse_depth_up_to_scale() -> None:
    from depth_anything_ros.training.distill import depth_student_loss
    gen = torch.Generator().manual_seed(3)
    depth = 0.5 + 5.0 * torch.rand(2, 8, 8, generator=gen)
    labels = 7.0 / depth                       # a teacher's inverse depth, any scale
    labels[0, 0, 0] = 0.0                      # sky
    mask = torch.ones_like(depth, dtype=torch.bool)
    loss, parts = depth_student_loss({'depth': depth}, labels, mask, 0.1)
    assert float(loss) < 1e-5 and 'conf' not in parts
    loss, _ = depth_student_loss({'depth': depth + 1.0}, labels, mask, 0.1)
    assert float(loss) > 0.02


@pytest.fixture(scope='module')
def da3_labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 frames labelled by a da3-tiny teacher whose weights are CC BY-NC (the real command)."""
    root = tmp_path_factory.mktemp('da3labels')
    frames = root / 'frames'
    frames.mkdir()
    for i in range(16):
        rgb, _, _ = render_sample('indoor', i, 0, SIZE)
        cv2.imwrite(str(frames / f'f{i:02d}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    torch.set_num_threads(1)
    teacher = _with_licence(load_model('untrained:da3-tiny', allow_untrained=True),
                            root / 'teacher' / 'model.pth', 'CC-BY-NC-4.0')
    assert cli.main(['pseudo-label', '--teacher', str(teacher), '--inputs', str(frames),
                     '--out', str(root / 'labels'), '--input-size', '56', '--device', 'cpu',
                     '--no-progress']) == 0
    return root / 'labels'


def _distill(labels: Path, out: Path, *overrides: str) -> dict:
    from depth_anything_ros.training.distill import distill, load_distill_config
    cfg = load_distill_config('distill_debug', [f'labels={labels}', 'input_size=56',
                                                'val_fraction=0.2', 'log_every=1',
                                                'hflip=false', *overrides])
    return distill(cfg, out, progress=False)


def _losses(run: Path) -> list[float]:
    from depth_anything_ros.training.runs import read_log
    return [v for _, v in read_log(run / 'log.csv')['train/loss']]


def test_labels_record_the_teacher_output_and_licence(da3_labels: Path) -> None:
    meta = json.loads((da3_labels / 'meta.json').read_text())
    assert meta['teacher_output'] == 'depth' and meta['teacher_licence'] == 'CC-BY-NC-4.0'
    assert 'inverse depth up to a scale' in meta['disparity']
    # the label is the inverse of the teacher's relative depth (larger = farther), not its depth
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.training.labels import LabelSet
    labels = LabelSet(da3_labels)
    est = DepthEstimator(load_model(da3_labels.parent / 'teacher' / 'model.pth'), device='cpu',
                         backend='torch', input_size=56)
    depth = est.infer(labels.load_image(0), 'bgr8')
    label = labels.load_label(0)
    np.testing.assert_allclose(label, 1.0 / depth, rtol=1e-3, atol=1e-4 * label.max())


@pytest.mark.parametrize('student', ['tiny', 'da3-tiny'])
def test_a_da3_teacher_distils_into_either_family_and_its_licence_follows(
        da3_labels: Path, tmp_path: Path, student: str) -> None:
    run = tmp_path / 'run'
    init = 'scratch' if student == 'tiny' else 'untrained:da3-tiny'
    summary = _distill(da3_labels, run, f'student={student}', f'init={init}', 'max_steps=30')
    losses = _losses(run)
    assert len(losses) == 30 and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
    assert 'teacher_abs_rel' in summary['val_end']
    side = read_sidecar(summary['export'], required=True)
    # labels of a non-commercial teacher: the student keeps its licence, and says why
    assert side['licence'] == 'CC-BY-NC-4.0'
    teacher = [e for e in side['derived_from'] if e['role'] == 'teacher']
    assert teacher == [{'role': 'teacher', 'weights': json.loads(
        (da3_labels / 'meta.json').read_text())['teacher'], 'licence': 'CC-BY-NC-4.0'}]
    assert load_model(summary['export']).licence == 'CC-BY-NC-4.0'


def test_a_depth_student_refuses_disparity_labels_and_metric_students(
        da3_labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.training.pseudo_label import label_frames
    frames = tmp_path / 'frames'
    frames.mkdir()
    cv2.imwrite(str(frames / 'a.png'), np.full((28, 42, 3), 90, np.uint8))
    label_frames(frames, lambda images: [np.ones(im.shape[:2], np.float32) for im in images],
                 tmp_path / 'v2labels', meta={'teacher': 'vits', 'teacher_head': 'relative'},
                 progress=False)
    for labels, student, want in (
            (tmp_path / 'v2labels', 'da3-tiny', 'holds affine-invariant disparity from teacher '
                                                'vits'),
            (da3_labels, 'da3metric-tiny', 'student=da3metric-tiny is a metric network')):
        rc = cli.main(['distill', '--labels', str(labels), '--config', 'distill_debug', '--out',
                       str(tmp_path / student), '--no-progress', f'student={student}',
                       'input_size=56'])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and err[-1].startswith('depth-anything-ros distill: error: '), err
        assert want in err[-1], err[-1]
        assert not (tmp_path / student).exists()   # refused before the run folder is made


@pytest.mark.ros
def test_the_node_start_up_log_shows_a_trained_checkpoints_licence(
        da3_labels: Path, tmp_path: Path, harness_ctx, capfd: pytest.CaptureFixture) -> None:
    from rclpy.parameter import Parameter

    from depth_anything_ros.ros.node import DepthNode
    summary = _distill(da3_labels, tmp_path / 'run', 'student=da3-tiny',
                       'init=untrained:da3-tiny', 'max_steps=2')
    capfd.readouterr()
    node = DepthNode(context=harness_ctx, parameter_overrides=[
        Parameter('checkpoint', value=summary['export']), Parameter('mode', value='relative'),
        Parameter('encoder', value='auto'), Parameter('device', value='cpu'),
        Parameter('backend', value='torch'), Parameter('input_size', value=70)])
    try:
        assert 'weights licence: CC-BY-NC-4.0' in capfd.readouterr().err
    finally:
        node.stop_worker(5.0)
        node.destroy_node()
