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

"""Training config (YAML presets, typed overrides) and run folders (logs, checkpoints, RNG)."""

import random

import numpy as np
import pytest
import torch
import yaml

from depth_anything_ros.models.reading import split_checkpoint
from depth_anything_ros.training.config import apply_overrides, load_config, save_yaml, TrainConfig
from depth_anything_ros.training.runs import (
    git_revision,
    load_checkpoint,
    prepare_run_dir,
    read_log,
    rng_state,
    RunLogger,
    save_checkpoint,
    set_rng_state,
)


def test_presets_load_with_their_values() -> None:
    debug = load_config('debug')
    assert debug.encoder == 'tiny' and debug.input_size % 14 == 0
    indoor, outdoor = load_config('indoor'), load_config('outdoor')
    assert (indoor.max_depth, outdoor.max_depth) == (20.0, 80.0)
    assert indoor.lr == 5e-6 and indoor.head_lr_mult == 10 and indoor.weight_decay == 0.01
    assert isinstance(indoor.lr, float)


def test_overrides_are_typed_and_checked() -> None:
    cfg = apply_overrides(TrainConfig(), ['max_steps=7', 'lr=1e-3', 'hflip=false',
                                          'init=/x/y.pth', '--freeze-encoder=yes'])
    assert (cfg.max_steps, cfg.lr, cfg.hflip, cfg.init, cfg.freeze_encoder) == \
        (7, 1e-3, False, '/x/y.pth', True)
    with pytest.raises(ValueError, match='unknown key .*max_step'):
        apply_overrides(TrainConfig(), ['max_step=3'])
    with pytest.raises(ValueError, match='expected int'):
        apply_overrides(TrainConfig(), ['max_steps=many'])
    with pytest.raises(ValueError, match='boolean'):
        apply_overrides(TrainConfig(), ['hflip=maybe'])
    with pytest.raises(ValueError, match='key=value'):
        apply_overrides(TrainConfig(), ['hflip'])


def test_validation_names_field_and_fix() -> None:
    with pytest.raises(ValueError, match='input_size=100: must be a positive multiple of 14'):
        load_config('debug', ['input_size=100'])
    with pytest.raises(ValueError, match='min_depth'):
        load_config('debug', ['min_depth=50'])
    with pytest.raises(FileNotFoundError, match='debug'):
        load_config('no_such_preset')


def test_yaml_round_trip_and_unknown_keys(tmp_path) -> None:
    cfg = load_config('debug', ['lr=3e-4', 'seed=5'])
    save_yaml(cfg, tmp_path / 'c.yaml')
    assert load_config(tmp_path / 'c.yaml') == cfg
    data = yaml.safe_load((tmp_path / 'c.yaml').read_text())
    data['learning_rate'] = 1
    (tmp_path / 'bad.yaml').write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match='unknown key.*learning_rate'):
        load_config(tmp_path / 'bad.yaml')


def test_run_dir_refuses_overwrite_and_requires_checkpoint_to_resume(tmp_path) -> None:
    cfg = load_config('debug')
    run = prepare_run_dir(tmp_path / 'run', cfg)
    assert load_config(run / 'config.yaml') == cfg
    meta = yaml.safe_load((run / 'run.json').read_text())
    assert meta['seed'] == cfg.seed and meta['git_revision'] == git_revision()
    with pytest.raises(FileNotFoundError, match='--resume'):
        prepare_run_dir(run, cfg, resume=True)
    (run / 'last.pt').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='--resume'):
        prepare_run_dir(run, cfg)
    prepare_run_dir(run, cfg, resume=True)


def test_logger_appends_across_sessions(tmp_path) -> None:
    log = RunLogger(tmp_path, tensorboard=False)
    log.log(1, {'loss': 2.0, 'lr': 1e-3}, prefix='train/')
    log.close()
    log = RunLogger(tmp_path, tensorboard=False)
    log.log(2, {'loss': 1.5}, prefix='train/')
    log.close()
    rows = read_log(tmp_path / 'log.csv')
    assert rows['train/loss'] == [(1, 2.0), (2, 1.5)] and rows['train/lr'] == [(1, 1e-3)]
    RunLogger(tmp_path / 'nothing', enabled=False).log(1, {'x': 1})
    assert not (tmp_path / 'nothing').exists()


def test_rng_state_round_trip_through_checkpoint(tmp_path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / 'ck.pt', {'rng': rng_state(), 'model': {'module.w': torch.ones(2)}})
    first = (random.random(), np.random.normal(), torch.rand(3))
    ck = load_checkpoint(tmp_path / 'ck.pt')
    set_rng_state(ck['rng'])
    second = (random.random(), np.random.normal(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    assert list(split_checkpoint(ck)[0]) == ['w']
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / 'missing.pt')


def test_tensorboard_events_are_written(tmp_path) -> None:
    pytest.importorskip('tensorboard')
    log = RunLogger(tmp_path, tensorboard=True)
    log.log(3, {'abs_rel': 0.25}, prefix='val/')
    log.close()
    events = list((tmp_path / 'tb').glob('events.out.tfevents.*'))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tmp_path / 'tb'))
    acc.Reload()
    (scalar,) = acc.Scalars('val/abs_rel')
    assert (scalar.step, scalar.value) == (3, pytest.approx(0.25))


def test_library_families_are_not_training_choices() -> None:
    # transformers / diffusers families are trained by their library, not by `train`
    from depth_anything_ros.models.registry import encoder_choices, families
    trainable = encoder_choices(trainable=True)
    library = [f for f in families() if f.input.aspect == 'library']
    assert library and not any(e in trainable for f in library for e in f.encoders)
    assert 'vits' in trainable and 'da3-small' in trainable
