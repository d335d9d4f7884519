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

r"""``depth-anything-ros process-bag``: the node's outputs for every frame of a rosbag2.

    depth-anything-ros process-bag recording/ --out recording_depth --checkpoint metric_indoor_vits
    depth-anything-ros process-bag run.mcap --out run_depth --checkpoint vits \
        --image-topic /cam/color/image_raw --outputs depth,colored --json

Writes a new bag holding every input message plus the node's outputs (``depth/image`` or
``disparity/image``, ``depth/camera_info``, ``depth/colored``, ``points``) under the image
topic's namespace, each with its image's header. Every frame is processed; a frame the node
would refuse is skipped and listed with its reason, and the command still succeeds. Output
options (depth encoding, strides, ranges, colormap, fixed intrinsics, ...) come from a node
parameters file (``--params-file``, e.g. config/depth.yaml); the model flags are infer's.

With ``alignment: sparse`` or ``lidar`` in the params file the anchors are read from the bag
(``anchor/depth`` + ``anchor/camera_info``, or ``anchor/points``, under the image topic's
namespace, or the ``--anchor-*-topic`` flags) and given to the node's aligner in recording
order, as the live node receives them; ``--anchor-lookahead`` lets each frame also pair with
anchors recorded after it (stamped within ``anchor_slop``), which only offline processing can do.

``--temporal fuse`` (or ``temporal: fuse`` in the params file) fuses each frame with the previous
ones as the node does, with the camera's motion from the bag's ``/tf`` and ``/tf_static`` (the
pose of the image's optical frame in ``odom_frame``), looked up by the node's TF rule.

``--compare NAME,...`` runs more models on the same frames: every model's outputs, the main
one's included, go under a namespace of its own name beside the camera's
(``/cam/color/vits/depth/image``, ``/cam/color/dpt_large/disparity/image``), for side-by-side
viewing in RViz or Foxglove.
"""

from __future__ import annotations

import argparse
from collections import Counter
import dataclasses
import json
from pathlib import Path
import sys
from typing import Any

from depth_anything_ros.commands.args import (
    add_engine_arguments,
    add_model_arguments,
    add_runtime_arguments,
    add_sampling_arguments,
    model_flags,
    ray_options_from_args,
)
from depth_anything_ros.core import stats
from depth_anything_ros.core.bags import STORAGES
from depth_anything_ros.errors import (
    InvalidInputError,
    MissingInputError,
    OutputExistsError,
    user_errors,
)
from depth_anything_ros.offline.bag_processing import OUTPUT_CHOICES, topic_flag
from depth_anything_ros.offline.ray_engine import is_uri, path_or_uri
from depth_anything_ros.ros.topics import ANCHORS, Topic
from depth_anything_ros.vocabulary import TEMPORAL_MODES

_SHOWN_REASONS = 10


def _outputs(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(',') if n.strip())
    unknown = [n for n in names if n not in OUTPUT_CHOICES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f'unknown output(s) {", ".join(unknown) or "(none)"}; use a comma list of '
            f'{", ".join(OUTPUT_CHOICES)}')
    return names


def _dest(topic: Topic) -> str:
    return topic.name.replace('/', '_') + '_topic'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's flags."""
    parser.add_argument('bag', type=path_or_uri, nargs='+',
                        help='input rosbag2: directory, .mcap or .db3 (several with --engine '
                             'ray, which also reads fsspec URIs: s3://, gs://, file://)')
    parser.add_argument('--out', type=path_or_uri, required=True,
                        help='output bag directory (must not exist); with --engine ray a '
                             'folder (or fsspec URI) that gets one output bag per input, named '
                             'as the input')
    parser.add_argument('--image-topic', default=None,
                        help='sensor_msgs/Image or CompressedImage topic (default: the only '
                             'image topic of the bag)')
    parser.add_argument('--camera-info-topic', default=None,
                        help='CameraInfo topic (default: camera_info beside the image topic, '
                             'if the bag has it)')
    for topic in ANCHORS:
        parser.add_argument(topic_flag(topic), default=None, dest=_dest(topic),
                            help=f'{topic.msgtype.rsplit("/", 1)[-1]} topic read for alignment '
                                 f'anchors (default: {topic.name} beside the image topic)')
    parser.add_argument('--anchor-lookahead', action='store_true',
                        help='pair each frame with anchors recorded after it too (stamped '
                             'within anchor_slop); default: only those recorded before it, as '
                             'the live node')
    parser.add_argument('--temporal', choices=TEMPORAL_MODES, default=None,
                        help="the node's temporal parameter (default: the params file's, else "
                             "none): fuse fuses frames with the camera's motion from the bag's "
                             '/tf (odom_frame from the params file); vda needs a Video Depth '
                             'Anything checkpoint')
    parser.add_argument('--outputs', type=_outputs, default=OUTPUT_CHOICES,
                        help=f'comma list of {", ".join(OUTPUT_CHOICES)} (default: all); depth '
                             'means depth/image (or disparity/image) and depth/camera_info')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='node parameters YAML for the output options (default: the '
                             "node's defaults); the flags below override its model settings")
    parser.add_argument('--storage', choices=STORAGES, default=None,
                        help="output storage (default: the input's)")
    add_model_arguments(parser)
    parser.add_argument('--compare', metavar='NAME,NAME,...',
                        help='more checkpoints (names, files or folders, comma-separated) run on '
                             'the same frames; each model writes under its own namespace '
                             '(<camera namespace>/<model name>/depth/image, ...), the main one '
                             'too')
    add_sampling_arguments(parser)
    add_runtime_arguments(parser, family_size=True)
    parser.add_argument('--json', action='store_true',
                        help='print the summary as JSON (on stdout) instead of text')
    add_engine_arguments(parser, batch_size=True)


def _config(args: argparse.Namespace, metric: bool, checkpoint: str | None = None) -> Any:
    """Return the node configuration: defaults, then the params file, then the model flags.

    ``checkpoint``: a compared model's (default: the main one's, from the flags).
    """
    from depth_anything_ros.params import load_params_file, validate
    values = load_params_file(args.params_file) if args.params_file else {}
    flags = model_flags(args)
    # the estimator was built (and checked against --encoder) from the same flags: the
    # canonical checkpoint names the architecture
    values.update(checkpoint=checkpoint or flags.checkpoint, encoder='auto',
                  mode='metric' if metric else 'relative',
                  allow_untrained_weights=flags.allow_untrained, device=args.device,
                  precision=args.precision, backend=args.backend, input_size=args.input_size or 0,
                  exact=args.exact, engine_cache_size=args.engine_cache_size)
    if args.temporal is not None:
        values['temporal'] = args.temporal
    if flags.weights_dir:
        values['weights_dir'] = flags.weights_dir
    if flags.model_max_depth:
        values['model_max_depth'] = float(flags.model_max_depth)
    if args.cache_dir:
        values['cache_dir'] = args.cache_dir
    return validate(values)


def _report(summary: Any, without_camera: int, temporal: dict[str, str]) -> str:
    lines = [f'{summary.frames} frames from {summary.image_topic} '
             f'(camera_info: {summary.camera_info_topic or "none"}) in {summary.seconds:.1f} s '
             f'({summary.fps:.2f} frames/s): {summary.processed} processed, '
             f'{len(summary.skipped)} skipped -> {summary.output} ({summary.storage})']
    for topic, count in sorted(summary.written.items()):
        lines.append(f'  {topic}: {count}')
    for reason, count in Counter(s.reason for s in summary.skipped).most_common(_SHOWN_REASONS):
        lines.append(f'  skipped {count}x: {reason}')
    for reason, count in Counter(summary.refused_camera_info).most_common(_SHOWN_REASONS):
        lines.append(f'  camera_info refused {count}x: {reason}')
    if summary.anchor_topics:
        lines.append(f'  {summary.anchors} anchors from ' + ', '.join(
            f'{bag} ({name})' for name, bag in summary.anchor_topics.items()))
    for reason, count in Counter(summary.refused_anchors).most_common(_SHOWN_REASONS):
        lines.append(f'  anchor refused {count}x: {reason}')
    if temporal:
        lines.append(f'  temporal {temporal[stats.TEMPORAL]}: '
                     f'{temporal[stats.TEMPORAL_FRAMES_FUSED]} of '
                     f'{temporal[stats.TEMPORAL_FRAMES]} frames fused (or continued); not: '
                     f'{temporal[stats.TEMPORAL_RESET_REASONS] or "none"}; '
                     f'{summary.transforms} TF transforms read')
    for reason, count in sorted(summary.refused_transforms.items()):
        lines.append(f'  TF refused {count}x: {reason}')
    if without_camera:
        lines.append(f'  {without_camera} frames had no intrinsics (no camera_info paired, '
                     'fx..cy unset): no depth/camera_info and no points for them')
    return '\n'.join(lines)


def make_bag_runner(args: argparse.Namespace) -> Any:
    """Build the model the flags name; return ``run(src, dst)`` -> the bag's summary (a dict).

    Each bag gets a stage of its own (pairing and alignment start afresh, as in one run of
    the command); the model is built once. Picklable by its arguments: a Ray model actor
    calls it.
    """
    from depth_anything_ros.commands.args import build_estimator_from_args
    from depth_anything_ros.offline.bag_processing import NodeStage, process_bag
    estimator = build_estimator_from_args(args)
    cfg = _config(args, estimator.is_metric)

    def run(src: Path, dst: Path) -> dict[str, Any]:
        stage = NodeStage(estimator, cfg, args.outputs, anchor_lookahead=args.anchor_lookahead)
        summary = process_bag(src, dst, stage, image_topic=args.image_topic,
                              camera_info_topic=args.camera_info_topic,
                              anchor_topics={t.name: getattr(args, _dest(t)) for t in ANCHORS},
                              storage=args.storage)
        return {**summary.as_dict(), 'frames_without_camera': stage.without_camera,
                'temporal': stage.temporal_status()}

    return run


def _compare_stage(args: argparse.Namespace) -> Any:
    """Build the main model and each of ``--compare``; return their :class:`CompareStage`.

    Every model gets the runtime flags and the params file; the sampling flags go to each
    model that samples (at least one must).
    """
    from depth_anything_ros.commands.args import build_estimator_from_args, SAMPLING
    from depth_anything_ros.estimator import apply_sampling
    from depth_anything_ros.offline.bag_processing import compare_names, CompareStage, NodeStage
    items = [c.strip() for c in str(args.compare).split(',')]
    if not all(items):
        raise InvalidInputError(f'--compare {args.compare!r}: give checkpoints separated by '
                                'commas, e.g. --compare vits,dpt-large')
    sampling = {k: getattr(args, k) for k in SAMPLING if getattr(args, k, None) is not None}
    plain = dict.fromkeys(SAMPLING)
    main = model_flags(args).checkpoint
    runs = [(main, argparse.Namespace(**{**vars(args), **plain}))]
    for checkpoint in items:   # a compared model: its own name, no --encoder/--mode check
        runs.append((checkpoint, argparse.Namespace(**{
            **vars(args), **plain, 'checkpoint': checkpoint, 'encoder': None, 'mode': None,
            'model_max_depth': None})))
    names = compare_names([c for c, _ in runs])
    stages, sampled = {}, False
    for name, (checkpoint, run_args) in zip(names, runs):
        estimator = build_estimator_from_args(run_args)
        sampled |= apply_sampling(estimator.model, sampling, checkpoint, required=False)
        cfg = _config(run_args, estimator.is_metric, checkpoint=model_flags(run_args).checkpoint)
        stages[name] = NodeStage(estimator, cfg, args.outputs,
                                 anchor_lookahead=args.anchor_lookahead)
    if sampling and not sampled:
        flags = ', '.join('--' + k.replace('_', '-') for k in sampling)
        raise InvalidInputError(f'{flags}: none of the models samples (only a diffusion '
                                'pipeline such as marigold-depth-v1-1 takes them)')
    return CompareStage(stages)


_NOT_SETTINGS = ('bag', 'out', 'json', 'engine', 'address', 'num_workers', 'gpus_per_worker',
                 'batch_size', 'func', 'command')


def _main_ray(args: argparse.Namespace) -> int:
    """Process every input bag on Ray (``--engine ray``); return the exit code."""
    import functools

    from depth_anything_ros.offline.ray_engine import MANIFEST, process_bags_ray
    options = ray_options_from_args(args)
    missing = [b for b in args.bag if not is_uri(b) and not b.exists()]
    if missing:   # before the model loads
        raise MissingInputError(f'input bag {missing[0]} does not exist; give rosbag2 '
                                'directories, .mcap or .db3 files')
    with user_errors(FileNotFoundError, ValueError):
        make_bag_runner(args)   # the flags are checked here, before the cluster is asked
    settings = {k: str(v) for k, v in sorted(vars(args).items()) if k not in _NOT_SETTINGS}
    res = process_bags_ray(args.bag, args.out, functools.partial(make_bag_runner, args),
                           options, settings)
    if args.json:
        print(json.dumps({'bags': res.summaries, 'skipped': res.skipped}, indent=2))
    else:
        for name, s in res.summaries.items():
            print(f'{name}: {s["frames"]} frames, {s["processed"]} processed, '
                  f'{len(s["skipped"])} skipped -> {args.out}/{name}')
        for name, reason in res.skipped.items():
            print(f'{name}: not processed: {reason}')
        print(f'{len(res.summaries)} of {len(args.bag)} bags written ({res.redone} now); '
              f'reasons in {args.out}/{MANIFEST}')
    failed = res.skipped or any(s['frames'] > 0 and s['processed'] == 0
                                for s in res.summaries.values())
    return 1 if failed else 0


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code.

    0 when the bag was written, even with skipped frames; 1 when no frame could be processed
    (``--engine ray``: a bag could not be processed, or none of its frames); 2 for a problem
    found before any frame (flags, files, topics).
    """
    from tqdm import tqdm

    from depth_anything_ros.commands.args import build_estimator_from_args
    from depth_anything_ros.offline.bag_processing import NodeStage, process_bag

    if args.engine == 'ray':
        if args.compare:
            raise InvalidInputError('--compare runs every model in one process; leave out '
                                    '--engine ray')
        return _main_ray(args)
    uris = [u for u in (*args.bag, args.out) if is_uri(u)]
    if uris:
        raise InvalidInputError(f'{uris[0]}: URIs are read and written with --engine ray; '
                                'add it, or copy the bag to a local folder')
    if len(args.bag) > 1:
        raise InvalidInputError(f'{len(args.bag)} input bags: one at a time, or all of them '
                                'with --engine ray (one output bag each under --out)')
    args.bag = args.bag[0]
    if args.out.exists():
        raise OutputExistsError(f'{args.out} exists; remove it or choose another --out')
    if not args.bag.exists():   # before the model loads
        raise MissingInputError(f'input bag {args.bag} does not exist; give a rosbag2 '
                                'directory, .mcap or .db3')
    with user_errors(FileNotFoundError, ValueError):
        if args.compare:
            stage = _compare_stage(args)
        else:
            estimator = build_estimator_from_args(args)
            cfg = _config(args, estimator.is_metric)
            stage = NodeStage(estimator, cfg, args.outputs,
                              anchor_lookahead=args.anchor_lookahead)
    with tqdm(desc='process-bag', unit='frame', file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        with user_errors(FileNotFoundError, FileExistsError, ValueError):
            summary = process_bag(args.bag, args.out, stage, image_topic=args.image_topic,
                                  camera_info_topic=args.camera_info_topic,
                                  anchor_topics={t.name: getattr(args, _dest(t))
                                                 for t in ANCHORS},
                                  storage=args.storage, progress=progress)
    failed = summary.frames > 0 and summary.processed == 0
    if args.json:
        doc = {**summary.as_dict(), 'frames_without_camera': stage.without_camera,
               'temporal': stage.temporal_status(), 'outputs': list(args.outputs)}
        if args.compare:
            doc['models'] = {name: {'checkpoint': s.stage.cfg.checkpoint,
                                    'wanted': dataclasses.asdict(s.wanted)}
                             for name, s in stage.stages.items()}
        else:
            doc['wanted'] = dataclasses.asdict(stage.wanted)
        print(json.dumps(doc, indent=2))
    else:
        print(_report(summary, stage.without_camera, stage.temporal_status()))
    if failed:
        print(f'error: none of the {summary.frames} frames could be processed (reasons above)',
              file=sys.stderr)
    return 1 if failed else 0
