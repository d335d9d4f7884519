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

"""The network exports to ONNX with dynamic batch/height/width and stays exact at every size.

The pos-embed interpolation and every head resize derive their sizes from tensor shapes, so
one exported graph serves all input sizes, including the 518x518 identity shortcut.
"""

from __future__ import annotations

from pathlib import Path
import warnings

import numpy as np
import pytest
import torch

from depth_anything_ros.model import ModelConfig, untrained_model

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


@pytest.mark.slow
def test_dynamic_onnx_export_matches_eager_at_other_sizes(tmp_path: Path) -> None:
    model = untrained_model(ModelConfig.tiny(), warn=False)
    path = tmp_path / 'tiny.onnx'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings about shape-derived values
        torch.onnx.export(model, (torch.randn(1, 3, 70, 98),), str(path), dynamo=False,
                          input_names=['x'], output_names=['y'], opset_version=17,
                          dynamic_axes={'x': {0: 'b', 2: 'h', 3: 'w'},
                                        'y': {0: 'b', 1: 'h', 2: 'w'}})
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    gen = torch.Generator().manual_seed(0)
    for shape in ((1, 3, 70, 98), (2, 3, 140, 182), (1, 3, 518, 518), (1, 3, 266, 350)):
        x = torch.randn(*shape, generator=gen)
        with torch.inference_mode():
            want = model(x).numpy()
        got = session.run(None, {'x': x.numpy()})[0]
        assert got.shape == want.shape == (shape[0], shape[2], shape[3])
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())
