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

"""``depth-anything-ros bench soak``: soak / load test of the node (see ``offline.soak``).

    depth-anything-ros bench soak --duration 600 --rate 4 --bad-fraction 0.1
        --json out/soak.json --plot out/soak.png --param input_size=266 [--find-peak]

With ``--find-peak`` a peak-rate search runs first (short trials from ``--rate`` up and down,
then bisection); the soak then runs at the rate found (``--duration 0``: the search only).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
import sys
from typing import Any

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.offline.demo import DATA
from depth_anything_ros.offline.node_process import NodeProcess, ros_environment
from depth_anything_ros.offline.soak import (
    BAD_KINDS,
    environment,
    Player,
    plot,
    RSS_SLOPE_LIMIT_MB_PER_HOUR,
    search_peak,
    soak_arguments,
    Stream,
    summarize,
    SustainRule,
)

NAMESPACE = '/soak'
DEFAULT_CHECKPOINT = 'untrained:vits'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's flags."""
    parser.add_argument('--duration', type=float, required=True,
                        help='seconds of soak after warm-up (0 with --find-peak: search only)')
    parser.add_argument('--rate', type=float, required=True,
                        help='events per second (with --find-peak: where the search starts)')
    parser.add_argument('--bad-fraction', type=float, default=0.1,
                        help='share of events that carry a bad image or bad camera_info '
                             f'(kinds: {", ".join(BAD_KINDS)})')
    # --json is the documented name of the soak report; --out is accepted as everywhere else
    parser.add_argument('--json', '--out', dest='out', type=Path, required=True,
                        help='report file (JSON); --out is the same flag')
    parser.add_argument('--plot', type=Path, default=None,
                        help='PNG of latency, rates, RSS and CPU over time')
    parser.add_argument('--find-peak', action='store_true',
                        help='search the highest sustained rate first and soak at it')
    parser.add_argument('--trial', type=float, default=10.0,
                        help='seconds per peak-search trial (at least 40 frames)')
    parser.add_argument('--max-rate', type=float, default=60.0,
                        help='highest rate the peak search tries')
    parser.add_argument('--warmup', type=float, default=10.0,
                        help='seconds played before the measured part (counted in the '
                             'counters, not in latency, RSS slope and CPU)')
    parser.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT,
                        help='node checkpoint; untrained[:encoder] turns on '
                             f'allow_untrained_weights (default {DEFAULT_CHECKPOINT})')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='node parameter, repeatable (e.g. --param input_size=266)')
    parser.add_argument('--bag', type=Path, default=DATA,
                        help='rosbag2 (directory or .mcap) of CompressedImage + CameraInfo '
                             'to play in a loop (default: the bundled demo stream)')
    parser.add_argument('--timeout', type=float, default=180.0,
                        help='seconds to wait for the node to start')
    parser.add_argument('--strict', action='store_true',
                        help='exit 1 when an acceptance check fails')


def main(args: argparse.Namespace) -> int:
    """Run the soak (and the peak search); write the report; print the summary."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    check_arguments(args)
    ros_args = soak_arguments(NAMESPACE, args.checkpoint, args.param)
    stream = Stream.from_bag(args.bag)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.out.with_suffix('.node.log')
    print(f'bench soak: {len(stream.pairs)} frames from {args.bag} in a loop; node log '
          f'{log_path}', flush=True)
    with ros_environment():
        with NodeProcess(ros_args, log_path, 'soak_player', spin_period=0.005) as node:
            result = _run(args, node, stream)
        if result is None:
            return 1
        result['node_shutdown_exit_code'] = node.process.returncode
    result['environment'] = environment()
    args.out.write_text(json.dumps(result, indent=1) + '\n')
    print(format_summary(result))
    print(f'wrote {args.out}' + (f' and {args.plot}' if args.plot and 'sent' in result
                                  else ''))
    failed = [name for name, ok in result.get('checks', {}).items() if ok is False]
    return 1 if args.strict and failed else 0


def check_arguments(args: argparse.Namespace) -> None:
    """Raise InvalidInputError naming the first flag out of its range."""
    checks = ((args.rate > 0, '--rate must be > 0'),
              (args.duration >= 0, '--duration must be >= 0'),
              (0.0 <= args.bad_fraction <= 1.0, '--bad-fraction must be in [0, 1]'),
              (args.warmup >= 0, '--warmup must be >= 0'),
              (not args.find_peak or args.trial > 0, '--trial must be > 0'),
              (not args.find_peak or args.max_rate > 0, '--max-rate must be > 0'),
              (args.timeout > 0, '--timeout must be > 0'))
    for ok, problem in checks:
        if not ok:   # NaN fails every comparison, so it lands here too
            raise InvalidInputError(f'{problem}; see depth-anything-ros bench soak --help')


def _run(args: argparse.Namespace, node: NodeProcess, stream: Stream) -> dict[str, Any] | None:
    player = Player(node, stream, NAMESPACE)
    if not player.wait_ready(args.timeout):
        print(f'bench soak: the node did not start within {args.timeout:.0f} s; its log:\n'
              + node.log_path.read_text()[-4000:], file=sys.stderr)
        return None
    result: dict[str, Any] = {
        'what': 'depth node soak: player -> node process over DDS; latency = image stamp -> '
                'primary output received by the player',
        'checkpoint': args.checkpoint, 'params': args.param, 'bag': str(args.bag),
        'bad_fraction': args.bad_fraction, 'warmup_s': args.warmup,
        'duration_s': args.duration, 'rss_slope_limit_mb_per_hour': RSS_SLOPE_LIMIT_MB_PER_HOUR}
    rate = args.rate
    if args.find_peak:
        progress = _Progress()
        peak = search_peak(player, args.rate, args.trial, args.bad_fraction, SustainRule(),
                           args.max_rate, warmup=args.warmup, progress=progress)
        progress.close()
        result['peak'] = peak
        if peak['rate_hz'] is None:
            print('bench soak: ' + peak.get('error', 'no tried rate was sustained') +
                  '; see "peak" in the report and ' + str(node.log_path), file=sys.stderr)
            return result
        rate = peak['rate_hz']
    result['rate_hz'] = rate
    if args.duration > 0:
        progress = _Progress()
        rec = player.play(rate, args.duration, args.bad_fraction, args.warmup,
                          progress=progress)
        progress.close()
        result.update(summarize(rec))
        if args.plot:
            plot(rec, args.plot, _title(args, rate))
    return result


def _title(args: argparse.Namespace, rate: float) -> str:
    params = ', '.join(args.param) or 'node defaults'
    return (f'depth node soak: {args.checkpoint} ({params})\n{rate:.2f} Hz, '
            f'{100 * args.bad_fraction:.0f} % bad messages, {args.duration:.0f} s + '
            f'{args.warmup:.0f} s warm-up')


class _Progress:
    """A tqdm bar per phase (warm-up, soak) fed by the player's progress callback."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._phase = ''

    def __call__(self, phase: str, done: float, total: float) -> None:
        from tqdm import tqdm
        if phase != self._phase:
            if self._bar is not None:
                self._bar.close()
            self._bar = tqdm(total=round(total), desc=phase, unit='s', file=sys.stderr,
                             mininterval=5.0)
            self._phase = phase
        self._bar.update(max(0, round(done) - self._bar.n))

    def close(self) -> None:
        """Close the current bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _num(value: Any, spec: str = '.1f') -> str:
    return 'n/a' if value is None else format(value, spec)


def format_summary(r: dict[str, Any]) -> str:
    """Plain-text summary: latency percentiles, counters, memory/CPU and the checks."""
    lines = []
    if 'peak' in r:
        lines.append('peak search (sustained: >= '
                     f'{100 * r["peak"]["rule"]["min_delivered"]:.0f} % of valid frames '
                     'published, no latency growth)')
        lines.append(f'  {"rate Hz":>8} {"sustained":>9} {"delivered":>9} {"p50 ms":>8} '
                     f'{"p95 ms":>8} {"growth ms":>9}')
        for t in r['peak']['trials']:
            lines.append(f'  {t["rate_hz"]:8.2f} {str(t["sustained"]):>9} '
                         f'{_num(t["delivered"], ".3f"):>9} {_num(t["latency_p50_ms"]):>8} '
                         f'{_num(t["latency_p95_ms"]):>8} {_num(t["latency_growth_ms"]):>9}')
        lines.append(f'  peak: {_num(r["peak"]["rate_hz"], ".2f")} Hz')
        if 'error' in r['peak']:
            lines.append(f'  search stopped: {r["peak"]["error"]}')
    if 'sent' not in r:
        return '\n'.join(lines)
    lat = r['latency_ms']
    node = ', '.join(f'{k} {v}' for k, v in r.get('node_info', {}).items())
    lines += ['', f'soak at {r["rate_hz"]:.2f} Hz for {r["measured_s"]:.0f} s (after warm-up); '
              f'node: {node or "?"}',
              f'  {"measure":<34} {"median":>8} {"p90":>8} {"p95":>8} {"p99":>8} {"max":>8}',
              f'  {"stamp -> depth received (ms)":<34} {_num(lat["p50"]):>8} '
              f'{_num(lat["p90"]):>8} {_num(lat["p95"]):>8} {_num(lat["p99"]):>8} '
              f'{_num(lat["max"]):>8}']
    rss = r['rss_mb']
    rows = [('sent (valid + bad)', f'{r["sent"]} ({r["valid_sent"]} + {r["bad_sent"]})'),
            ('published (valid / from bad)',
             f'{r["published"]} ({r["published_valid"]} / {r["published_from_bad"]})'),
            ('bad reported by the node', _num(r['bad_reported'], 'd')),
            ('keep-newest drops', _num(r['frames_dropped'], 'd')),
            ('valid frames unaccounted', _num(r['valid_unaccounted'], 'd')),
            ('images lost in transport', _num(r['images_lost_in_transport'], 'd')),
            ('worker restarts', _num(r['worker_restarts'], 'd')),
            ('max output gap (s)', _num(r['max_output_gap_s'], '.2f')),
            ('output rate (Hz)', _num(r['output_rate_hz'], '.2f')),
            ('RSS start / end (MB)', f'{_num(rss["start"])} / {_num(rss["end"])}'),
            ('RSS slope (MB/h)', _num(rss['slope_mb_per_hour'])),
            ('node CPU mean / p90 (% of a core)',
             f'{_num(r["cpu_percent"])} / {_num(r["cpu_percent_p90"])}'),
            ('node: inference p50 / stamp->publish p50 (ms)',
             f'{_num(r["node_inference_p50_ms"])} / {_num(r["node_latency_p50_ms"])}'),
            ('player CPU mean (% of a core)', _num(r['player_cpu_percent'])),
            ('host load average (1 min) mean / max',
             f'{_num(r["host_loadavg_1min"]["mean"])} / {_num(r["host_loadavg_1min"]["max"])}')]
    lines += [f'  {name:<46} {value}' for name, value in rows]
    if r['node_exit_code'] is not None:
        lines.append(f'  THE NODE EXITED with code {r["node_exit_code"]} during the run')
    verdict = {True: 'pass', False: 'FAIL', None: 'n/a (not reported by the node)'}
    lines += ['  checks: ' + ', '.join(f'{k} {verdict[v]}' for k, v in r['checks'].items())]
    return '\n'.join(lines)
