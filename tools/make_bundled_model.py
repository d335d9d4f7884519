#!/usr/bin/env python3
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

"""Make the bundled toy model ``rooms_tiny`` from nothing: synthetic rooms, training, scores.

    python tools/make_bundled_model.py [--work DIR] [--steps N] [--out FILE]

Three steps, each one of the package's own commands (printed as they run):

1. ``synth`` renders the training rooms (indoor, 300 images, 240x320, seed 7) and a held-out
   set from another seed (60 images, seed 8);
2. ``train --config debug`` trains the 0.3 M-parameter ``tiny`` encoder from random weights
   (1500 steps, input 196, batch 8: about six minutes on one quiet core);
3. ``eval`` scores the exported model on the held-out rooms.

The exported weights go to ``depth_anything_ros/data/models/rooms_tiny.pth`` with a sidecar
that records this recipe, the data, the training run's validation scores before and after,
the held-out scores, and the licence (Apache-2.0, like the package: it was trained here from
random weights on procedural images, no third-party weights or data in it). It is a toy: the
node, ``infer`` and ``make demo`` say so whenever they run it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import shutil
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / 'depth_anything_ros' / 'data' / 'models' / 'rooms_tiny.pth'
SYNTH = ['--scene', 'indoor', '--num', '300', '--size', '240x320', '--seed', '7']
HELD_OUT = ['--scene', 'indoor', '--num', '60', '--size', '240x320', '--seed', '8',
            '--val-fraction', '1.0']
TRAIN = ['--config', 'debug', 'input_size=196', 'batch_size=8']
NOTE = ('a toy trained on procedural synthetic rooms, not Depth Anything: it gets the layout of '
        'a room roughly right and nothing more')


def run(args: list[str]) -> None:
    """Run one package command, echoing it."""
    cmd = [sys.executable, '-m', 'depth_anything_ros', *args]
    print('+ depth-anything-ros ' + ' '.join(args), flush=True)
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work', default='runs/bundled', help='scratch folder (data, run)')
    parser.add_argument('--steps', type=int, default=1500, help='training steps')
    parser.add_argument('--out', default=str(TARGET), help='where the weights go')
    args = parser.parse_args(argv)
    work = Path(args.work)
    data, held_out, run_dir = work / 'rooms', work / 'rooms_held_out', work / 'run'
    for folder in (data, held_out, run_dir):
        shutil.rmtree(folder, ignore_errors=True)
    started = time.monotonic()
    run(['synth', *SYNTH, '--out', str(data)])
    run(['synth', *HELD_OUT, '--out', str(held_out)])
    train = [*TRAIN, f'max_steps={args.steps}']
    run(['train', '--data', str(data), '--out', str(run_dir), '--no-progress', *train])
    exported = run_dir / 'export' / 'model.pth'
    scores = work / 'held_out.json'
    run(['eval', '--checkpoint', str(exported), '--data', str(held_out), '--split', 'val',
         '--align', 'none', '--limit', '60', '--out', str(scores)])
    minutes = (time.monotonic() - started) / 60.0

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exported, out)
    side = json.loads(exported.with_suffix('.json').read_text())
    held = json.loads(scores.read_text())
    side.update({
        'name': 'rooms_tiny',
        'licence': 'Apache-2.0',
        'note': NOTE,
        'training': {
            'command': 'python tools/make_bundled_model.py',
            'data': 'depth-anything-ros synth ' + ' '.join(SYNTH),
            'held_out': 'depth-anything-ros synth ' + ' '.join(HELD_OUT),
            'train': 'depth-anything-ros train ' + ' '.join(train),
            'minutes': round(minutes, 1),
        },
        'metrics': {
            'val_start': _scores(json.loads((run_dir / 'val_start.json').read_text())),
            'val_end': _scores(json.loads((run_dir / 'val_end.json').read_text())),
            'held_out': _scores(held.get('metrics', held)),
        },
    })
    out.with_suffix('.json').write_text(json.dumps(side, indent=2, sort_keys=True) + '\n')
    print(f'wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and its sidecar; '
          f'{minutes:.1f} min in all')
    print(json.dumps(side['metrics'], indent=2))
    return 0


def _scores(doc: dict) -> dict:
    """Return the headline scores of a metrics document."""
    out = {k: round(float(doc[k]), 4) for k in ('abs_rel', 'delta1', 'rmse') if k in doc}
    if 'n_images' in doc:
        out['n_images'] = int(doc['n_images'])
    return out


if __name__ == '__main__':
    sys.exit(main())
