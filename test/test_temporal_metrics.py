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

"""TAE and flicker on exact sequences; ``synth --sequence`` files and bag; ``eval --tae``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from depth_anything_ros.commands import cli
from depth_anything_ros.core import temporal as tp
from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.training import metrics, sequences

FRAMES = 12
SIZE = (60, 80)


@pytest.fixture(scope='module')
def sequence() -> tuple[list[sequences.SequenceFrame], Intrinsics]:
    frames, cam = sequences.render_sequence('indoor', 0, 0, FRAMES, SIZE)
    return frames, Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)


def _score(frames: list[sequences.SequenceFrame], intr: Intrinsics, predict,  # noqa: ANN001
           static: bool = True) -> dict[str, float]:
    acc = metrics.TemporalAccumulator()
    for i, f in enumerate(frames):
        acc.add('s', predict(i, f.depth), f.depth, intr, f.pose,
                ~f.moving if static else None)
    return acc.result()


def test_an_exact_prediction_has_no_temporal_error(sequence) -> None:  # noqa: ANN001
    frames, intr = sequence
    r = _score(frames, intr, lambda i, d: d)
    assert r['n_pairs'] == FRAMES - 1
    # occluded, disoccluded and out-of-view points are left out: else the exact depth of the
    # occluder would count against the exact depth of what it hides
    assert r['tae'] < 1e-4 and r['flicker'] < 1e-4


def test_a_steady_error_is_no_flicker(sequence) -> None:  # noqa: ANN001
    frames, intr = sequence
    r = _score(frames, intr, lambda i, d: 1.1 * d)
    assert r['flicker'] < 1e-4
    # ... but a wrong scale is temporally inconsistent under translation: TAE sees it
    assert 1e-4 < r['tae'] < 0.02


def test_flicker_of_independent_noise(sequence) -> None:  # noqa: ANN001
    frames, intr = sequence
    rng = np.random.default_rng(0)
    sigma = 0.03
    r = _score(frames, intr, lambda i, d: d * np.exp(rng.normal(0, sigma, d.shape)))
    # |N(0, s) - N(0, s)| has the mean 2 s / sqrt(pi); bilinear sampling averages a little
    assert 0.75 * 2 * sigma / math.sqrt(math.pi) < r['flicker'] < 1.05 * 2 * sigma / math.sqrt(
        math.pi)
    assert r['tae'] > 0.02


def test_moving_pixels_are_left_out(sequence) -> None:  # noqa: ANN001
    frames, intr = sequence
    assert any(f.moving.any() for f in frames)
    rng = np.random.default_rng(1)

    def predict(i: int, d: np.ndarray) -> np.ndarray:
        out = d.copy()
        out[frames[i].moving] *= rng.uniform(0.5, 1.5)   # the ball's depth jumps around
        return out
    assert _score(frames, intr, predict)['flicker'] < 1e-4


def test_sequence_trajectory(sequence) -> None:  # noqa: ANN001
    frames, _ = sequence
    motions = [tp._motion(tp.relative_transform(b.pose, a.pose))
               for a, b in zip(frames, frames[1:])]
    assert all(tp.pose_problem(f.pose) == '' for f in frames)
    assert any(m == (0.0, 0.0) for m in motions)                        # the stop
    assert max(turn for _, turn in motions) * sequences.FPS > 1.5       # the fast turn (rad/s)
    assert max(move for move, _ in motions) * sequences.FPS > 0.3       # smooth motion (m/s)


def test_synth_sequence_and_eval_tae(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / 'seq'
    assert cli.main(['synth', '--sequence', '4', '--size', '28x42', '--out', str(out)]) == 0
    poses = sequences.read_poses(out)
    assert len(poses) == 4 and {s for s, _, _ in poses.values()} == {'indoor_s000'}
    assert len((out / 'val.txt').read_text().split('\n')) == 5
    assert len(list((out / 'moving').glob('*.png'))) == 4
    # the bag replays the frames with their poses on /tf
    from rosbags.highlevel import AnyReader

    from depth_anything_ros.core.bags import typestore
    seen: dict[str, list] = {}
    with AnyReader([out / 'bags' / 'indoor_s000'], default_typestore=typestore()) as reader:
        for conn, _, raw in reader.messages():
            seen.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    assert {k: len(v) for k, v in seen.items()} == {'/tf': 4, '/camera/camera_info': 4,
                                                     '/camera/image': 4}
    first = seen['/tf'][0].transforms[0]
    assert (first.header.frame_id, first.child_frame_id) == ('odom', 'camera_optical_frame')
    pose = poses['indoor_s000_f0000'][2]
    r = first.transform.rotation
    np.testing.assert_allclose(tp.pose_matrix(
        [first.transform.translation.x, first.transform.translation.y,
         first.transform.translation.z], [r.x, r.y, r.z, r.w]), pose, atol=1e-6)
    image = seen['/camera/image'][0]
    assert (image.encoding, image.height, image.width) == ('rgb8', 28, 42)
    # eval --tae adds tae and flicker to the JSON and the table
    result = tmp_path / 'eval.json'
    assert cli.main(['eval', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--data',
                     str(out), '--tae', '--input-size', '28', '--eval-max-depth', '10',
                     '--device', 'cpu', '--out', str(result)]) == 0
    doc = json.loads(result.read_text())
    assert doc['n_frame_pairs'] == 3 and 0 < doc['tae'] < 1 and 0 < doc['flicker'] < 2
    table = capsys.readouterr().out
    assert 'tae v' in table and 'flicker v' in table


def test_eval_tae_without_poses_is_a_user_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / 'still'
    assert cli.main(['synth', '--num', '2', '--size', '28x28', '--val-fraction', '0.5',
                     '--out', str(out)]) == 0
    capsys.readouterr()
    code = cli.main(['eval', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--data',
                     str(out), '--tae', '--input-size', '28', '--eval-max-depth', '10',
                     '--device', 'cpu', '--out', str(tmp_path / 'e.json')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and 'poses.txt not found' in err[0]


@pytest.mark.parametrize('value', ['1', '0', '-3', 'x', '2.5'])
def test_bad_sequence_lengths(value: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(['synth', '--sequence', value, '--out', str(tmp_path / 'x')])
    assert exc.value.code == 2
    assert 'whole number of frames >= 2' in capsys.readouterr().err


def test_process_bag_replays_a_sequence_bag(tmp_path: Path) -> None:
    out = tmp_path / 'seq'
    assert cli.main(['synth', '--sequence', '3', '--size', '28x42', '--out', str(out)]) == 0
    done = tmp_path / 'processed'
    assert cli.main(['process-bag', str(out / 'bags' / 'indoor_s000'), '--out', str(done),
                     '--checkpoint', 'untrained:tiny', '--allow-untrained', '--input-size', '70',
                     '--device', 'cpu', '--outputs', 'depth']) == 0
    from rosbags.highlevel import AnyReader
    with AnyReader([done]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts['/camera/depth/camera_info'] == 3
