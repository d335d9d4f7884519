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

"""Marigold: the library's ``MarigoldDepthPipeline`` behind the estimator's network interface.

The pipeline (U-Net, VAE, scheduler, empty-prompt text encoder) is diffusers' own, loaded from
a folder in its ``save_pretrained`` layout (``model_index.json`` and one folder per part), and
``forward`` is one call of it: its resizing to the processing resolution, its denoising, its
test-time ensembling with scale-and-shift alignment, and its resize back to the frame. The
output is affine-invariant depth in [0, 1] (larger = farther) at the frame size.

Sampling is seeded: member ``e`` of every frame's ensemble starts from noise of a generator
seeded ``seed + e``, so a frame gives the same depth alone or in a batch, run after run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn, Tensor

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.models.files import CheckpointError

__all__ = ['EXTRA', 'IMPLEMENTATION', 'MarigoldConfig', 'MarigoldDepthNet', 'library',
           'tiny_pipeline']

#: How to install the optional library this family needs.
EXTRA = ("pip install 'depth_anything_ros[diffusers]' (or pip install -r "
         'requirements/diffusers.txt)')
#: The parts a pipeline folder holds, each in its own sub-folder.
PARTS = ('unet', 'vae', 'scheduler', 'text_encoder', 'tokenizer')


def library() -> ModuleType:
    """Import ``diffusers``; InvalidInputError says how to install it."""
    try:   # an optional extra: imported by name when the family is chosen
        diffusers = importlib.import_module('diffusers')
        importlib.import_module('transformers')   # its text encoder and tokenizer
        importlib.import_module('scipy')          # its ensembling's alignment solver
    except ImportError as exc:
        raise InvalidInputError(f'the marigold model family runs on Hugging Face diffusers, '
                                f'which is not installed ({exc}); {EXTRA}') from exc
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    return diffusers


@dataclass(frozen=True)
class MarigoldConfig:
    """What the estimator and sidecars need to know, and the pipeline's sampling settings.

    ``steps``: denoising steps (None: the pipeline's own default); ``ensemble_size``:
    predictions per frame, aligned and combined by the pipeline (median);
    ``processing_resolution``: the longest side the pipeline works at (None: its default; 0:
    the frame's own); ``seed``: of the noise of ensemble member 0 (member e: seed + e).
    """

    encoder: str = 'marigold'
    is_metric: bool = False
    max_depth: float | None = None
    model_type: str = 'MarigoldDepthPipeline'
    output: str = 'depth'
    steps: int | None = None
    ensemble_size: int = 1
    processing_resolution: int | None = None
    seed: int = 0
    #: the depth has an unknown shift as well as scale (so 1 / depth is no inverse depth)
    shift_invariant: bool = True

    @property
    def head(self) -> str:
        return 'relative'

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MarigoldDepthNet(nn.Module):
    """The pipeline's parts as sub-modules (so ``.to(device)`` moves them) and its call.

    ``prepare(frames) -> [B,3,H,W]`` uint8; ``forward(x) -> [B,H,W]`` relative depth at the
    frame size; ``finish`` keeps it (the pipeline already resized it).
    """

    family = 'marigold'

    def __init__(self, pipe: Any, config: MarigoldConfig | None = None) -> None:
        super().__init__()
        self.pipe = pipe
        for name in ('unet', 'vae', 'text_encoder'):
            self.add_module(name, getattr(pipe, name))
        self.config = config or MarigoldConfig()

    @property
    def is_metric(self) -> bool:
        return False

    def configure_sampling(self, *, steps: int | None = None, ensemble_size: int | None = None,
                           processing_resolution: int | None = None,
                           seed: int | None = None) -> MarigoldConfig:
        """Change the sampling settings (None: keep); returns the new config.

        Raises:
            InvalidInputError: a value the pipeline cannot run (the message names the flag).

        """
        cfg = replace(self.config, **{k: v for k, v in (
            ('steps', steps), ('ensemble_size', ensemble_size),
            ('processing_resolution', processing_resolution), ('seed', seed)) if v is not None})
        multiple = int(self.pipe.vae_scale_factor)
        if cfg.steps is not None and cfg.steps < 1:
            raise InvalidInputError(f'--steps must be >= 1, got {cfg.steps}')
        if cfg.ensemble_size < 1:
            raise InvalidInputError(f'--ensemble-size must be >= 1, got {cfg.ensemble_size}')
        res = cfg.processing_resolution
        if res is not None and (res < 0 or res % multiple):
            raise InvalidInputError(f'--processing-resolution must be 0 (the frame size) or a '
                                    f'positive multiple of {multiple}, got {res}')
        self.config = cfg
        return cfg

    def _check_defaults(self) -> None:
        """InvalidInputError when a setting left to the pipeline has no default there."""
        if self.config.steps is None and self.pipe.default_denoising_steps is None:
            raise InvalidInputError('this pipeline names no default number of steps: give '
                                    '--steps')
        if self.config.processing_resolution is None \
                and self.pipe.default_processing_resolution is None:
            raise InvalidInputError('this pipeline names no default processing resolution: '
                                    'give --processing-resolution')

    def call_kwargs(self, frames: int) -> dict[str, Any]:
        """Return the pipeline arguments of one call over ``frames`` frames (seeded noise)."""
        cfg = self.config
        generators = [torch.Generator().manual_seed(cfg.seed + e)
                      for _ in range(frames) for e in range(cfg.ensemble_size)]
        return {'num_inference_steps': cfg.steps, 'ensemble_size': cfg.ensemble_size,
                'processing_resolution': cfg.processing_resolution,
                'generator': generators, 'batch_size': 1}

    def forward(self, x: Tensor) -> Tensor:
        """Frames [B,3,H,W] (uint8, or float in [0, 1]) -> relative depth [B,H,W] in [0, 1].

        Larger = farther; the pipeline's own resizing, sampling, ensembling and resize back.
        """
        self._check_defaults()
        out = self.pipe(x, **self.call_kwargs(x.shape[0]), output_type='pt',
                        match_input_resolution=True)
        return out.prediction[:, 0]   # (B, H, W)

    def prepare(self, images: Sequence[np.ndarray]) -> Tensor:
        """HxWx3 uint8 RGB frames -> [B,3,H,W] uint8 (CPU): the pipeline scales them itself.

        The frame reaches the pipeline as a user's PIL image or array would, down to the memory
        layout (channels last, as its ``numpy_to_pt`` makes it): its ensembling's alignment
        (BFGS on finite differences, two iterations) turns last-bit differences of the
        predictions into visibly different results, so only identical input gives its output.
        """
        batch = np.stack([np.asarray(im, dtype=np.uint8) for im in images])  # (B, H, W, 3)
        return torch.from_numpy(batch).permute(0, 3, 1, 2)   # (B, 3, H, W), channels last

    def finish(self, pred: Tensor, size: Sequence[int],
               focal_px: Sequence[float | None] | None = None) -> Tensor:
        """Prediction [B,H,W] -> [B,H,W] float32 at the frame size (the pipeline's own)."""
        if tuple(pred.shape[-2:]) != tuple(int(s) for s in size):
            raise ValueError(f'the pipeline returned {tuple(pred.shape[-2:])}, not the frame '
                             f'size {tuple(size)}')
        return pred.float()

    def estimated_focal(self, width: int) -> None:
        """Marigold estimates no focal length."""
        return None


def tiny_pipeline(diffusers: ModuleType, *, lcm: bool = False) -> Any:
    """Build a small MarigoldDepthPipeline from the libraries' config classes (tests).

    U-Net and VAE of two blocks at widths 8/16 (the VAE halves the frame once), a two-layer
    CLIP text encoder of width 16 with a tokenizer of the special tokens only; DDIM (v1-1's
    scheduler kind) or LCM. Weights: the libraries' initialisation under the caller's RNG.
    """
    transformers = importlib.import_module('transformers')   # an optional extra, as diffusers
    unet = diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=8, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=16,
        down_block_types=('CrossAttnDownBlock2D', 'DownBlock2D'),
        up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D'), attention_head_dim=4)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, norm_num_groups=4, sample_size=32,
        down_block_types=('DownEncoderBlock2D',) * 2, up_block_types=('UpDecoderBlock2D',) * 2)
    text_encoder = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
        pad_token_id=1))
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1,
             **{c: i + 2 for i, c in enumerate('abcdefghijklmnopqrstuvwxyz')}}
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    kind = diffusers.LCMScheduler if lcm else diffusers.DDIMScheduler
    scheduler = kind(prediction_type='v_prediction', timestep_spacing='trailing',
                     beta_schedule='scaled_linear', clip_sample=False, set_alpha_to_one=False)
    return diffusers.MarigoldDepthPipeline(
        unet=unet, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
        prediction_type='depth', scale_invariant=True, shift_invariant=True,
        default_denoising_steps=1 if lcm else 2, default_processing_resolution=32)


def _wrap(pipe: Any) -> MarigoldDepthNet:
    for part in ('unet', 'vae', 'text_encoder'):
        getattr(pipe, part).float().eval()
    pipe.set_progress_bar_config(disable=True)   # per-frame bars would flood the logs
    return MarigoldDepthNet(pipe).eval()


def load_folder(folder: str | os.PathLike) -> MarigoldDepthNet:
    """Load a pipeline folder (``model_index.json`` + parts) with the library's own loader.

    Raises:
        CheckpointError: a part is missing or unreadable, or its weights do not fit its config.
        InvalidInputError: the library is not installed.

    """
    folder = Path(folder)
    diffusers = library()
    missing = [p for p in PARTS if not (folder / p).is_dir()]
    if missing:
        raise CheckpointError(f'{folder} is not a whole MarigoldDepthPipeline folder: no '
                              f'{", ".join(missing)} folder; copy everything save_pretrained '
                              'wrote (or download it again)')
    try:
        pipe = diffusers.MarigoldDepthPipeline.from_pretrained(
            folder, local_files_only=True, low_cpu_mem_usage=False)
    except ImportError as exc:
        raise InvalidInputError(f'{folder}: the library cannot run this pipeline here ({exc}); '
                                f'{EXTRA}') from exc
    except Exception as exc:  # noqa: BLE001 - the libraries and safetensors raise many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f'{folder} is not a readable MarigoldDepthPipeline folder: '
                              f'{first}') from exc
    net = _wrap(pipe)
    net.checkpoint_file = folder
    return net


class _Implementation:
    """The implementation module's functions (docs/architecture.md)."""

    def build_model(self, encoder: Any, head: str = 'relative',
                    max_depth: float | None = None, *,
                    device: torch.device | str | None = None) -> MarigoldDepthNet:
        raise InvalidInputError('a Marigold pipeline is loaded from its folder (download '
                                'marigold-depth-v1-1), not built')

    def untrained_model(self, encoder: str, head: str,
                        max_depth: float | None) -> MarigoldDepthNet:
        """Build a tiny pipeline with seeded random weights (deterministic; tests only)."""
        self._check(encoder, head, 'untrained:marigold')
        diffusers = library()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return _wrap(tiny_pipeline(diffusers))

    def load_state_dict(self, path: Any, sd: Any, meta: Any, **_: Any) -> nn.Module:
        raise CheckpointError(f'{path}: a Marigold checkpoint is a pipeline folder in the '
                              'diffusers format (model_index.json and the unet, vae, '
                              'scheduler, text_encoder and tokenizer folders); pass the folder')

    def load_folder(self, folder: str | os.PathLike, *, head: str | None = None,
                    **_: Any) -> MarigoldDepthNet:
        self._check(None, head, os.fspath(folder))
        return load_folder(folder)

    def config_from_dict(self, data: dict[str, Any]) -> MarigoldConfig:
        return MarigoldConfig(**data)

    def check_metadata(self, meta: Any) -> None:
        return None

    @staticmethod
    def _check(encoder: Any, head: str | None, where: str) -> None:
        if encoder not in (None, 'marigold'):
            raise InvalidInputError(f'the marigold family builds encoder marigold, not '
                                    f'{encoder!r}')
        if head == 'metric':
            raise CheckpointError(f'{where}: Marigold outputs affine-invariant relative depth '
                                  "only; use mode 'relative'")


IMPLEMENTATION = _Implementation()
