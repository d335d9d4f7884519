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

"""The model flags mean the same in every command: one parser (commands.args.model_flags)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything_ros.commands import cli
from depth_anything_ros.commands.args import add_model_arguments, model_flags, ModelFlags

RUNTIME = ['--device', 'cpu', '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']
# the two spellings of "deterministic tiny weights", in every command that loads a model
SPELLINGS = [['--checkpoint', 'untrained', '--encoder', 'tiny'],
             ['--checkpoint', 'untrained:tiny'],
             ['--checkpoint', 'untrained:tiny', '--encoder', 'tiny']]


def _parse(*argv: str, **kwargs: object) -> ModelFlags:
    parser = argparse.ArgumentParser()
    add_model_arguments(parser, **kwargs)
    return model_flags(parser.parse_args(list(argv)))


def test_untrained_spellings_are_one_canonical_checkpoint() -> None:
    for argv in SPELLINGS:
        flags = _parse(*argv, '--allow-untrained')
        assert (flags.checkpoint, flags.encoder, flags.allow_untrained) == (
            'untrained:tiny', 'tiny', True)
    bare = _parse('--checkpoint', 'untrained')
    assert bare.checkpoint == 'untrained:vits' and bare.encoder == 'vits'
    assert _parse('--checkpoint', 'm.pth', '--encoder', 'auto').encoder is None
    assert _parse('--teacher', 'vitl', flag='--teacher').checkpoint == 'vitl'


@pytest.mark.parametrize('argv, message', [
    (['--checkpoint', 'untrained:vits', '--encoder', 'vitb'], 'builds vits but --encoder is vitb'),
    (['--checkpoint', 'm.pth', '--encoder', 'vitx'], '--encoder vitx is not a known'),
])
def test_contradicting_model_flags_are_one_clear_error(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _parse(*argv)


@pytest.mark.parametrize('spelling', SPELLINGS, ids=['separate', 'joined', 'both'])
def test_every_spelling_works_in_infer(tmp_path: Path, spelling: list[str],
                                       capsys: pytest.CaptureFixture,
                                       one_torch_thread: None) -> None:
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.full((28, 42, 3), 120, np.uint8))
    rc = cli.main(['infer', str(image), '--out', str(tmp_path / 'out'), *spelling,
                   '--allow-untrained', *RUNTIME])
    assert rc == 0, capsys.readouterr()
    assert np.load(tmp_path / 'out' / 'a.npy').shape == (28, 42)


@pytest.mark.parametrize('spelling', SPELLINGS, ids=['separate', 'joined', 'both'])
def test_every_spelling_works_in_process_bag(tmp_path: Path, spelling: list[str],
                                             capsys: pytest.CaptureFixture,
                                             one_torch_thread: None) -> None:
    # process-bag once refused "--checkpoint untrained --encoder vits" (exit 2: "encoder auto
    # takes the architecture from the checkpoint ... or name the encoder")
    pytest.importorskip('rosbags')
    from ros_helpers.bags import write_camera_bag
    src = write_camera_bag(tmp_path / 'in', 2, h=28, w=42)
    rc = cli.main(['process-bag', str(src), '--out', str(tmp_path / 'out'), *spelling,
                   '--allow-untrained', '--mode', 'relative', *RUNTIME, '--json'])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)['processed'] == 2


def test_export_takes_the_same_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip('onnx')
    rc = cli.main(['export', '--checkpoint', 'untrained', '--encoder', 'tiny',
                   '--allow-untrained', '--input-size', '70', '--no-verify',
                   '--out', str(tmp_path / 'm.onnx')])
    assert rc == 0, capsys.readouterr()
    meta = json.loads((tmp_path / 'm.json').read_text())
    assert (meta['family'], meta['encoder']) == ('da2', 'tiny')


@pytest.mark.parametrize('spelling', SPELLINGS[:2], ids=['separate', 'joined'])
def test_every_spelling_works_in_eval(tmp_path: Path, spelling: list[str],
                                      capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.training.datasets import GenericWriter
    h, w = 42, 56
    depth = np.tile(np.linspace(1.0, 5.0, w, dtype=np.float32), (h, 1))
    rgb = np.stack([np.round(255 / depth).astype(np.uint8)] * 3, -1)
    writer = GenericWriter(tmp_path / 'data', depth_scale=1e-3)
    writer.add('ramp', rgb, depth, 'val')
    writer.close()
    rc = cli.main(['eval', *spelling, '--allow-untrained', '--data', str(tmp_path / 'data'),
                   '--out', str(tmp_path / 'out.json'), '--input-size', '28', '--device', 'cpu',
                   '--eval-max-depth', '10'])
    assert rc == 0, capsys.readouterr()
    assert json.loads((tmp_path / 'out.json').read_text())['n_images'] == 1


@pytest.mark.parametrize('spelling', [['--teacher', 'untrained', '--encoder', 'tiny'],
                                      ['--teacher', 'untrained:tiny']], ids=['separate', 'joined'])
def test_every_spelling_works_in_pseudo_label(tmp_path: Path, spelling: list[str],
                                              capsys: pytest.CaptureFixture,
                                              one_torch_thread: None) -> None:
    (tmp_path / 'images').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.png'), np.full((28, 42, 3), 90, np.uint8))
    rc = cli.main(['pseudo-label', *spelling, '--allow-untrained', '--inputs',
                   str(tmp_path / 'images'), '--out', str(tmp_path / 'labels'),
                   '--input-size', '70', '--device', 'cpu', '--no-progress'])
    assert rc == 0, capsys.readouterr()
    assert '1 new labels' in capsys.readouterr().out


def test_bench_reads_each_encoder_of_its_list_like_every_command(
        tmp_path: Path, capsys: pytest.CaptureFixture, one_torch_thread: None) -> None:
    base = ['bench', '--quick', '--no-accuracy', '--backend', 'torch', '--precision', 'fp32',
            '--input-size', '70', '--runs', '1', '--warmup', '0', '--device', 'cpu']
    assert cli.main([*base, '--encoder', 'tiny', '--checkpoint', 'untrained',
                     '--out', str(tmp_path / 'b.json')]) == 0
    rows = json.loads((tmp_path / 'b.json').read_text())['results']
    assert {r['encoder'] for r in rows} == {'tiny'}
    assert cli.main([*base, '--encoder', 'tiny,vitx']) == 2
    assert '--encoder vitx is not a known architecture' in capsys.readouterr().err
