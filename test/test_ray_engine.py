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

"""``--engine ray``: the manifest, and runs on a local Ray that are stopped, resumed and compared.

The runs on Ray are marked slow: one local Ray (2 CPUs, no dashboard, its own temporary folder)
serves the module; each command runs as its own driver process, as a user starts it, so that
the test can stop it with SIGTERM half-way.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import pytest
from test_sources import write_image_bag

from depth_anything_ros.errors import OutputExistsError
from depth_anything_ros.offline.ray_engine import (
    actor_resources,
    MANIFEST,
    Manifest,
    RayOptions,
    shard_plan,
)

REPO = Path(__file__).resolve().parents[1]
# the smallest real teacher: deterministic ViT-S weights at a small input
TEACHER = ['--teacher', 'untrained:vits', '--allow-untrained', '--input-size', '28',
           '--device', 'cpu', '--no-progress']


def _run_cli(argv: list[str], *, block_ray: bool = False, **kwargs: object
             ) -> subprocess.CompletedProcess:
    """Run the command line in a fresh Python (optionally with ``import ray`` made to fail)."""
    code = ('import sys\n' + ("sys.modules['ray'] = None\n" if block_ray else '') +
            'from depth_anything_ros.commands import cli\n'
            'code = cli.main(sys.argv[1:])\n'
            "assert not block or 'ray' not in {m.split('.')[0] for m in sys.modules if "
            "sys.modules[m] is not None}, 'ray was imported'\n"
            'sys.exit(code)\n').replace('block', str(block_ray))
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, '-c', code, *argv], capture_output=True, text=True,
                          env=env, timeout=300, **kwargs)


def _scenes(n: int, h: int = 24, w: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [cv2.resize(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (w, h),
                       interpolation=cv2.INTER_LINEAR) for _ in range(n)]


def _folder(path: Path, images: list[np.ndarray]) -> Path:
    path.mkdir(parents=True)
    for i, img in enumerate(images):
        cv2.imwrite(str(path / f'{i:03d}.png'), img)
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob('*')) if p.is_file() and p.name != MANIFEST}


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST).read_text().splitlines()]


# ---------------------------------------------------------------------------------------------
# without Ray


def test_shards_are_consecutive_runs_of_inputs() -> None:
    assert shard_plan(list('abcdefg'), 3) == [['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]
    assert shard_plan([], 3) == []


def test_cpu_actors_leave_room_for_decoding_and_writing() -> None:
    # 2 actors on 2 CPUs once waited forever: nothing was left for the decode tasks
    assert actor_resources(RayOptions(num_workers=2), 2.0) == {'num_cpus': 0.5}
    assert actor_resources(RayOptions(num_workers=1), 2.0) == {'num_cpus': 1.0}
    assert actor_resources(RayOptions(num_workers=8, gpus_per_worker=1), 2.0) == {'num_gpus': 1}
    with pytest.raises(ValueError, match='do not fit on 1 CPUs'):
        actor_resources(RayOptions(num_workers=1), 1.0)


def test_manifest_keeps_a_plan_and_its_finished_shards(tmp_path: Path) -> None:
    with Manifest(tmp_path / MANIFEST) as m:
        assert m.pending is None
        plan = m.new_plan({'batch_size': 1}, [['a'], ['b'], ['c']], {'seen': 3})
        m.shard_done(plan, 1, ['b'], {})
        with pytest.raises(OutputExistsError, match='another run is writing'):
            Manifest(tmp_path / MANIFEST)   # a second run on the same output is refused
    # a line torn by a stopped run is skipped, and the next line starts on a fresh line
    with (tmp_path / MANIFEST).open('a') as f:
        f.write('{"event": "shard", "run": 1, "sha')
    with Manifest(tmp_path / MANIFEST) as m:
        plan = m.pending
        assert plan is not None and plan.todo == [0, 2]
        m.shard_done(plan, 0, ['a'], {})
        m.shard_done(plan, 2, [], {'c': 'cannot decode image'})
        m.complete(plan, written=2, skipped=1)
    with Manifest(tmp_path / MANIFEST) as m:
        assert m.pending is None and m.plans[-1].done[2]['skipped'] == {'c': 'cannot decode '
                                                                        'image'}


def test_without_engine_ray_is_never_imported(tmp_path: Path) -> None:
    src = _folder(tmp_path / 'imgs', _scenes(2))
    res = _run_cli(['pseudo-label', *TEACHER, '--inputs', str(src), '--out',
                    str(tmp_path / 'labels')], block_ray=True)
    assert res.returncode == 0, res.stderr
    assert len((tmp_path / 'labels' / 'index.jsonl').read_text().splitlines()) == 2
    # asked for, an absent Ray is one line naming the install, exit 2
    res = _run_cli(['pseudo-label', *TEACHER, '--inputs', str(src), '--out',
                    str(tmp_path / 'ray'), '--engine', 'ray'], block_ray=True)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].endswith('(or the "ray" extra of '
                                                        'depth_anything_ros)')
    assert 'Traceback' not in res.stderr


def test_process_bag_takes_several_bags_only_with_the_engine(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.commands import cli
    rc = cli.main(['process-bag', str(tmp_path / 'a'), str(tmp_path / 'b'), '--out',
                   str(tmp_path / 'o'), '--checkpoint', 'untrained:tiny', '--allow-untrained'])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].endswith('2 input bags: one at a time, or all of them with '
                                        '--engine ray (one output bag each under --out)')


# ---------------------------------------------------------------------------------------------
# fsspec URIs, with fsspec's own local (file://) and in-memory (memory://) filesystems; a cloud
# bucket (s3://, gs://) cannot be reached from the test machine. memory:// lives in one
# process, so it serves the tests that run no Ray worker; the runs on Ray use file://.


@pytest.fixture
def memory_fs() -> Iterator[object]:
    fsspec = pytest.importorskip('fsspec')
    fs = fsspec.filesystem('memory')
    if fs.exists('/t'):
        fs.rm('/t', recursive=True)
    yield fs
    if fs.exists('/t'):
        fs.rm('/t', recursive=True)


def test_uri_inputs_and_outputs_on_fsspec_memory(tmp_path: Path, memory_fs: object) -> None:
    from depth_anything_ros.offline.ray_engine import (
        bag_output_name,
        is_uri,
        local_copy,
        path_or_uri,
        staged_output,
        upload,
        uri_folder_frames,
        uri_source_kind,
    )
    fs = memory_fs
    assert is_uri('s3://bucket/a') and is_uri('file:///x') and not is_uri('/x/y')
    assert path_or_uri('gs://b/rec.mcap') == 'gs://b/rec.mcap'   # not folded to gs:/b
    assert path_or_uri('rec.mcap') == Path('rec.mcap')
    assert bag_output_name('s3://b/fleet/rec7.mcap') == 'rec7'
    assert bag_output_name('s3://b/fleet/rec8/') == 'rec8'
    # a folder of images at a URI: the keys and images of the same folder on disk
    images = _scenes(3)
    local = _folder(tmp_path / 'imgs', images)
    (local / 'sub').mkdir()
    cv2.imwrite(str(local / 'sub' / '000.png'), images[0])
    upload(local, 'memory://t/imgs')
    assert uri_source_kind('memory://t/imgs') == 'folder'
    from depth_anything_ros.training.sources import image_folder_frames
    want = list(image_folder_frames(local))
    got = list(uri_folder_frames('memory://t/imgs'))
    assert [f.key for f in got] == [f.key for f in want] == ['000.png', '001.png', '002.png',
                                                             'sub/000.png']
    for a, b in zip(got, want):
        assert np.array_equal(a.load(), b.load())
    # a bag at a URI: fetched whole, byte for byte, for the libraries that need a local file
    bag = write_image_bag(tmp_path / 'bag', images)
    upload(bag, 'memory://t/bags/rec')
    assert uri_source_kind('memory://t/bags/rec') == 'bag'
    with local_copy('memory://t/bags/rec') as copy:
        assert _files(copy) == _files(bag)
    # an output at a URI: its manifest is fetched to resume, and pushed back
    fs.pipe_file('/t/out/' + MANIFEST, b'{"event":"plan"}\n')
    with staged_output('memory://t/out', [MANIFEST, 'index.jsonl']) as (stage, push):
        assert sorted(p.name for p in stage.iterdir()) == [MANIFEST]
        (stage / 'index.jsonl').write_text('{}\n')
        push('index.jsonl')
    assert fs.cat_file('/t/out/index.jsonl') == b'{}\n'
    # uploading a folder again replaces it whole (a bag redone after a stopped run)
    (tmp_path / 'two').mkdir()
    (tmp_path / 'two' / 'b.txt').write_text('b')
    upload(tmp_path / 'two', 'memory://t/imgs')
    assert fs.find('/t/imgs') == ['/t/imgs/b.txt']


def test_uri_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.commands import cli
    from depth_anything_ros.offline.ray_engine import url_to_fs
    with pytest.raises(ValueError, match='fsspec cannot open it here .*Protocol not known'):
        url_to_fs('nosuchfs://bucket/rec.mcap')
    try:
        import s3fs  # noqa: F401
    except ImportError:   # the usual case: a cloud protocol whose package is not installed
        with pytest.raises(ValueError, match=r'install the package of that protocol \(s3fs'):
            url_to_fs('s3://bucket/rec.mcap')
    from depth_anything_ros.errors import MissingInputError
    from depth_anything_ros.offline.ray_engine import uri_source_kind
    with pytest.raises(MissingInputError, match='memory://x/y does not exist'):
        uri_source_kind('memory://x/y')
    monkeypatch.setitem(sys.modules, 'fsspec', None)   # fsspec not installed
    with pytest.raises(ValueError, match=r'URIs need fsspec: pip install -r requirements/ray'):
        url_to_fs('file:///tmp/rec.mcap')
    monkeypatch.undo()
    # without --engine ray, a URI is refused before any model loads
    rc = cli.main(['process-bag', 's3://bucket/rec.mcap', '--out', str(tmp_path / 'o'),
                   '--checkpoint', 'untrained:tiny', '--allow-untrained'])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].endswith(
        's3://bucket/rec.mcap: URIs are read and written with --engine ray; add it, or copy '
        'the bag to a local folder')
    rc = cli.main(['pseudo-label', *TEACHER, '--inputs', str(tmp_path), '--out',
                   'gs://bucket/labels'])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].endswith('gs://bucket/labels: URIs are read and written with '
                                        '--engine ray; add it, or copy the data to a local '
                                        'folder')


# ---------------------------------------------------------------------------------------------
# on a local Ray


@pytest.fixture(scope='module')
def ray_address() -> Iterator[str]:
    """Start a local Ray for the module: 2 CPUs, no dashboard, a temporary folder of its own."""
    ray = pytest.importorskip('ray')
    # a short path: Ray's unix sockets live under it (at most 107 bytes)
    temp = tempfile.mkdtemp(prefix='ray', dir='/tmp')
    ctx = ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp,
                   logging_level='WARNING', log_to_driver=False)
    try:
        yield ctx.address_info['gcs_address']
    finally:
        ray.shutdown()


def _stop_half_way(argv: list[str], out: Path) -> None:
    """Start a driver, SIGTERM it once the manifest holds a finished shard (not the last)."""
    code = ('import sys\nfrom depth_anything_ros.commands import cli\n'
            'sys.exit(cli.main(sys.argv[1:]))\n')
    proc = subprocess.Popen([sys.executable, '-c', code, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            path = out / MANIFEST
            if path.is_file() and '"event":"shard"' in path.read_text():
                break
            time.sleep(0.02)
        assert proc.poll() is None, f'the run ended before it was stopped: {proc.stderr.read()}'
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [rec['event'] for rec in _manifest(out)]
    assert 'complete' not in events and 'shard' in events


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['synthetic set', 'bag'])
def test_pseudo_label_on_ray_stopped_and_resumed_equals_one_process(
        tmp_path: Path, ray_address: str, kind: str) -> None:
    if kind == 'bag':
        src = write_image_bag(tmp_path / 'bag', _scenes(20))
    else:
        from depth_anything_ros.training.synth import generate
        src = generate(tmp_path / 'synth', 'indoor', 20, seed=0, size=(24, 32),
                       progress=False) / 'rgb'
    common = ['pseudo-label', *TEACHER, '--inputs', str(src), '--batch-size', '1']
    one = _run_cli([*common, '--out', str(tmp_path / 'one')])
    assert one.returncode == 0, one.stderr
    ray_argv = [*common, '--out', str(tmp_path / 'ray'), '--engine', 'ray', '--address',
                ray_address, '--num-workers', '1']
    _stop_half_way(ray_argv, tmp_path / 'ray')
    again = _run_cli(ray_argv)
    assert again.returncode == 0, again.stderr
    assert _files(tmp_path / 'ray') == _files(tmp_path / 'one')   # file by file, bit for bit
    records = _manifest(tmp_path / 'ray')
    (plan,) = [r for r in records if r['event'] == 'plan']
    planned = [k for shard in plan['shards'] for k in shard]
    assert len(planned) == len(set(planned)) == 20
    shards = {r['shard']: r for r in records if r['event'] == 'shard'}
    assert sorted(shards) == list(range(len(plan['shards'])))   # each shard once, none twice
    assert sorted(k for r in shards.values() for k in r['written']) == sorted(planned)
    assert records[-1] == {'event': 'complete', 'run': 1, 'written': 20, 'skipped': 0}
    # started again on a finished output: nothing to do, nothing rewritten
    before = _files(tmp_path / 'ray')
    assert _run_cli(ray_argv).returncode == 0
    assert _files(tmp_path / 'ray') == before


@pytest.mark.slow
def test_pseudo_label_on_ray_skips_a_corrupt_input_with_its_reason(
        tmp_path: Path, ray_address: str) -> None:
    src = _folder(tmp_path / 'imgs', _scenes(3))
    (src / '001.png').write_bytes(b'not a png')
    res = _run_cli(['pseudo-label', *TEACHER, '--inputs', str(src), '--out',
                    str(tmp_path / 'ray'), '--engine', 'ray', '--address', ray_address])
    assert res.returncode == 0, res.stderr
    (shard,) = [r for r in _manifest(tmp_path / 'ray') if r['event'] == 'shard']
    assert shard['written'] == ['000.png', '002.png']
    assert list(shard['skipped']) == ['001.png']
    assert shard['skipped']['001.png'].startswith('cannot decode image')
    index = (tmp_path / 'ray' / 'index.jsonl').read_text().splitlines()
    assert [json.loads(line)['key'] for line in index] == ['000.png', '002.png']


@pytest.mark.slow
def test_eval_on_ray_equals_one_process(tmp_path: Path, ray_address: str) -> None:
    from depth_anything_ros.training.synth import generate
    data = generate(tmp_path / 'synth', 'indoor', 10, seed=1, size=(24, 32), val_fraction=1.0,
                    progress=False)
    common = ['eval', '--checkpoint', 'untrained:vits', '--allow-untrained', '--data',
              str(data), '--input-size', '28', '--device', 'cpu', '--eval-max-depth', '10']
    one = _run_cli([*common, '--out', str(tmp_path / 'one.json')])
    assert one.returncode == 0, one.stderr
    argv = [*common, '--out', str(tmp_path / 'ray.json'), '--engine', 'ray', '--address',
            ray_address, '--batch-size', '1']
    res = _run_cli(argv)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'ray.json').read_bytes() == (tmp_path / 'one.json').read_bytes()
    manifest = tmp_path / ('ray.json.' + MANIFEST)
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert records[-1]['event'] == 'complete' and records[-1]['written'] == 10
    assert len([r for r in records if r['event'] == 'shard']) == 3   # 10 images, 4 a shard


@pytest.mark.slow
def test_process_bag_on_ray_stopped_and_resumed_equals_one_process(
        tmp_path: Path, ray_address: str) -> None:
    pytest.importorskip('rosbags')
    from ros_helpers.bags import write_camera_bag
    model = ['--checkpoint', 'untrained:tiny', '--allow-untrained', '--device', 'cpu',
             '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']
    bags = [write_camera_bag(tmp_path / 'in' / f'rec{i}', 6, h=28, w=42,
                             corrupt=(2,) if i == 1 else ()) for i in range(4)]
    broken = tmp_path / 'in' / 'broken.mcap'
    broken.write_bytes(b'not a bag')
    for bag in bags:
        res = _run_cli(['process-bag', str(bag), '--out', str(tmp_path / 'one' / bag.name),
                        *model])
        assert res.returncode == 0, res.stderr
    argv = ['process-bag', *map(str, bags), str(broken), '--out', str(tmp_path / 'ray'),
            *model, '--engine', 'ray', '--address', ray_address]
    _stop_half_way(argv, tmp_path / 'ray')
    res = _run_cli(argv)
    assert res.returncode == 1, res.stderr   # one input could not be processed
    # one output bag per input, file by file, byte for byte (metadata.yaml and the storage
    # file with every message: the writer zeroes the CDR padding, so runs do not differ there)
    ray_files, one_files = _files(tmp_path / 'ray'), _files(tmp_path / 'one')
    assert sorted(ray_files) == sorted(one_files)
    assert any(name.endswith('.mcap') for name in one_files)
    for name in one_files:
        assert ray_files[name] == one_files[name], name
    records = _manifest(tmp_path / 'ray')
    shards = {r['shard']: r for r in records if r['event'] == 'shard'}
    assert sorted(shards) == list(range(5))
    assert [k for i in range(4) for k in shards[i]['written']] == [b.name for b in bags]
    assert list(shards[4]['skipped']) == ['broken'] and shards[4]['written'] == []
    assert shards[1]['summary']['skipped'][0]['index'] == 2   # a frame skipped inside a bag
    assert records[-1]['event'] == 'complete'


@pytest.mark.slow
def test_pseudo_label_of_a_video_on_ray_stopped_and_resumed_equals_one_process(
        tmp_path: Path, ray_address: str) -> None:
    # a video decodes in stream order only: one task reads it whole and hands its shards on
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (32, 24))
    for img in _scenes(12):
        writer.write(img)
    writer.release()
    common = ['pseudo-label', *TEACHER, '--inputs', str(video), '--batch-size', '1']
    one = _run_cli([*common, '--out', str(tmp_path / 'one')])
    assert one.returncode == 0, one.stderr
    ray_argv = [*common, '--out', str(tmp_path / 'ray'), '--engine', 'ray', '--address',
                ray_address]
    _stop_half_way(ray_argv, tmp_path / 'ray')
    again = _run_cli(ray_argv)
    assert again.returncode == 0, again.stderr
    one_files = _files(tmp_path / 'one')
    assert len([n for n in one_files if n.startswith('images/')]) == 12   # video: copied
    assert _files(tmp_path / 'ray') == one_files   # file by file, bit for bit
    records = _manifest(tmp_path / 'ray')
    shards = {r['shard']: r for r in records if r['event'] == 'shard'}
    assert sorted(shards) == [0, 1, 2]   # 12 frames, 4 a shard, each shard once
    assert [k for i in range(3) for k in shards[i]['written']] == [
        f'frame{i:08d}' for i in range(12)]
    assert records[-1] == {'event': 'complete', 'run': 1, 'written': 12, 'skipped': 0}


@pytest.mark.slow
def test_eval_tae_on_ray_shards_by_sequence_and_equals_one_process(
        tmp_path: Path, ray_address: str) -> None:
    from depth_anything_ros.training.sequences import generate_sequences
    data = generate_sequences(tmp_path / 'seq', 'indoor', 2, 3, size=(28, 42),
                              val_fraction=1.0, progress=False)
    common = ['eval', '--checkpoint', 'untrained:vits', '--allow-untrained', '--data',
              str(data), '--input-size', '28', '--device', 'cpu', '--eval-max-depth', '10',
              '--tae']
    one = _run_cli([*common, '--out', str(tmp_path / 'one.json')])
    assert one.returncode == 0, one.stderr
    res = _run_cli([*common, '--out', str(tmp_path / 'ray.json'), '--engine', 'ray',
                    '--address', ray_address, '--batch-size', '1'])
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'ray.json').read_bytes() == (tmp_path / 'one.json').read_bytes()
    doc = json.loads((tmp_path / 'one.json').read_text())
    assert doc['n_frame_pairs'] == 4   # 2 sequences of 3 frames: no pair across them
    records = [json.loads(line) for line in
               (tmp_path / ('ray.json.' + MANIFEST)).read_text().splitlines()]
    (plan,) = [r for r in records if r['event'] == 'plan']
    assert plan['shards'] == [['0', '1', '2'], ['3', '4', '5']]   # one shard per sequence
    shards = [r for r in records if r['event'] == 'shard']
    assert sorted(len(r['temporal']['flicker']) for r in shards) == [2, 2]


@pytest.mark.slow
def test_process_bag_on_ray_reads_and_writes_file_uris(tmp_path: Path, ray_address: str) -> None:
    pytest.importorskip('fsspec')
    from ros_helpers.bags import write_camera_bag
    model = ['--checkpoint', 'untrained:tiny', '--allow-untrained', '--device', 'cpu',
             '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']
    bags = [write_camera_bag(tmp_path / 'in' / f'rec{i}', 4, h=28, w=42) for i in range(2)]
    for bag in bags:
        res = _run_cli(['process-bag', str(bag), '--out', str(tmp_path / 'one' / bag.name),
                        *model])
        assert res.returncode == 0, res.stderr
    res = _run_cli(['process-bag', *(f'file://{b}' for b in bags), '--out',
                    f'file://{tmp_path}/ray', *model, '--engine', 'ray', '--address',
                    ray_address])
    assert res.returncode == 0, res.stderr
    assert _files(tmp_path / 'ray') == _files(tmp_path / 'one')   # byte for byte
    records = _manifest(tmp_path / 'ray')   # uploaded beside the bags
    (plan,) = [r for r in records if r['event'] == 'plan']
    assert plan['options']['bags'] == [f'file://{b}' for b in bags]
    assert records[-1] == {'event': 'complete', 'run': 1, 'written': 2, 'skipped': 0}


@pytest.mark.slow
def test_pseudo_label_on_ray_reads_and_writes_file_uris(tmp_path: Path,
                                                        ray_address: str) -> None:
    pytest.importorskip('fsspec')
    src = _folder(tmp_path / 'imgs', _scenes(6))
    common = ['pseudo-label', *TEACHER, '--batch-size', '1']
    # images at a URI are copied beside their labels (they cannot be referenced)
    one = _run_cli([*common, '--inputs', str(src), '--out', str(tmp_path / 'one'),
                    '--image-mode', 'copy'])
    assert one.returncode == 0, one.stderr
    res = _run_cli([*common, '--inputs', f'file://{src}', '--out', f'file://{tmp_path}/ray',
                    '--engine', 'ray', '--address', ray_address])
    assert res.returncode == 0, res.stderr
    ray_files, one_files = _files(tmp_path / 'ray'), _files(tmp_path / 'one')
    meta_ray, meta_one = (json.loads(f.pop('meta.json')) for f in (ray_files, one_files))
    assert ray_files == one_files   # labels, images and the index, byte for byte
    assert meta_ray.pop('source') == f'file://{src}' and meta_one.pop('source') == str(src)
    assert meta_ray == meta_one
    records = _manifest(tmp_path / 'ray')
    assert len([r for r in records if r['event'] == 'shard']) == 2   # 6 images, 4 a shard
    assert records[-1] == {'event': 'complete', 'run': 1, 'written': 6, 'skipped': 0}
