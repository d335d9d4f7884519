#!/usr/bin/env bash
# Smoke launch after tools/install_robot.sh: `ros2 launch depth_anything_ros depth.launch.py`
# with untrained weights (no checkpoint download) on the CPU. Passes when the depth node has
# loaded its model; then stops the launch with SIGINT.
#   usage: tools/smoke_launch.sh [WORKSPACE] [SECONDS]   (default: the workspace of this checkout, 300)
set -eo pipefail
ws=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
limit=${2:-300}
[ -f "$ws/install/setup.bash" ] \
  || { echo "smoke_launch: $ws/install/setup.bash is missing: run tools/install_robot.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$ws/install/setup.bash"
log=$(mktemp)
params=$(mktemp --suffix=.yaml)
printf '/**:\n  ros__parameters:\n    allow_untrained_weights: true\n' > "$params"
ros2 launch depth_anything_ros depth.launch.py encoder:=vits checkpoint:=untrained device:=cpu \
  params_file:="$params" > "$log" 2>&1 &
pid=$!
ok=0
for ((i = 0; i < limit; i++)); do
  if grep -q 'model .* on cpu' "$log"; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
if [ "$ok" = 1 ]; then
  grep -m1 'model .* on cpu' "$log"
  echo 'smoke_launch: passed (the depth node started and loaded its model)'
  exit 0
fi
cat "$log" >&2
echo "smoke_launch: failed: the depth node did not load its model within ${limit} s" >&2
exit 1
