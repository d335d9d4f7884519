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

"""Pieces every backend shares: the Runner interface, metadata sidecars, the artifact cache."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

# The engine cache's home, re-exported for the backends (defined once, without torch).
from depth_anything_ros.backends.engine_cache import atomic_write_bytes, default_cache_dir  # noqa: F401

# the one sidecar reader and writer, importable from here as before
from depth_anything_ros.models.sidecar import (  # noqa: F401
    read_sidecar,
    sidecar_dict,
    sidecar_path,
    write_sidecar,
)
from depth_anything_ros.vocabulary import PATCH_SIZE, PRECISIONS

PATCH = PATCH_SIZE  # ViT patch size: network inputs are multiples of it
INPUT_NAME = 'image'
OUTPUT_NAME = 'depth'


class BackendUnavailableError(ImportError):
    """The runtime a backend needs is not installed (the message names the package)."""


class Runner:
    """A compiled network: ``runner(x [B,3,H,W] float32) -> [B,H,W] float32``.

    ``x`` is the normalised network input (H, W multiples of 14) and the result is what the torch
    model's ``forward`` returns: affine-invariant disparity (relative) or metres (metric). A graph
    of several outputs (:attr:`output_names`) returns a mapping of them instead, and one whose
    input has a views axis (:attr:`views`) takes [B,S,3,H,W] too.
    """

    # What a graph without metadata about them takes (each instance sets its own).
    output_names: list[str] = [OUTPUT_NAME]
    views: bool = False
    encoder: str | None = None
    multiple: int = PATCH

    def __init__(self, *, backend: str, precision: str, metadata: dict[str, Any]) -> None:
        if precision not in PRECISIONS:
            raise ValueError(
                f'unknown precision {precision!r}; choose from {", ".join(PRECISIONS)}')
        self.backend = backend
        self.precision = precision
        self.metadata = dict(metadata)
        self.encoder: str | None = metadata.get('encoder')
        self.is_metric: bool = bool(metadata.get('is_metric', metadata.get('head') == 'metric'))
        max_depth = metadata.get('max_depth')
        self.max_depth: float | None = float(max_depth) if self.is_metric and max_depth else None
        #: The graph's outputs, in order; more than ``depth``: calls return a mapping.
        self.output_names = list(metadata.get('output_names') or [OUTPUT_NAME])
        #: Whether the graph's input has a views axis: (B, S, 3, H, W).
        self.views = len(metadata.get('input_shape') or ()) == 5
        #: Input sides are multiples of this (a library network's patch size; default 14).
        self.multiple = int(metadata.get('input_multiple') or PATCH)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def graph_input(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``x`` as the graph takes it, and whether a views axis of one was added.

        A graph with a views axis takes [B, S, 3, H, W], or [B, 3, H, W] as one view each;
        any other graph [B, 3, H, W] only.

        Raises:
            ValueError: a shape the graph does not take (one line saying what it takes).
        """
        if isinstance(x, torch.Tensor) and x.ndim == 5:
            if not self.views:
                raise ValueError(f'{self.encoder or "this model"} takes one view per image, '
                                 f'[B, 3, H, W]; got {tuple(x.shape)}')
            self.check_input(x[:, 0], self.multiple)
            return x, False
        self.check_input(x, self.multiple)
        return (x[:, None], True) if self.views else (x, False)

    def graph_output(self, outputs: list[torch.Tensor], added: bool
                     ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Return the graph's outputs as the caller gets them: ``depth`` alone, or a mapping."""
        if added:
            outputs = [o[:, 0] for o in outputs]
        if self.output_names == [OUTPUT_NAME]:
            return outputs[0]
        return dict(zip(self.output_names, outputs))

    def report(self) -> dict[str, str]:
        """Runtime facts for /diagnostics (key -> text); none by default."""
        return {}

    @staticmethod
    def check_input(x: torch.Tensor, multiple: int = PATCH) -> None:
        """Raise ``ValueError`` unless ``x`` is a [B,3,H,W] float batch with H, W % multiple == 0.

        ``multiple``: the graph's input side multiple (14, or its sidecar's ``input_multiple``).
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f'expected a [B, 3, H, W] tensor, got {shape}')
        if x.shape[2] % multiple or x.shape[3] % multiple:
            raise ValueError(f'input height and width must be multiples of {multiple}, got '
                             f"{x.shape[2]}x{x.shape[3]}; resize with the estimator's "
                             'preprocessing')
        if not x.is_floating_point():
            raise ValueError(f'expected a float tensor (normalised image), got {x.dtype}')

    def __repr__(self) -> str:
        kind = f'metric, max_depth={self.max_depth:g} m' if self.is_metric else 'relative'
        return f'{type(self).__name__}(backend={self.backend!r}, ' \
               f'precision={self.precision!r}, encoder={self.encoder!r}, {kind})'


def cuda_index(device: torch.device) -> int:
    """Return the CUDA device index ``device`` names; plain ``cuda`` means the current device."""
    if device.index is not None:
        return device.index
    return torch.cuda.current_device() if torch.cuda.is_available() else 0


def cpu_fp32(model: nn.Module) -> nn.Module:
    """Return ``model`` if it is on the CPU in float32, else a CPU float32 copy (eval mode).

    Exports trace on the CPU in fp32; copying instead of ``model.to()`` leaves the caller's
    module (perhaps on a GPU, perhaps in bf16) untouched.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.device.type == 'cpu' and t.dtype == torch.float32 for t in tensors
           if t.is_floating_point()):
        return model
    return copy.deepcopy(model).to('cpu', torch.float32).eval()


def model_metadata(model: nn.Module) -> dict[str, Any]:
    """Describe a module for an export's sidecar: the model's sidecar plus ``is_metric``."""
    meta = sidecar_dict(model)
    meta = {**meta, 'is_metric': meta['head'] == 'metric'}
    make = getattr(model, 'export_graph', None)
    if callable(make):   # a graph with its own inputs and outputs (onnx_export.graph_of)
        graph = make()
        meta.update(getattr(graph, 'metadata', dict)())   # e.g. its input multiple
        meta.update(input_names=list(graph.input_names),
                    output_names=list(graph.output_names),
                    input_shape=['batch', 'views', 3, 'height', 'width'] if graph.views
                    else ['batch', 3, 'height', 'width'])
    return meta


def weights_fingerprint(model: nn.Module) -> str:
    """Return a sha256 over the module's state (names, dtypes, shapes, bytes) and config."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to('cpu').contiguous()
        h.update(f'{name}|{t.dtype}|{tuple(t.shape)}|'.encode())
        # View as bytes so bf16 and other dtypes numpy lacks hash the same way.
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(json.dumps(model_metadata(model), sort_keys=True).encode())
    return h.hexdigest()


def module_fingerprint(model: nn.Module, cache_dir: Path) -> str:
    """Return the weights identity used in cache keys, without re-hashing what is known.

    A module that :func:`~depth_anything_ros.model.load_model` read from a file
    (``model.checkpoint_file``) is identified by that file's sha256 (remembered in
    ``cache_dir`` by path, mtime and size, so a warm start reads no weights) plus its
    configuration; any other module by :func:`weights_fingerprint` of its state. A module
    changed in memory after loading (e.g. trained further) should drop ``checkpoint_file``.
    """
    source = getattr(model, 'checkpoint_file', None)
    if source is None or not Path(source).is_file():
        return weights_fingerprint(model)
    blob = json.dumps({'file_sha256': cached_file_digest(Path(source), Path(cache_dir)),
                       'metadata': model_metadata(model)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_file_digest(path: Path, cache_dir: Path) -> str:
    """Return :func:`file_digest` of ``path``, memoised in ``cache_dir`` by path, mtime, size.

    Hashing a ViT-L checkpoint (1.3 GB) takes seconds; a file whose path, modification time
    and size are unchanged is taken to have unchanged contents.
    """
    stat = path.stat()
    key = f'{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}'
    index_path = Path(cache_dir) / 'file_hashes.json'
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key not in index:
        index[key] = file_digest(path)
        atomic_write_bytes(index_path, json.dumps(index, indent=1, sort_keys=True).encode())
    return index[key]


#: The version of the graphs this package exports: raise it whenever a change of the network
#: or export code changes what an exported graph computes, so that engines cached by an
#: earlier version are never reused (2: Depth Anything 3's position grid at any width).
GRAPH_VERSION = 2


def cache_key(fingerprint: str, **options: Any) -> str:
    """Return a short hex key for ``fingerprint`` plus every option that changes an artifact."""
    blob = json.dumps({'weights': fingerprint, 'torch': torch.__version__,
                       'graph': GRAPH_VERSION, **options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def file_digest(path: Path) -> str:
    """Return the sha256 of a file's bytes (streamed)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()
