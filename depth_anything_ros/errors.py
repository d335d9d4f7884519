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

"""The exceptions that mean "the user can fix this": a bad value, a missing file.

Library code raises them where a caller's input is at fault, with a message that names the
problem and the fix. The command line (commands/cli.py) prints such an error as one line and
exits 2; anything else that escapes a command is a bug and keeps its traceback. Each type also
derives from the built-in exception callers already catch (``ValueError``,
``FileNotFoundError``), so code that catches those keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path

__all__ = ['InvalidInputError', 'MissingInputError', 'OutputExistsError', 'UserError',
           'make_folder', 'one_line', 'read_text_file', 'user_errors']


class UserError(Exception):
    """A problem with what the user asked for; the message names it and the fix."""


class InvalidInputError(UserError, ValueError):
    """A value, a combination of options or a file's content that cannot be used."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class OutputExistsError(UserError, FileExistsError):
    """An output the user named exists and would be overwritten."""


@contextlib.contextmanager
def user_errors(*types: type[Exception]) -> Iterator[None]:
    """Treat ``types`` raised inside the block as user errors (same message, chained).

    For a caller that knows that, at this call, an exception of a general type can only come
    from what the user gave (a command building its estimator from the flags).
    """
    try:
        yield
    except UserError:
        raise
    except types as exc:
        kind = MissingInputError if isinstance(exc, FileNotFoundError) else InvalidInputError
        raise kind(str(exc)) from exc


def make_folder(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` with its parents; return it.

    Raises:
        OutputExistsError: a file stands where the folder or one of its parents should be.

    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputExistsError(f'cannot make the folder {path}: a file of that name is in the '
                                'way; choose another path') from None
    return path


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """Return the text of the file ``path`` the user named as ``what`` (``'pairs file'``).

    Raises:
        MissingInputError: no such file.
        InvalidInputError: it cannot be read as text.

    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f'{what} {path} does not exist or is not a file')
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f'cannot read {what} {path} as text: {exc}') from None


def one_line(error: BaseException) -> str:
    """Return the message of ``error`` on one line (a list of problems joined by ``; ``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    head, rest = lines[0], lines[1:]
    if rest and head.endswith(':'):
        return f'{head} ' + '; '.join(rest)
    return '; '.join(lines)
