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

"""A ``transformers`` depth network with the interface the estimator runs, and its loading.

The network is the library's own model class (not re-implemented here); its input and output
go through the library's own image processor (``preprocessor_config.json`` of the folder):
:meth:`LibraryDepthNet.prepare` is the processor's ``__call__`` and
:meth:`LibraryDepthNet.finish` its ``post_process_depth_estimation``, with the same arguments
as the library's ``depth-estimation`` pipeline, so the depth equals the pipeline's.

A checkpoint is a folder in the library's format (as ``save_pretrained`` writes it: a
``config.json`` naming the ``model_type``, the weights, and ``preprocessor_config.json``).
Loading is strict: weights that do not fit the config are a :class:`CheckpointError` naming
them, never a network with random layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
from dataclasses import asdict, dataclass
import importlib
import math
import os
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn, Tensor

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.models.files import CheckpointError

__all__ = ['EXTRA', 'LibraryConfig', 'LibraryDepthNet', 'LibraryImplementation', 'library',
           'load_folder', 'seeded']

#: How to install the optional libraries these families need.
EXTRA = "pip install 'depth_anything_ros[hf]' (or pip install -r requirements/hf.txt)"
#: Weight files of a library folder, in the order the library prefers them.
WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')


def library(family: str) -> ModuleType:
    """Import ``transformers`` for ``family``; InvalidInputError says how to install it."""
    try:   # an optional extra, like the optional runtimes: imported by name when chosen
        transformers = importlib.import_module('transformers')
    except ImportError as exc:
        raise InvalidInputError(f'the {family} model family runs on Hugging Face transformers, '
                                f'which is not installed ({exc}); {EXTRA}') from exc
    transformers.logging.set_verbosity_error()   # strictness is checked here, not logged
    return transformers


@dataclass(frozen=True)
class LibraryConfig:
    """What the estimator and sidecars need to know about a library network."""

    encoder: str
    is_metric: bool
    max_depth: float | None
    model_type: str

    @property
    def head(self) -> str:
        """``'metric'`` or ``'relative'`` (the node's ``mode`` word)."""
        return 'metric' if self.is_metric else 'relative'

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seeded(seed: int, build: Callable[[], Any]) -> Any:
    """Run ``build`` with torch's RNG seeded, leaving the caller's RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


class LibraryDepthNet(nn.Module):
    """The library's depth model and image processor behind the estimator's network interface.

    ``forward(pixel_values [B,3,h,w]) -> [B,h,w]``: the model's ``predicted_depth``. With
    ``flip_average`` (ZoeDepth) the flipped input runs too and the two predictions are averaged
    as the library's post-processing averages ``outputs_flipped``. A field of view the model
    estimates (Depth Pro) is kept in :attr:`field_of_view` (degrees, [B]) for :meth:`finish`.
    """

    #: Whether ``forward`` takes a metric prompt depth (``prompt=``; Prompt Depth Anything).
    takes_prompt = False

    def __init__(self, family: str, model: nn.Module, processor: Any, config: LibraryConfig,
                 *, flip_average: bool = False) -> None:
        super().__init__()
        self.family = family
        self.net = model
        self.processor = processor
        self.config = config
        self.flip_average = flip_average
        self.field_of_view: Tensor | None = None

    @property
    def is_metric(self) -> bool:
        """True when the output is metres, False for relative inverse depth."""
        return self.config.is_metric

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(pixel_values=x)
        depth = out.predicted_depth  # (B, h, w)
        if self.flip_average:
            flipped = self.net(pixel_values=torch.flip(x, dims=[3])).predicted_depth
            depth = (depth + torch.flip(flipped, dims=[-1])) / 2
        fov = getattr(out, 'field_of_view', None)
        self.field_of_view = None if fov is None else fov.detach().reshape(-1)
        return depth

    def prepare(self, images: Sequence[np.ndarray]) -> Tensor:
        """HxWx3 uint8 RGB frames -> the processor's ``pixel_values`` [B,3,h,w] (CPU)."""
        return self.processor(images=list(images), return_tensors='pt')['pixel_values']

    def finish(self, pred: Tensor, size: Sequence[int],
               focal_px: Sequence[float | None] | None = None) -> Tensor:
        """Prediction [B,h,w] -> [B,H,W] float32: the processor's post-processing.

        The frame size goes where the library's pipeline puts it (``target_sizes``, or
        ``source_sizes`` for ZoeDepth, whose padding it removes). ``focal_px``: the camera's
        focal length in pixels per frame (None: the network's estimate, Depth Pro); it
        replaces the estimated field of view.
        """
        fov = self.field_of_view
        if fov is not None and focal_px is not None:
            width = float(size[1])
            fov = torch.stack([
                fov[i] if f is None else torch.tensor(
                    math.degrees(2.0 * math.atan(0.5 * width / float(f))),
                    dtype=fov.dtype, device=fov.device)
                for i, f in enumerate(focal_px)])
        outputs = SimpleNamespace(predicted_depth=pred, field_of_view=fov)
        sizes = [tuple(int(s) for s in size)] * len(pred)
        results = self.processor.post_process_depth_estimation(outputs, sizes)
        return torch.stack([r['predicted_depth'].reshape(sizes[0]) for r in results]).float()

    def estimated_focal(self, width: int) -> list[float] | None:
        """Focal lengths (pixels, at ``width``) from the last frames' estimated field of view."""
        if self.field_of_view is None:
            return None
        return [0.5 * width / math.tan(0.5 * math.radians(float(f)))
                for f in self.field_of_view]


def library_processor(lib: ModuleType, folder: Path) -> Any:
    """Return the library's own image processor saved in ``folder``."""
    return lib.AutoImageProcessor.from_pretrained(folder, local_files_only=True)


def load_folder(folder: str | os.PathLike, family: str, model_class: str, *,
                describe: Callable[[Any], LibraryConfig], flip_average: bool = False,
                processor: Callable[[ModuleType, Path], Any] = library_processor,
                net_class: type[LibraryDepthNet] = LibraryDepthNet) -> LibraryDepthNet:
    """Load a library folder strictly: config, weights and image processor.

    ``model_class``: the library's class name (``DPTForDepthEstimation``); ``describe`` turns
    the library config into a :class:`LibraryConfig`.

    Raises:
        CheckpointError: a file is missing, unreadable, or the weights do not fit the config.
        ValueError: the library is not installed.

    """
    folder = Path(folder)
    lib = library(family)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(f'{folder} has a config.json but no {" or ".join(WEIGHT_FILES)}; '
                              'copy the whole folder save_pretrained wrote')
    if not (folder / 'preprocessor_config.json').is_file():
        raise CheckpointError(f'{folder} has no preprocessor_config.json (the image processor); '
                              'save it with the model (processor.save_pretrained(folder))')
    cls = getattr(lib, model_class)
    try:
        model, info = cls.from_pretrained(folder, output_loading_info=True,
                                          local_files_only=True)
        processing = processor(lib, folder)
    except ImportError as exc:   # a dependency of this model type's code
        raise InvalidInputError(f'{folder}: the library cannot run {model_class} here '
                                f'({exc}); {EXTRA}') from exc
    except Exception as exc:  # noqa: BLE001 - the library and safetensors raise many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f'{folder} is not a readable {model_class} folder: '
                              f'{first}') from exc
    found = {what: sorted(map(str, info.get(key) or ())) for what, key in (
        ('missing', 'missing_keys'), ('unexpected', 'unexpected_keys'),
        ('mis-shaped', 'mismatched_keys'))}
    problems = [f'{what}: {", ".join(keys[:5])}'
                f'{f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""}'
                for what, keys in found.items() if keys]
    if problems:
        raise CheckpointError(f'{folder}: the weights do not fit its config.json '
                              f'({model_class}): {"; ".join(problems)}')
    model = model.float().eval()
    net = net_class(family, model, processing, describe(model.config),
                    flip_average=flip_average)
    net.checkpoint_file = folder
    return net.eval()


@dataclass(frozen=True)
class LibraryImplementation:
    """The functions of a library family's implementation module (docs/architecture.md).

    ``tiny``: ``lib -> (config, processor)`` of a small network for tests (``untrained:ENC``);
    ``metric``: whether the network outputs metres; ``max_depth``: ``config -> metres|None``.
    """

    family: str
    title: str
    encoder: str
    model_class: str
    metric: bool
    tiny: Callable[[ModuleType], tuple[Any, Any]]
    max_depth: Callable[[Any], float | None] = lambda config: None
    flip_average: bool = False
    seed: int = 0
    processor: Callable[[ModuleType, Path], Any] = library_processor
    #: ``(lib, model) -> None``: after seeding, makes the tiny untrained weights useful.
    tiny_weights: Callable[[ModuleType, nn.Module], None] | None = None
    #: ``lib -> processor`` of the published architecture (the library's defaults).
    default_processor: Callable[[ModuleType], Any] | None = None
    #: The network wrapper (a subclass of LibraryDepthNet where the family's inputs differ).
    net_class: type[LibraryDepthNet] = LibraryDepthNet

    def describe(self, config: Any) -> LibraryConfig:
        return LibraryConfig(self.encoder, self.metric,
                             self.max_depth(config) if self.metric else None, config.model_type)

    def _check(self, encoder: Any, head: str | None, where: str) -> None:
        if encoder not in (None, self.encoder):
            raise InvalidInputError(f'the {self.family} family builds encoder '
                                    f'{self.encoder!r}, not {encoder!r}')
        want = 'metric' if self.metric else 'relative'
        if head not in (None, want):
            what = 'metric depth (metres)' if self.metric else 'relative inverse depth'
            raise CheckpointError(f'{where}: {self.title} outputs {what} only; use mode '
                                  f'{want!r}')

    def _default_head(self, head: str | None) -> str | None:
        """``head`` as a check; 'relative' is the loaders' default, no request, when metric."""
        return None if head == 'relative' and self.metric else head

    def _wrap(self, model: nn.Module, processor: Any) -> LibraryDepthNet:
        return self.net_class(self.family, model.float().eval(), processor,
                              self.describe(model.config),
                              flip_average=self.flip_average).eval()

    def build_model(self, encoder: Any, head: str = 'relative',
                    max_depth: float | None = None, *,
                    device: torch.device | str | None = None) -> LibraryDepthNet:
        """Build the published architecture (the library's default config), default-initialised."""
        self._check(encoder if isinstance(encoder, str) else None, self._default_head(head),
                    self.family)
        lib = library(self.family)
        cls = getattr(lib, self.model_class)
        with torch.device(device) if device is not None else contextlib.nullcontext():
            model = cls(cls.config_class())
        processor = (self.default_processor(lib) if self.default_processor is not None
                     else self.tiny(lib)[1])
        return self._wrap(model, processor)

    def untrained_model(self, encoder: str, head: str,
                        max_depth: float | None) -> LibraryDepthNet:
        """Build a tiny network with seeded random weights (deterministic; tests only)."""
        self._check(encoder, self._default_head(head), f'untrained:{self.encoder}')
        lib = library(self.family)
        config, processor = self.tiny(lib)

        def build() -> nn.Module:
            model = getattr(lib, self.model_class)(config)
            if self.tiny_weights is not None:
                self.tiny_weights(lib, model)
            return model

        return self._wrap(seeded(self.seed, build), processor)

    def load_state_dict(self, path: Any, sd: Any, meta: Any, **_: Any) -> nn.Module:
        raise CheckpointError(f'{path}: a {self.title} checkpoint is a folder in the '
                              'transformers format (config.json, the weights and '
                              'preprocessor_config.json, as save_pretrained writes them); pass '
                              'the folder')

    def load_folder(self, folder: str | os.PathLike, *, head: str | None = None,
                    **_: Any) -> LibraryDepthNet:
        self._check(None, head, os.fspath(folder))
        return load_folder(folder, self.family, self.model_class, describe=self.describe,
                           flip_average=self.flip_average, processor=self.processor,
                           net_class=self.net_class)

    def config_from_dict(self, data: dict[str, Any]) -> LibraryConfig:
        return LibraryConfig(**data)

    def check_metadata(self, meta: Any) -> None:
        return None
