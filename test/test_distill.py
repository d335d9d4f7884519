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

"""Distillation end to end: rosbag2 -> oracle pseudo-labels -> tiny student -> export.

Scenes come from the project's procedural renderer (exact depth); the "teacher" is an oracle
that knows each frame's true disparity, so the test checks the student pipeline itself: a
student distilled on the labels must beat its starting weights on held-out scenes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest
from test_sources import write_image_bag
import torch

from depth_anything_ros.commands import cli
from depth_anything_ros.training import runs
from depth_anything_ros.training.distill import (
    dense_ordinal_accuracy,
    DistillConfig,
    is_val_key,
    load_distill_config,
    StepSampler,
)
from depth_anything_ros.training.loop import get_lr
from depth_anything_ros.training.pseudo_label import label_frames
from depth_anything_ros.training.synth import render_sample

SIZE = (56, 70)  # H, W: small enough for a CPU test, 4x5 patches at input_size 56


class Oracle:
    """Teacher that returns the true disparity (1/depth, sky 0) of every frame it renders."""

    def __init__(self, frames: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.table = {self._h(bgr): np.where(np.isfinite(depth), 1.0 / depth, 0.0)
                      .astype(np.float32) for bgr, depth in frames}

    @staticmethod
    def _h(img: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest()

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [self.table[self._h(im)] for im in images]


@pytest.fixture(autouse=True)
def one_thread():
    """Train on one thread: CI shares two cores with other work (and results stay exact)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Record 32 indoor frames to MCAP, oracle-label them; write 8 held-out RGB-D scenes."""
    from depth_anything_ros.training.datasets import GenericWriter
    root = tmp_path_factory.mktemp('distill')
    frames = []
    for i in range(32):
        rgb, depth, _ = render_sample('indoor', i, 0, SIZE)
        frames.append((cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), depth))
    bag = write_image_bag(root / 'bag', [bgr for bgr, _ in frames], storage='mcap')
    label_frames(bag, Oracle(frames), root / 'labels', meta={'teacher': 'oracle'},
                 progress=False)
    val = GenericWriter(root / 'val')
    for i in range(8):
        rgb, depth, _ = render_sample('indoor', 1000 + i, 0, SIZE)  # scenes never labelled
        val.add(f'held_out_{i}', rgb, depth, 'val')
    val.close()
    return {'root': root, 'labels': root / 'labels', 'val': root / 'val', 'bag': bag}


def _distill(workspace: dict[str, Path], out: Path, *extra: str) -> int:
    return cli.main(['distill', '--config', 'distill_debug', '--labels',
                     str(workspace['labels']), '--out', str(out), '--no-progress',
                     f'val_data={workspace["val"]}', *extra])


def _command(*argv: str) -> subprocess.CompletedProcess:
    """Run ``depth-anything-ros ARGV`` in its own process with one OpenMP thread.

    Training runs in a fresh process: CI shares two cores, and an OpenMP pool that other
    tests already started in this process slows a one-thread run down many times over.
    """
    proc = subprocess.run([sys.executable, '-m', 'depth_anything_ros.commands.cli', *argv],
                          env={**os.environ, 'OMP_NUM_THREADS': '1'},
                          cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _distill_command(workspace: dict[str, Path], out: Path, *extra: str,
                     flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    # key=value overrides go last: --labels takes every word up to the next flag
    return _command('distill', '--labels', str(workspace['labels']), '--config', 'distill_debug',
                    '--out', str(out), '--no-progress', *flags, f'val_data={workspace["val"]}',
                    *extra)


@pytest.mark.slow
def test_distilled_student_beats_its_start_and_exports(workspace: dict[str, Path]) -> None:
    run = workspace['root'] / 'run'
    proc = _distill_command(workspace, run, 'max_steps=100', 'val_fraction=0.1')
    assert 'export: ' in proc.stdout
    start = json.loads((run / 'val_start.json').read_text())
    end = json.loads((run / 'val_end.json').read_text())
    # held-out scenes with true depth, scale-and-shift aligned
    assert end['gt_abs_rel'] < 0.92 * start['gt_abs_rel'], (start, end)
    assert end['gt_ordinal_acc'] > start['gt_ordinal_acc'] + 0.1, (start, end)
    assert end['gt_ordinal_acc'] > 0.65
    # held-out pseudo-labels: closer to the teacher than at the start
    assert end['teacher_abs_rel'] < start['teacher_abs_rel']
    log = runs.read_log(run / 'log.csv')
    losses = [v for _, v in log['train/loss']]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert {'train/ssi', 'train/grad', 'train/lr', 'val/gt_abs_rel'} <= set(log)

    # the export is a relative model that load_model and the DepthEstimator accept
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import load_model
    from depth_anything_ros.training.datasets import GenericDataset
    model = load_model(run / 'export' / 'model.pth')
    assert model.config.encoder == 'tiny' and not model.is_metric
    last = load_model(run / 'last.pt')  # run checkpoints load like exports
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, last.state_dict()[k], rtol=0, atol=0)
    estimator = DepthEstimator(run / 'export' / 'model.pth', device='cpu', input_size=56)
    assert not estimator.is_metric
    sample = GenericDataset(workspace['val'], 'val').load(0)
    disp = estimator.infer(cv2.cvtColor(sample['image'], cv2.COLOR_RGB2BGR), 'bgr8')
    assert disp.shape == SIZE and np.isfinite(disp).all()
    assert dense_ordinal_accuracy(disp, sample['depth'], sample['valid_mask'],
                                  ref_is_depth=True) > 0.6
    # and "depth-anything-ros eval" scores it as a relative model (scale-and-shift aligned)
    report = workspace['root'] / 'eval.json'
    assert cli.main(['eval', '--checkpoint', str(run / 'export' / 'model.pth'), '--data',
                     str(workspace['val']), '--out', str(report), '--input-size', '56',
                     '--eval-max-depth', '10', '--device', 'cpu']) == 0
    assert 'abs_rel' in report.read_text()


@pytest.mark.slow
def test_resume_continues_exactly(workspace: dict[str, Path],
                                  capsys: pytest.CaptureFixture) -> None:
    common = ('max_steps=8', 'save_every=4', 'val_fraction=0', 'max_val_images=1', 'seed=3',
              'export=false')
    straight = workspace['root'] / 'straight'
    _distill_command(workspace, straight, *common)
    # the same run stopped after step 4 (a job time limit), then resumed in a new process
    split = workspace['root'] / 'split'
    _distill_command(workspace, split, *common, flags=('--stop-at', '4'))
    assert runs.load_checkpoint(split / 'last.pt')['step'] == 4
    assert not (split / 'val_end.json').exists()
    capsys.readouterr()
    assert _distill(workspace, split, *common) == 2
    assert '--resume' in capsys.readouterr().err
    _command('distill', '--out', str(split), '--resume', '--no-progress')

    a = runs.load_checkpoint(straight / 'last.pt')
    b = runs.load_checkpoint(split / 'last.pt')
    assert a['step'] == b['step'] == 8
    for k, v in a['model'].items():
        torch.testing.assert_close(b['model'][k], v, rtol=0, atol=0)
    for k, v in a['optimizer']['state'].items():
        torch.testing.assert_close(b['optimizer']['state'][k]['exp_avg'], v['exp_avg'],
                                   rtol=0, atol=0)


@pytest.mark.slow
def test_feature_alignment_runs_against_a_frozen_teacher(workspace: dict[str, Path]) -> None:
    run = workspace['root'] / 'feat'
    _distill_command(workspace, run, 'max_steps=3', 'log_every=1', 'val_fraction=0',
                     'max_val_images=1', 'feature_teacher=untrained:vits', 'export=false')
    log = runs.read_log(run / 'log.csv')
    feats = [v for _, v in log['train/feat']]
    assert len(feats) == 3 and all(0 < f < 2 for f in feats)
    state = runs.load_checkpoint(run / 'last.pt')['projector']
    assert state['weight'].shape == (384, 64)  # tiny (64) -> ViT-S teacher (384)


def test_config_presets_overrides_and_errors(workspace: dict[str, Path],
                                              capsys: pytest.CaptureFixture) -> None:
    cfg = load_distill_config('distill', ['labels=a,b', 'max_steps=7'])
    assert cfg.student == 'vits' and cfg.labels == ['a', 'b'] and cfg.max_steps == 7
    assert (cfg.trim, cfg.grad_weight, cfg.grad_scales) == (0.1, 2.0, 4)
    with pytest.raises(ValueError, match='student=.*choose one of'):
        load_distill_config('distill_debug', ['labels=a', 'student=vitx'])
    with pytest.raises(ValueError, match='--labels DIR'):
        load_distill_config('distill_debug')
    with pytest.raises(ValueError, match='unknown key'):
        load_distill_config('distill_debug', ['labels=a', 'lr_encoder=1'])
    assert _distill({**workspace, 'labels': workspace['val']}, workspace['root'] / 'bad') == 2
    assert 'not a label directory' in capsys.readouterr().err
    assert cli.main(['distill', '--labels', str(workspace['labels']), '--out',
                     str(workspace['root'] / 'bad2')]) == 2
    assert '--config is required' in capsys.readouterr().err


@pytest.mark.slow
def test_vits_student_export_loads_in_the_node_as_relative(workspace: dict[str, Path]) -> None:
    run = workspace['root'] / 'vits'
    _distill_command(workspace, run, 'student=vits', 'init=untrained', 'max_steps=1',
                     'batch_size=1', 'val_fraction=0', 'max_val_images=1')
    from depth_anything_ros.params import validate
    from depth_anything_ros.ros.node import build_estimator
    est = build_estimator(validate({'checkpoint': str(run / 'export' / 'model.pth'),
                                    'mode': 'relative', 'encoder': 'vits', 'device': 'cpu',
                                    'input_size': 70}))
    assert not est.is_metric and est.config.encoder == 'vits'
    assert est.infer(np.zeros((40, 60, 3), np.uint8)).shape == (40, 60)
    with pytest.raises(ValueError, match='is a relative'):
        build_estimator(validate({'checkpoint': str(run / 'export' / 'model.pth'),
                                  'mode': 'metric', 'encoder': 'vits', 'device': 'cpu'}))


@pytest.mark.slow
def test_torchrun_two_processes(workspace: dict[str, Path]) -> None:
    run = workspace['root'] / 'ddp'
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '-m', 'depth_anything_ros.commands.cli', 'distill', '--labels', str(workspace['labels']),
         '--config', 'distill_debug', '--out', str(run), '--no-progress', 'max_steps=2',
         'val_fraction=0', 'max_val_images=1', f'val_data={workspace["val"]}'],
        env={**os.environ, 'OMP_NUM_THREADS': '1'}, cwd=Path(__file__).resolve().parents[1],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((run / 'run.json').read_text())['world_size'] == 2
    assert runs.load_checkpoint(run / 'last.pt')['step'] == 2
    assert (run / 'export' / 'model.pth').is_file() and (run / 'val_end.json').is_file()


@pytest.mark.slow
def test_custom_student_architecture_from_json(tmp_path: Path) -> None:
    from dataclasses import replace

    from depth_anything_ros.model import ModelConfig
    from depth_anything_ros.training.distill import build_student
    small = replace(ModelConfig.tiny(), encoder='narrow', embed_dim=32, ffn_hidden=128)
    path = tmp_path / 'student.json'
    path.write_text(json.dumps({'config': small.to_dict()}))  # the sidecar layout
    for init in ('scratch', 'untrained'):
        model = build_student(DistillConfig(labels=['x'], student=str(path), init=init))
        assert model.config == small and model.pretrained.cls_token.shape[-1] == 32
        assert model(torch.zeros(1, 3, 28, 28)).shape == (1, 28, 28)
    with pytest.raises(FileNotFoundError, match='ModelConfig JSON'):
        build_student(DistillConfig(labels=['x'], student=str(tmp_path / 'nope.json')))


def test_student_init_from_a_relative_checkpoint(tmp_path: Path) -> None:
    from depth_anything_ros.model import build_model, export_model, ModelConfig
    from depth_anything_ros.training.distill import build_student
    torch.manual_seed(0)
    source = build_model(ModelConfig.tiny())
    ckpt = export_model(source, tmp_path / 'tiny.pth')
    model = build_student(DistillConfig(labels=['x'], student='tiny', init=str(ckpt)))
    for k, v in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)
    with pytest.raises(ValueError, match='set student=tiny'):
        build_student(DistillConfig(labels=['x'], student='vits', init=str(ckpt)))
    metric = export_model(build_model(ModelConfig.tiny(), 'metric'), tmp_path / 'metric.pth')
    with pytest.raises(ValueError, match='relative'):
        build_student(DistillConfig(labels=['x'], student='tiny', init=str(metric)))


def test_lr_schedule_holdout_and_sampler() -> None:
    cfg = DistillConfig(labels=['x'], lr=1.0, max_steps=10, warmup_steps=2, lr_power=1.0)
    lrs = [get_lr(s, cfg.lr, cfg.max_steps, cfg.lr_power, cfg.warmup_steps)
           for s in (0, 1, 2, 6, 10)]
    assert [round(lr, 6) for lr in lrs] == [0.5, 1.0, 1.0, 0.5, 0.0]
    keys = [f'/cam#{i:08d}' for i in range(2000)]
    share = np.mean([is_val_key(k, 0.1) for k in keys])
    assert 0.08 < share < 0.12 and not any(is_val_key(k, 0.0) for k in keys)
    # the sampler at micro-step 5 continues the stream of a sampler started at 0
    full = iter(StepSampler(7, 3, seed=1, start_micro_step=0))
    batches = [next(full) for _ in range(8)]
    later = iter(StepSampler(7, 3, seed=1, start_micro_step=5))
    assert [next(later) for _ in range(3)] == batches[5:]
    # every epoch visits each item once
    flat = [i for b in batches[:7] for i, _ in b]  # 21 positions = 3 epochs of 7
    assert all(sorted(flat[e * 7:(e + 1) * 7]) == list(range(7)) for e in range(3))
    # two ranks draw disjoint halves of each step
    r0 = next(iter(StepSampler(8, 2, seed=0, start_micro_step=0, rank=0, world=2)))
    r1 = next(iter(StepSampler(8, 2, seed=0, start_micro_step=0, rank=1, world=2)))
    assert not {s for _, s in r0} & {s for _, s in r1}


def test_dense_ordinal_accuracy_by_hand() -> None:
    depth = np.array([[1.0, 2.0], [4.0, 8.0]])
    mask = np.ones((2, 2), bool)
    assert dense_ordinal_accuracy(1.0 / depth, depth, mask, ref_is_depth=True) == 1.0
    assert dense_ordinal_accuracy(depth, depth, mask, ref_is_depth=True) == 0.0
    assert dense_ordinal_accuracy(depth, depth, mask, ref_is_depth=False) == 1.0
    flat = np.ones((2, 2))
    assert dense_ordinal_accuracy(flat, depth, mask, ref_is_depth=True) == 0.0  # ties are wrong


class CudaTaggedTensor:
    """STAND-IN for a CUDA tensor on this GPU-less machine.

    What ``torch.load(map_location='cuda')`` makes of a saved RNG state. Like a real one,
    ``.numpy()`` refuses and torch's RNG setters cannot take it; ``.cpu()`` gives the CPU
    tensor back.
    """

    device = torch.device('cuda')

    def __init__(self, tensor: torch.Tensor) -> None:
        self._tensor = tensor

    def numpy(self) -> np.ndarray:
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() "
                        'to copy the tensor to host memory first.')

    def cpu(self) -> torch.Tensor:
        return self._tensor


def test_rng_states_restore_from_cuda_tensors() -> None:
    """A resumed run restores RNG states whatever device the checkpoint was loaded onto."""
    import random
    state = runs.rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    state['numpy']['keys'] = CudaTaggedTensor(state['numpy']['keys'])
    state['torch'] = CudaTaggedTensor(state['torch'])
    runs.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


@pytest.mark.slow
def test_resume_loads_the_checkpoint_on_the_cpu(workspace: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """As train does: map_location='cuda' put the RNG states on the GPU, where they fail."""
    run = workspace['root'] / 'resume_cpu'
    common = ('max_steps=2', 'save_every=1', 'val_fraction=0', 'max_val_images=1',
              'export=false')
    assert _distill(workspace, run, *common, '--stop-at', '1') == 0
    seen = []
    real = runs.load_checkpoint

    def spy(path: Path, map_location: object = 'cpu') -> dict:
        seen.append(map_location)
        return real(path, map_location)

    monkeypatch.setattr(runs, 'load_checkpoint', spy)
    assert cli.main(['distill', '--out', str(run), '--resume', '--no-progress']) == 0
    assert seen and all(m == 'cpu' and isinstance(m, str) for m in seen)


def test_validation_is_shared_by_all_ranks() -> None:
    """Under torchrun every rank scores its share and the sums add up to the whole.

    Rank 0 validating alone left the others waiting in the next all-reduce (NCCL times out).
    """
    from types import SimpleNamespace

    from depth_anything_ros.model import ModelConfig, untrained_model
    from depth_anything_ros.training.distill import evaluate, score_sums
    model = untrained_model(ModelConfig.tiny(), warn=False)
    cfg = SimpleNamespace(input_size=56)
    frames = []
    for i in range(5):
        rgb, depth, _ = render_sample('indoor', 2000 + i, 0, SIZE)
        frames.append((rgb, depth, np.isfinite(depth), True))
    seen: list[int] = []

    def items():
        for i, f in enumerate(frames):
            seen.append(i)
            yield f

    whole = score_sums(model, cfg, items, torch.device('cpu'))
    shares = [score_sums(model, cfg, items, torch.device('cpu'), rank=r, world=2)
              for r in range(2)]
    torch.testing.assert_close(shares[0] + shares[1], whole)
    assert shares[0][-1] == 3 and shares[1][-1] == 2  # items 0, 2, 4 and 1, 3
    # evaluate with the all-reduce gives every rank the whole-set means
    summed = evaluate(model, cfg, [('gt', items)], torch.device('cpu'), rank=1, world=2,
                      reduce=lambda t: shares[0] + t)
    single = evaluate(model, cfg, [('gt', items)], torch.device('cpu'))
    assert summed.keys() == single.keys() and 'gt_abs_rel' in single
    for key, value in single.items():
        assert summed[key] == pytest.approx(value, rel=1e-12)
