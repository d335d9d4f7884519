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

"""Metric fine-tuning end to end on synthetic indoor data (tiny model, CPU, seconds).

Proves the loop learns (loss falls, val AbsRel improves over the starting weights), that the
export loads through ``load_model`` / ``DepthEstimator`` and predicts metres, that ``eval``
reproduces the run's own val numbers, and that ``--resume`` continues bit-for-bit.
"""

import argparse
import json

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.backends.devices import amp_dtype
from depth_anything_ros.commands import evaluate as eval_command
from depth_anything_ros.commands.train import resolve_config
from depth_anything_ros.training.config import load_config
from depth_anything_ros.training.datasets import GenericDataset
from depth_anything_ros.training.metrics import depth_metrics
from depth_anything_ros.training.runs import read_log
from depth_anything_ros.training.synth import generate
from depth_anything_ros.training.train import build_training_model, get_lr, param_groups, train


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # tiny models: one thread is fastest, and oversubscribed cores (CI runs tests side by side)
    # make multi-threaded torch several times slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def indoor(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('synth') / 'indoor'
    return str(generate(root, 'indoor', num=40, seed=0, size=(84, 112), progress=False))


def _eval_args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    argv = []
    for k, v in kw.items():
        flag = '--' + k.replace('_', '-')
        argv += [flag] if v is True else [flag, str(v)]
    return parser.parse_args(argv)


@pytest.mark.slow
def test_debug_run_learns_exports_and_evaluates(indoor, tmp_path) -> None:
    cfg = load_config('debug', [f'data={indoor}', 'max_steps=60', 'log_every=1'])
    run = tmp_path / 'run'
    summary = train(cfg, run, progress=False)
    losses = summary['losses']
    assert len(losses) == 60
    assert np.mean(losses[-15:]) < 0.85 * np.mean(losses[:15])
    start, end = summary['val_start']['abs_rel'], summary['val_end']['abs_rel']
    assert end < 0.75 * start, (start, end)
    for name in ('config.yaml', 'run.json', 'log.csv', 'last.pt', 'best.pt', 'val_start.json',
                 'val_end.json', 'export/model.pth', 'export/model.json'):
        assert (run / name).is_file(), name
    assert json.loads((run / 'val_end.json').read_text())['abs_rel'] == pytest.approx(end)
    log = read_log(run / 'log.csv')
    assert [s for s, _ in log['train/loss']] == list(range(1, 61))
    assert log['train/lr'][0][1] == pytest.approx(cfg.lr) and log['train/lr'][-1][1] < cfg.lr
    assert [s for s, _ in log['val/abs_rel']] == [0, 60]

    # the export is an ordinary metric checkpoint: load_model + DepthEstimator give metres
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import load_model
    model = load_model(run / 'export' / 'model.pth')
    assert model.is_metric and model.config.max_depth == cfg.max_depth
    est = DepthEstimator(model, device='cpu', input_size=cfg.input_size)
    val = GenericDataset(indoor, 'val')
    sample = val.load(0)
    depth = est.infer(cv2.cvtColor(sample['image'], cv2.COLOR_RGB2BGR))
    assert depth.shape == sample['depth'].shape and depth.dtype == np.float32
    assert 0 < depth.min() and depth.max() < cfg.max_depth
    m = depth_metrics(depth, sample['depth'], sample['valid_mask'])
    assert m['abs_rel'] < start

    # eval on the export reproduces the run's final val metrics
    out = tmp_path / 'eval.json'
    eval_command.main(_eval_args(checkpoint=run / 'export' / 'model.pth', data=indoor,
                             out=out, input_size=cfg.input_size, limit=cfg.max_val_images,
                             min_depth=cfg.min_depth, error_maps=tmp_path / 'maps',
                             compare=run / 'best.pt'))
    doc = json.loads(out.read_text())
    for key in ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog', 'delta1', 'delta2',
                'delta3', 'n_images'):
        assert doc[key] == pytest.approx(summary['val_end'][key], rel=1e-4), key
    assert doc['compare'][0]['abs_rel'] == pytest.approx(doc['abs_rel'], rel=1e-4)
    maps = sorted((tmp_path / 'maps' / 'model').glob('*.png'))
    assert len(maps) == doc['n_images']
    assert cv2.imread(str(maps[0])).shape == (84, 3 * 112, 3)


def test_eval_of_an_export_reproduces_the_runs_validation(indoor, tmp_path, capsys) -> None:
    run = tmp_path / 'run'
    summary = train(load_config('debug', [f'data={indoor}', 'max_steps=3']), run, progress=False)
    val_end = json.loads((run / 'val_end.json').read_text())
    assert val_end['n_images'] == len(GenericDataset(indoor, 'val').limit(16))
    out = tmp_path / 'eval.json'
    # only --data: split, input size, depth range and image cap come from the run
    assert eval_command.main(_eval_args(checkpoint=run / 'export' / 'model.pth', data=indoor,
                                    out=out)) == 0
    doc = json.loads(out.read_text())
    for key, value in val_end.items():
        assert doc[key] == pytest.approx(value, rel=0, abs=1e-6), key   # n_images too
    assert doc['settings']['run'] == str(run)
    assert (doc['settings']['split'], doc['settings']['input_size'],
            doc['settings']['limit']) == ('val', 112, 16)
    printed = capsys.readouterr().out
    assert 'settings: data' in printed and 'input_size 112' in printed and 'limit 16' in printed
    # a flag still wins over the run's setting
    assert eval_command.main(_eval_args(checkpoint=run / 'export' / 'model.pth', data=indoor,
                                    out=out, limit=5)) == 0
    assert json.loads(out.read_text())['n_images'] == 5
    assert summary['val_end'] == val_end


@pytest.mark.slow
def test_resume_continues_exactly(indoor, tmp_path) -> None:
    over = [f'data={indoor}', 'max_steps=6', 'log_every=1', 'batch_size=2', 'grad_accum=2',
            'max_val_images=2', 'save_every=100', 'export=false']
    cfg = load_config('debug', over)
    full = train(cfg, tmp_path / 'full', progress=False)['losses']
    first = train(cfg, tmp_path / 'split', stop_at=3, progress=False)
    assert len(first['losses']) == 3 and not (tmp_path / 'split' / 'val_end.json').exists()
    assert first['losses'] == full[:3]
    with pytest.raises(FileExistsError, match='--resume'):
        train(cfg, tmp_path / 'split', progress=False)
    rest = train(cfg, tmp_path / 'split', resume=True, progress=False)['losses']
    # the next-step loss (and all after it) equal the uninterrupted run's
    assert rest == full[3:]
    logged = [v for _, v in read_log(tmp_path / 'split' / 'log.csv')['train/loss']]
    assert logged == pytest.approx(full)


def test_resume_cli_uses_the_run_config(indoor, tmp_path) -> None:
    args = argparse.Namespace(config=None, data=None, out=str(tmp_path), resume=True,
                              overrides=['max_steps=9'])
    with pytest.raises(FileNotFoundError, match='config.yaml'):
        resolve_config(args)
    from depth_anything_ros.training.config import save_yaml
    save_yaml(load_config('debug', [f'data={indoor}']), tmp_path / 'config.yaml')
    cfg = resolve_config(args)
    assert cfg.max_steps == 9 and cfg.data == indoor and cfg.encoder == 'tiny'
    fresh = argparse.Namespace(config=None, data=indoor, out='x', resume=False, overrides=[])
    with pytest.raises(ValueError, match='--config'):
        resolve_config(fresh)


def test_get_lr_poly_decay_and_warmup() -> None:
    assert get_lr(0, 1e-3, 100) == pytest.approx(1e-3)
    assert get_lr(50, 1e-3, 100) == pytest.approx(1e-3 * 0.5 ** 0.9)
    assert get_lr(100, 1e-3, 100) == 0.0
    assert get_lr(99, 2.0, 100, power=1.0) == pytest.approx(0.02)
    assert [get_lr(s, 1.0, 100, warmup_steps=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    # the decay starts from the full rate once warm-up ends, and reaches 0 at max_steps
    assert get_lr(4, 1.0, 100, warmup_steps=4) == 1.0
    assert get_lr(52, 1.0, 100, warmup_steps=4) == pytest.approx(0.5 ** 0.9)
    assert get_lr(100, 1.0, 100, warmup_steps=4) == 0.0


def test_param_groups_and_frozen_encoder() -> None:
    cfg = load_config('debug', ['lr=1e-4', 'head_lr_mult=10'])
    model = build_training_model(cfg)
    groups = {g['name']: g for g in param_groups(model, cfg.head_lr_mult)}
    n_enc = sum(p.numel() for p in model.pretrained.parameters())
    assert sum(p.numel() for p in groups['encoder']['params']) == n_enc
    assert groups['head']['lr_mult'] == 10 and groups['encoder']['lr_mult'] == 1
    model.pretrained.requires_grad_(False)
    assert [g['name'] for g in param_groups(model, cfg.head_lr_mult)] == ['head']
    model.pretrained.requires_grad_(True)
    wrapped = torch.nn.ModuleDict({'net': model, 'projector': torch.nn.Linear(2, 2)})
    groups = {g['name']: g for g in param_groups(wrapped, 3.0)}   # as the distill student
    assert sum(p.numel() for p in groups['encoder']['params']) == n_enc
    assert groups['head']['lr_mult'] == 3.0


def test_init_from_relative_and_metric_checkpoints(tmp_path, caplog) -> None:
    from depth_anything_ros.model import build_model, export_model
    torch.manual_seed(0)
    relative = build_model('tiny', 'relative')
    path = export_model(relative, tmp_path / 'rel' / 'model.pth')
    cfg = load_config('debug', [f'init={path}', 'max_depth=10'])
    model = build_training_model(cfg)
    rel_sd, sd = relative.state_dict(), model.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in rel_sd.items() if k.startswith('pretrained.'))
    # the head is freshly initialised, not copied from the relative model
    head_keys = [k for k in rel_sd if k.startswith('depth_head.') and k.endswith('weight')]
    assert not all(torch.equal(sd[k], rel_sd[k]) for k in head_keys)
    assert model.is_metric

    metric = build_model('tiny', 'metric', max_depth=10.0)
    mpath = export_model(metric, tmp_path / 'met' / 'model.pth')
    loaded = build_training_model(load_config('debug', [f'init={mpath}']))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in metric.state_dict().items())
    assert 'rescaled' not in caplog.text
    build_training_model(load_config('debug', [f'init={mpath}', 'max_depth=20']))
    assert 'trained with max_depth 10.0 m' in caplog.text      # a silent x2 would be a trap

    with pytest.raises(ValueError, match='encoder'):
        build_training_model(load_config('debug', [f'init={path}', 'encoder=vits']))


@pytest.mark.slow
def test_torchrun_two_processes_match_single_process_eval(indoor, tmp_path) -> None:
    import os
    import subprocess
    import sys
    over = ['max_steps=4', 'batch_size=2', 'max_val_images=8', 'log_every=1', 'export=false']
    single = train(load_config('debug', [f'data={indoor}', *over]), tmp_path / 'one',
                   progress=False)
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
         '-m', 'depth_anything_ros.commands.cli', 'train', '--config', 'debug', '--data', indoor,
         '--out', str(tmp_path / 'two'), '--no-progress', *over],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    two = tmp_path / 'two'
    # same seed -> same initial weights; the val split is sharded over ranks and all-reduced
    start = json.loads((two / 'val_start.json').read_text())
    assert start['n_images'] == single['val_start']['n_images'] == 8
    assert start['abs_rel'] == pytest.approx(single['val_start']['abs_rel'], rel=1e-5)
    # rank 0 alone logs: one row per step
    losses = read_log(two / 'log.csv')['train/loss']
    assert [s for s, _ in losses] == [1, 2, 3, 4] and all(np.isfinite(v) for _, v in losses)
    assert json.loads((two / 'val_end.json').read_text())['n_images'] == 8


def test_bf16_autocast_and_grad_clip_on_cpu(indoor, tmp_path) -> None:
    cfg = load_config('debug', [f'data={indoor}', 'max_steps=2', 'amp=bf16', 'grad_clip=0.5',
                                'max_val_images=2', 'batch_size=2', 'export=false'])
    summary = train(cfg, tmp_path / 'bf16', progress=False)
    assert len(summary['losses']) == 2 and all(np.isfinite(summary['losses']))
    assert np.isfinite(summary['val_end']['abs_rel'])
    with pytest.raises(ValueError, match='fp16 needs a CUDA'):
        train(load_config('debug', [f'data={indoor}', 'amp=fp16']), tmp_path / 'fp16',
              progress=False)


def test_train_command_line_accepts_overrides_between_options() -> None:
    from depth_anything_ros.commands import train as train_command
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args(['--config', 'debug', 'max_steps=5', '--data', '/d', '--out', '/o',
                              'lr=1e-3', '--stop-at', '2'])
    assert args.overrides == ['max_steps=5', 'lr=1e-3'] and args.stop_at == 2
    cfg = resolve_config(args)
    assert (cfg.max_steps, cfg.lr, cfg.data) == (5, 1e-3, '/d')


@pytest.mark.slow
def test_data_stream_does_not_depend_on_worker_count(indoor, tmp_path) -> None:
    over = [f'data={indoor}', 'max_steps=2', 'max_val_images=1', 'batch_size=2', 'export=false']
    a = train(load_config('debug', over + ['num_workers=0']), tmp_path / 'a', progress=False)
    b = train(load_config('debug', over + ['num_workers=2']), tmp_path / 'b', progress=False)
    assert a['losses'] == b['losses']


@pytest.mark.parametrize(('capability', 'want'), [((8, 6), torch.bfloat16),
                                                  ((7, 5), torch.float16)])
def test_auto_amp_picks_bf16_only_where_the_gpu_computes_it(monkeypatch: pytest.MonkeyPatch,
                                                           capability: tuple, want) -> None:
    asked = []
    monkeypatch.setattr(torch.version, 'hip', None)
    monkeypatch.setattr(torch.cuda, 'get_device_capability',
                        lambda device=None: asked.append(device) or capability)
    gpu = torch.device('cuda', 1)
    assert amp_dtype('auto', gpu) is want
    assert asked == [gpu]  # the training device, not whichever GPU is current
    assert amp_dtype('auto', torch.device('cpu')) is None
