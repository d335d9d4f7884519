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

"""Checks made before a checkpoint or its metadata is parsed: file kind, size and format.

Every problem becomes a :class:`CheckpointError` naming the file, what is wrong with it and what
to do. Files are opened non-blocking and checked with ``fstat`` before a byte is read, so a FIFO,
a device such as ``/dev/zero`` or a directory is refused instead of blocking or reading forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import json
import os
from pathlib import Path
import stat
import tempfile
from typing import Any, BinaryIO

from depth_anything_ros.errors import MissingInputError, UserError

#: Largest JSON metadata file (sidecar, transformers ``config.json``) that is read.
MAX_JSON_BYTES = 1 << 20
_SNIFF_BYTES = 64


class CheckpointError(UserError, ValueError):
    """A checkpoint file is unreadable or does not fit the requested model."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO (named pipe)'),
                       (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return name
    return 'not a regular file'


@contextmanager
def open_regular(path: str | os.PathLike, what: str = 'checkpoint file') -> Iterator[BinaryIO]:
    """Open ``path`` for binary reading only if it is a non-empty regular file.

    Raises:
        FileNotFoundError: nothing is there (or a symbolic link points nowhere).
        CheckpointError: a directory, FIFO, device or socket, an empty file, or unreadable.

    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    except FileNotFoundError:
        if path.is_symlink():
            raise MissingInputError(f'{what} {path} is a broken symbolic link (to '
                                    f'{os.readlink(path)})') from None
        raise MissingInputError(f'{what} {path} does not exist') from None
    except IsADirectoryError:
        raise CheckpointError(f'{what} {path} is a directory; pass the file inside it') from None
    except OSError as exc:
        raise CheckpointError(f'cannot open {what} {path}: {exc.strerror}; check that it is a '
                              'readable file') from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f'{what} {path} is {_kind(st.st_mode)}, not a regular file; '
                                  'pass a checkpoint file (.pth, .pt, .bin or .safetensors)')
        if st.st_size == 0:
            raise CheckpointError(f'{what} {path} is empty (0 bytes: an interrupted download or '
                                  'copy?); download or copy it again')
        os.set_blocking(fd, True)
        f = os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def read_json_file(path: str | os.PathLike, what: str) -> Any:
    """Parse a small JSON file (at most :data:`MAX_JSON_BYTES`); CheckpointError explains."""
    with open_regular(path, what) as f:
        data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise CheckpointError(f'{what} {path} is larger than {MAX_JSON_BYTES} bytes, too large '
                              'for metadata; it is not a metadata file, move or delete it')
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f'{what} {path} is not valid JSON ({exc}); fix or delete '
                              'it') from exc


def _describe(head: bytes) -> str:
    """Say what a file that is no checkpoint looks like, from its first bytes."""
    text = head.lstrip()
    if text.startswith(b'version https://git-lfs'):
        return ('a Git LFS pointer, not the weights: run "git lfs pull" or download the file '
                'itself')
    if text[:1] == b'<':
        return 'an HTML/XML page (a failed download?): download the file again'
    if not head.strip(b'\0'):
        return 'all zero bytes: copy or download it again'
    try:
        head.decode('utf-8')
    except UnicodeDecodeError:
        return f'unknown binary data (starts with {head[:16]!r})'
    return f'a text file (starts with {head[:32]!r})'


def sniff_format(f: BinaryIO, path: str | os.PathLike) -> str:
    """Return ``'torch'`` (zip or legacy pickle) or ``'safetensors'`` from a file's first bytes.

    Leaves ``f`` at its start. Raises :class:`CheckpointError` for anything else.
    """
    head = f.read(_SNIFF_BYTES)
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    if head.startswith(b'PK\x03\x04') or head[:1] == b'\x80':
        return 'torch'   # torch.save's zip container, or the legacy pickle format
    if len(head) > 8 and head[8:9] == b'{' and 8 < int.from_bytes(head[:8], 'little') + 8 <= size:
        return 'safetensors'   # u64 little-endian header length, then a JSON header
    raise CheckpointError(f'{path} is not a PyTorch (.pth, .pt, .bin) or safetensors checkpoint: '
                          f'it is {_describe(head)}')


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
