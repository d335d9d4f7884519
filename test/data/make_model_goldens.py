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

"""Rebuild ``test/data/model_goldens.npz`` from the official reference arrays.

Usage: ``python test/data/make_model_goldens.py REFERENCE_DIR`` where REFERENCE_DIR holds the
``golden_*.npz`` files (official Depth Anything V2 outputs with deterministic weights) and the
``state_dict_*.json`` manifests. Large arrays are stored strided (every 4th row/column) to keep
the repository small; the input image is stored whole because the tests run on it.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

import numpy as np

HERE = Path(__file__).resolve().parent


def main(ref: Path) -> None:
    out: dict[str, np.ndarray] = {}
    for enc in ('vits', 'vitb', 'vitl', 'vitg'):
        g = np.load(ref / f'golden_forward_{enc}.npz', allow_pickle=False)
        out[f'y_{enc}'] = g['y']
        if enc == 'vits':
            out['x'] = g['x']
            out['x_formula'] = g['x_formula']
            for i in range(4):
                out[f'feat{i}_stride3'] = g[f'feat{i}'][:, ::3]
                out[f'cls{i}'] = g[f'cls{i}']
            out['pos_embed_10x13'] = g['pos_embed_10x13']
    out['y_metric_vits'] = np.load(ref / 'golden_metric_vits.npz')['y']
    g = np.load(ref / 'golden_infer_vits.npz', allow_pickle=False)
    out['image_bgr'] = g['image_bgr']
    for k in ('depth', 'depth_364', 'depth_square_518', 'pred_518'):
        out[f'{k}_stride4'] = g[k][::4, ::4]
    for k in ('input_518', 'input_364'):
        out[f'{k}_stride4'] = g[k][..., ::4, ::4]
    np.savez_compressed(HERE / 'model_goldens.npz', **out)
    for enc in ('vits', 'vitb', 'vitl', 'vitg'):
        manifest = json.loads((ref / f'state_dict_{enc}.json').read_text())
        (HERE / f'state_dict_{enc}.json').write_text(json.dumps(manifest, indent=0) + '\n')


if __name__ == '__main__':
    main(Path(sys.argv[1]))
