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

"""The flags several commands share, defined once: model, runtime, training run.

Also the deprecation helper for renamed flags. Imports nothing heavy: commands register these
flags before torch is loaded, so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
import logging
import sys
from typing import Any, TYPE_CHECKING

from depth_anything_ros.errors import InvalidInputError

if TYPE_CHECKING:
    from torch import nn


class _Renamed(argparse.Action):
    """Store the value like argparse's default action; an old name also prints a one-line note."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if option_string is not None and option_string != self.new:
            print(f'{parser.prog}: {option_string} is deprecated; use {self.new}',
                  file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed_argument(parser: argparse.ArgumentParser | Any, new: str, *old: str,
                         **kwargs: Any) -> argparse.Action:
    """Register flag ``new`` that still accepts its ``old`` names, with a deprecation note.

    ``kwargs`` are those of ``add_argument`` for a storing flag (type, choices, nargs, ...);
    the value lands in ``new``'s dest.
    """
    if kwargs.get('help') not in (None, argparse.SUPPRESS):
        kwargs['help'] += f' ({", ".join(old)}: deprecated name)'
    return parser.add_argument(new, *old, action=_Renamed, new=new, **kwargs)


@dataclass(frozen=True)
class ModelFlags:
    """The model flags of a command, parsed: what :func:`model_flags` returns.

    ``checkpoint`` is canonical: ``untrained`` with ``--encoder E`` (or alone) is
    ``untrained:E`` (the first family's first encoder when none is named).
    """

    checkpoint: str
    encoder: str | None = None
    mode: str | None = None
    model_max_depth: float | None = None
    weights_dir: str | None = None
    allow_untrained: bool = False
    #: a diffusion pipeline's settings (:func:`add_sampling_arguments`); None: its defaults
    sampling: tuple[tuple[str, int | None], ...] = ()

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of estimator.load_checked_model / DepthEstimator.from_config."""
        return {'encoder': self.encoder, 'mode': self.mode,
                'model_max_depth': self.model_max_depth, 'weights_dir': self.weights_dir,
                'allow_untrained': self.allow_untrained,
                'sampling': dict(self.sampling) or None}


def add_model_arguments(parser: argparse.ArgumentParser, *, flag: str = '--checkpoint',
                        old_flags: tuple[str, ...] = (), required: bool = True,
                        default: str | None = None, help: str | None = None,
                        head: bool = True, max_depth_alias: bool = True) -> None:
    """Register the model flags every command shares, with one meaning everywhere.

    ``flag`` (``--checkpoint``; ``--teacher`` for pseudo-label, ``old_flags`` its deprecated
    names), ``--encoder``, ``--mode`` and ``--model-max-depth`` (``head=False``: a command whose
    ``--mode`` means something else keeps its old flag; ``max_depth_alias=False``: one whose
    ``--max-depth`` means something else), ``--weights-dir`` and ``--allow-untrained``. Read
    them with :func:`model_flags`.
    """
    kwargs: dict[str, Any] = {'required': required, 'default': default, 'dest': 'checkpoint',
                              'help': help or 'checkpoint file or published name (vits, '
                              'metric_indoor_vits, ...; "depth-anything-ros download --list"); '
                              '"untrained" or "untrained:ENC" = deterministic test weights '
                              '(needs --allow-untrained)'}
    if old_flags:
        add_renamed_argument(parser, flag, *old_flags, **kwargs)
    else:
        parser.add_argument(flag, **kwargs)
    parser.add_argument('--encoder', default=None,
                        help='architecture: ' + ', '.join(_encoders()) + '; auto or left out: '
                             'what the checkpoint holds (with "untrained": the one to build)')
    if head:
        from depth_anything_ros.params import spec
        add_renamed_argument(parser, '--mode', '--head', choices=spec('mode').choices,
                             default=None, help='metric (metres) or relative (disparity): a '
                             'check against the checkpoint (with "untrained": the head to '
                             'build); default: what the checkpoint says')
        add_renamed_argument(parser, '--model-max-depth',
                             *(('--max-depth',) if max_depth_alias else ()), type=float,
                             default=None, help="metric models: the head's ceiling in metres, "
                             "as the node's model_max_depth (default: from the checkpoint)")
    add_weights_dir_argument(parser)
    add_allow_untrained_argument(parser)


#: The flags of :func:`add_sampling_arguments`, by setting name.
SAMPLING = ('steps', 'ensemble_size', 'processing_resolution')


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f'expected a whole number >= {minimum}, got '
                                             f'{text!r}')
        return value
    return parse


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the settings of a diffusion model (Marigold): steps, ensemble, resolution."""
    parser.add_argument('--steps', type=_count(1), default=None,
                        help="diffusion models: denoising steps (default: the model's own)")
    parser.add_argument('--ensemble-size', type=_count(1), default=None,
                        help='diffusion models: predictions per frame, aligned and combined '
                             '(median) by the pipeline; more is steadier and slower (default 1)')
    parser.add_argument('--processing-resolution', type=_count(0), default=None,
                        metavar='PIXELS',
                        help="diffusion models: the longest side they work at (0: the frame's "
                             "own; default: the model's own, 768 for Marigold)")


def _encoders() -> list[str]:
    """Every encoder name a family builds (published sizes and extra configurations)."""
    from depth_anything_ros.models.registry import encoder_choices
    return list(encoder_choices(extra=True))


def model_flags(args: argparse.Namespace) -> ModelFlags:
    """Return the model flags of :func:`add_model_arguments`, checked and made canonical.

    Raises:
        InvalidInputError: (a ValueError) an unknown encoder, or an encoder that contradicts
            ``untrained:ENC``.

    """
    from depth_anything_ros.models.registry import families, split_untrained
    from depth_anything_ros.vocabulary import AUTO
    checkpoint = str(args.checkpoint)
    encoder = getattr(args, 'encoder', None)
    encoder = None if encoder in (None, '', AUTO) else encoder
    if encoder is not None and encoder not in _encoders():
        raise InvalidInputError(f'--encoder {encoder} is not a known architecture; use one of '
                                f'{", ".join(_encoders())} or auto')
    untrained, named = split_untrained(checkpoint)
    if untrained:
        if named and encoder and named != encoder:
            raise InvalidInputError(f'--checkpoint {checkpoint} builds {named} but --encoder '
                                    f'is {encoder}; give one of them')
        named = named or encoder or families()[0].encoders[0]
        checkpoint, encoder = f'untrained:{named}', named
    max_depth = getattr(args, 'model_max_depth', None)
    sampling = tuple((k, getattr(args, k)) for k in SAMPLING
                     if getattr(args, k, None) is not None)
    return ModelFlags(checkpoint=checkpoint, encoder=encoder, mode=getattr(args, 'mode', None),
                      model_max_depth=max_depth or None,
                      weights_dir=getattr(args, 'weights_dir', None) or None,
                      allow_untrained=bool(getattr(args, 'allow_untrained', False)),
                      sampling=sampling)


def _described(name: str) -> str:
    """Help text of a flag from the node parameter of the same concept."""
    from depth_anything_ros.params import spec
    return spec(name).description.replace('%', '%%')   # argparse formats help with %


def add_weights_dir_argument(parser: argparse.ArgumentParser, default: str | None = None
                             ) -> None:
    """Register ``--weights-dir`` (the node's ``weights_dir``)."""
    parser.add_argument('--weights-dir', default=default, help=_described('weights_dir'))


def add_allow_untrained_argument(parser: argparse.ArgumentParser) -> None:
    """Register ``--allow-untrained`` (the node's ``allow_untrained_weights``)."""
    parser.add_argument('--allow-untrained', action='store_true',
                        help='accept "untrained[:ENC]": deterministic weights, meaningless '
                             'depth, for pipeline tests only')


def add_device_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """Register ``--device`` (the node's ``device``; default: the schema's, auto)."""
    from depth_anything_ros.params import spec
    parser.add_argument('--device', default=spec('device').default if default is None
                        else default, help=_described('device'))


def load_model_from_args(args: argparse.Namespace) -> nn.Module:
    """Load the model the flags of :func:`add_model_arguments` name (a torch checkpoint)."""
    from depth_anything_ros.estimator import load_checked_model
    flags = model_flags(args)
    model = load_checked_model(flags.checkpoint, **flags.load_kwargs())
    if isinstance(model, str):
        raise InvalidInputError(f'{model} is an exported model; give the torch checkpoint it '
                                'was exported from')
    return model


def add_runtime_arguments(parser: argparse.ArgumentParser, *,
                          input_size: int | None = None, family_size: bool = False) -> None:
    """Register the runtime flags: device, backend, precision, input size, exact, caches.

    Choices and defaults come from the node's parameter schema (backend and precision
    ``auto``), so a concept has one name and one set of values on the command line, in
    parameters and in launch arguments. ``input_size`` overrides the schema's default;
    ``family_size``: no default, the model family's own input size applies (its input policy).
    """
    from depth_anything_ros.params import spec
    add_device_argument(parser)
    parser.add_argument('--precision', default=spec('precision').default,
                        choices=spec('precision').choices, help=_described('precision'))
    parser.add_argument('--backend', default=spec('backend').default,
                        choices=spec('backend').choices,
                        help=_described('backend') + '; with an exported model file as '
                        '--checkpoint (see "depth-anything-ros export") the runtimes that load '
                        'it')
    # the node's 0 (the model family's size) is the family_size flag here; commands without it
    # keep the short side of Depth Anything V2
    size = (spec('input_size').default or 518) if input_size is None else input_size
    if family_size:
        parser.add_argument('--input-size', type=int, default=None,
                            help='network input size in pixels, multiple of 14 (default: the '
                                 f"model family's: {_family_sizes()})")
    else:
        parser.add_argument('--input-size', type=int, default=size,
                            help=f'network short side, multiple of 14 (default {size})')
    parser.add_argument('--exact', action='store_true', help=_described('exact'))
    parser.add_argument('--cache-dir', default=spec('cache_dir').default or None,
                        help=_described('cache_dir'))
    parser.add_argument('--engine-cache-size', type=int, default=spec('engine_cache_size').default,
                        help=_described('engine_cache_size'))
    add_trt_profile_arguments(parser)


def _family_sizes() -> str:
    """Each family's default input size, in words (its input policy)."""
    from depth_anything_ros.models.registry import families
    return '; '.join(f'{f.input.default_size} '
                     f'{"longest" if f.input.aspect == "longest" else "short"} side for {f.title}'
                     for f in families())


def positive_pixels(text: str) -> float:
    """Argparse type of a focal length: a finite number of pixels > 0."""
    import math
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f'expected a focal length in pixels > 0, got {text!r}')
    return value


def add_intrinsics_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``--fx`` and ``--fy``: the focal length a metric model may need for metres."""
    parser.add_argument('--fx', type=positive_pixels, default=None, metavar='PIXELS',
                        help='focal length in pixels of the input images, for a model that '
                             'gives metres only with it (see "download --list"); --fy '
                             'defaults to it')
    parser.add_argument('--fy', type=positive_pixels, default=None, metavar='PIXELS',
                        help='vertical focal length in pixels (default: --fx)')


def intrinsics_from_args(args: argparse.Namespace) -> tuple[float, float] | None:
    """(fx, fy) from ``--fx``/``--fy`` (None: not given).

    Raises:
        InvalidInputError: ``--fy`` without ``--fx``.

    """
    fx, fy = getattr(args, 'fx', None), getattr(args, 'fy', None)
    if fx is None and fy is not None:
        raise InvalidInputError('--fy needs --fx (the horizontal focal length) too')
    return None if fx is None else (fx, fy if fy is not None else fx)


def add_trt_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """Register --trt-max-batch, --trt-opt-shape, --trt-max-shape (the node's trt_* parameters).

    The TensorRT optimisation profile of backend tensorrt and onnxruntime's TensorRT provider.
    """
    from depth_anything_ros.params import spec
    parser.add_argument('--trt-max-batch', type=int, default=spec('trt_max_batch').default,
                        help=_described('trt_max_batch'))
    parser.add_argument('--trt-opt-shape', default=spec('trt_opt_shape').default,
                        metavar='HxW', help=_described('trt_opt_shape'))
    parser.add_argument('--trt-max-shape', default=spec('trt_max_shape').default,
                        metavar='HxW', help=_described('trt_max_shape'))


def trt_profile_from_args(args: argparse.Namespace) -> tuple:
    """Return the profile the flags of :func:`add_trt_profile_arguments` name.

    Raises:
        ValueError: a malformed shape or an inconsistent profile (one line naming the flag).

    """
    from depth_anything_ros.vocabulary import trt_profile
    return trt_profile(args.trt_max_batch, args.trt_opt_shape, args.trt_max_shape)


def build_estimator_from_args(args: argparse.Namespace) -> Any:
    """Return the DepthEstimator the checkpoint and runtime flags name (see from_config).

    The runtime flags are checked by the node's rules: the parameter schema (ranges, choices)
    and, for backend, precision and exact, the one selection rule the estimator applies.

    Raises:
        FileNotFoundError: the checkpoint is missing.
        ValueError: flags that do not fit the checkpoint or the device.

    """
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.params import validate
    # (--input-size is checked by the estimator, which also takes the small sizes tests use)
    runtime = {'device': args.device, 'precision': args.precision, 'backend': args.backend,
               'exact': args.exact, 'engine_cache_size': args.engine_cache_size}
    try:
        validate(runtime)
    except ValueError as exc:   # the node's message, in flag names
        problems = str(exc).splitlines()[1:]
        raise ValueError('; '.join(_flag_words(p.strip(), runtime) for p in problems)) from None
    flags = model_flags(args)
    return DepthEstimator.from_config(
        flags.checkpoint, **flags.load_kwargs(), device=args.device, precision=args.precision,
        backend=args.backend, input_size=args.input_size, exact=args.exact,
        cache_dir=args.cache_dir, engine_cache_size=args.engine_cache_size,
        trt_profile=trt_profile_from_args(args))


def _flag_words(problem: str, names: Any) -> str:
    """Return ``problem`` with the parameter names spelled as flags (``--input-size``)."""
    for name in names:
        problem = problem.replace(name, '--' + name.replace('_', '-'))
    return problem


def add_config_argument(parser: argparse.ArgumentParser, presets: str) -> None:
    """Register ``--config``: one of ``presets`` (e.g. ``'debug, indoor'``) or a YAML file."""
    parser.add_argument('--config', default=None,
                        help=f'preset ({presets}) or a YAML file; on --resume the '
                             "run's own config.yaml is used")


def add_run_arguments(parser: argparse.ArgumentParser, overrides_example: str) -> None:
    """Register ``--out``, ``--resume``, ``--stop-at``, ``--no-progress`` and the overrides."""
    parser.add_argument('--out', required=True, help='run folder')
    parser.add_argument('--resume', action='store_true', help='continue RUN/last.pt exactly')
    parser.add_argument('--stop-at', type=int, default=None,
                        help='save and exit after this many steps (continue with --resume)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    parser.add_argument('overrides', nargs='*', metavar='key=value',
                        help=f'config overrides, e.g. {overrides_example}')


def run_config(cls: type, args: argparse.Namespace, presets: str,
               extra_overrides: list[str] = ()) -> Any:
    """Return the run config the flags of :func:`add_run_arguments` name (see loop.py).

    ``extra_overrides``: ``key=value`` strings that the command's own flags stand for.
    """
    from depth_anything_ros.training.loop import resolve_run_config
    return resolve_run_config(cls, config=args.config, out=args.out, resume=args.resume,
                              overrides=[*args.overrides, *extra_overrides], presets=presets)


def run_training(loop: Callable[..., dict[str, Any]], cfg_of: Callable[[argparse.Namespace], Any],
                 args: argparse.Namespace) -> tuple[Any, dict[str, Any], bool]:
    """Set up logging, resolve the config and run ``loop(cfg, args.out, ...)``.

    Returns ``(config, loop's summary, whether this is the main process)``; the process group
    (torchrun) is left whatever happens.
    """
    from depth_anything_ros.training import distributed as dist_utils
    # under torchrun only rank 0 reports progress; the others log warnings and errors
    main_proc = dist_utils.env_dist_info().is_main
    logging.basicConfig(level=logging.INFO if main_proc else logging.WARNING,
                        format='%(asctime)s %(message)s', datefmt='%H:%M:%S')
    cfg = cfg_of(args)
    try:
        summary = loop(cfg, args.out, resume=args.resume, stop_at=args.stop_at,
                       progress=not args.no_progress)
    finally:
        dist_utils.cleanup()
    return cfg, summary, main_proc


def add_engine_arguments(parser: argparse.ArgumentParser, *, batch_size: bool = False) -> None:
    """Register ``--engine`` and the flags of a run on a Ray cluster (ignored without it).

    Without ``--engine`` the command runs in this process as always and Ray is never imported.
    ``batch_size``: also ``--batch-size``, for a command that has none of its own.
    """
    if batch_size:
        parser.add_argument('--batch-size', type=int, default=1,
                            help='--engine ray: inputs a model actor takes at a time (a shard '
                                 'is 4 of these); this process takes one at a time')
    parser.add_argument('--engine', choices=('ray',), default=None,
                        help='ray: run on a Ray cluster (Ray Data: decode on CPU workers, one '
                             'model per actor), resumable through a manifest in the output; '
                             'default: this process')
    parser.add_argument('--address', default=None,
                        help='--engine ray: the cluster (e.g. auto, HOST:6379, '
                             'ray://HOST:10001); default: start a local Ray')
    parser.add_argument('--num-workers', type=int, default=1,
                        help='--engine ray: model actors (one model each)')
    parser.add_argument('--gpus-per-worker', type=float, default=0.0,
                        help='--engine ray: GPUs per model actor (0: CPU actors)')


def ray_options_from_args(args: argparse.Namespace) -> Any:
    """Return the RayOptions the flags of :func:`add_engine_arguments` (and --batch-size) name.

    Raises:
        InvalidInputError: a value out of range, or Ray is not installed (before any model
            loads).

    """
    from depth_anything_ros.offline.ray_engine import import_ray, RayOptions
    options = RayOptions(address=args.address, num_workers=args.num_workers,
                         gpus_per_worker=args.gpus_per_worker,
                         batch_size=getattr(args, 'batch_size', 1))
    import_ray()
    return options
