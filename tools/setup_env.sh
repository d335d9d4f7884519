#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment from nothing: ROS 2 Kilted from the PyPI
# ros-* wheels, torch (CPU), the package itself (editable) and an ament share overlay so that
# ament_index finds launch/ and config/ the way `ros2 launch` does.
#   usage: tools/setup_env.sh [VENV]          (default .venv)
# A second run reuses the venv: it reinstalls only when requirements/*.txt or setup.py change.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$ROOT/.venv}
PY=${PYTHON:-python3}
REQ=$ROOT/requirements/dev.txt
HF_REQ=$ROOT/requirements/hf.txt   # optional model families (transformers), tested here

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "the ros-* wheels are cp311 only"' \
  || { echo "setup_env: Python 3.11 is required (set PYTHON=...)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VENV=$(cd "$VENV" && pwd)

stamp="$VENV/.depth_anything_ros.stamp"
want=$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/setup.cfg" | sha256sum | cut -d' ' -f1)
# Reinstall when the requirements changed, or when the package itself went missing.
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
   || ! "$VENV/bin/pip" show -q depth_anything_ros >/dev/null 2>&1; then
  echo "setup_env: installing requirements into $VENV (first run takes about a minute)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" -r "$HF_REQ" 2> >(grep -v "is ignored: it is neither" >&2)
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$ROOT" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
fi

# `pip install -e` skips data_files and puts scripts in bin/: link every share/ file into the
# venv prefix (real folders, per-file links into the live tree) and write lib/<package>/<script>.
"$VENV/bin/python" "$ROOT/tools/ament_overlay.py" "$ROOT" "$VENV" >/dev/null

cat > "$VENV/ros_env.sh" <<ENV
# source me: the environment every shell, test and CI step uses
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:\$PATH"
export AMENT_PREFIX_PATH="$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
export RMW_IMPLEMENTATION=\${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE="$ROOT/config/fastdds_localhost_shm.xml"
export ROS_LOG_DIR=\${ROS_LOG_DIR:-\${TMPDIR:-/tmp}/depth_anything_ros_log}
ENV
