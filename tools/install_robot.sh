#!/usr/bin/env bash
# Install depth_anything_ros into a colcon workspace on a robot with ROS 2 from apt.
#
#   tools/install_robot.sh --distro humble|jazzy|kilted --cpu|--cuda|--jetson
#                          [--extras NAME,...] [--workspace DIR] [--venv DIR]
#                          [--torch-index URL] [--dry-run]
#
# It prints its plan (every command it runs, in order), then runs it; --dry-run only prints it.
# The plan:
#   1. apt: python3-venv, pip, rosdep, colcon, numpy (+ the apt part of the chosen extras)
#   2. rosdep init (once per machine) and rosdep update
#   3. a virtual environment that sees the system packages (--system-site-packages) with a
#      COLCON_IGNORE in it, and a pip.conf that holds every pip run in it to the system's numpy
#      and setuptools and to the versions the project tests (requirements/dev.txt)
#   4. rosdep install, run inside that environment: apt keys as root, the pip keys
#      (python3-rosbags-pip, python3-huggingface-hub-pip) with the environment's pip, so
#      PEP 668 (Ubuntu 24.04) is respected and no system package is replaced
#   5. torch from the index of the target (CPU wheel, CUDA wheel, NVIDIA's JetPack wheel)
#   6. safetensors and the chosen extras with pip (ray: --engine ray, so that the robot can be
#      a node of a Ray cluster; pandas there is not the tested pin, see ROBOT_PANDAS)
#   7. colcon build --symlink-install, run by the environment's Python so that the node's
#      executables start with that Python (and find torch)
#   8. a check: the package, torch and the messages import, numpy is still the system's
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQ="$ROOT/requirements/dev.txt"
RAY_REQ="$ROOT/requirements/ray.txt"
EXTRA_NAMES='openvino onnxruntime tensorrt export rviz ray'
# pandas for the ray extra on Ubuntu 24.04: the tested pin (pandas 3) needs numpy >= 2, and the
# environment keeps the system's numpy 1.26.4; 2.3.3 is the newest pandas that runs on it and
# that ray[data] accepts (>= 2.2.3). Not the version the test suite runs.
ROBOT_PANDAS='pandas==2.3.3'
PYTORCH_INDEX=https://download.pytorch.org/whl
JETSON_INDEX=https://pypi.jetson-ai-lab.io/jp6/cu126   # NVIDIA's wheels for JetPack 6

die() { echo "install_robot: $*" >&2; exit 2; }
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }

distro='' target='' extras='' dry_run=0 ws='' venv='' torch_index=''
while [ $# -gt 0 ]; do
  case $1 in
    --distro) [ $# -ge 2 ] || die '--distro needs a value: humble, jazzy or kilted'
              distro=$2; shift ;;
    --distro=*) distro=${1#*=} ;;
    --cpu|--cuda|--jetson)
      [ -z "$target" ] || [ "$target" = "${1#--}" ] \
        || die "give one of --cpu, --cuda, --jetson (got --$target and $1)"
      target=${1#--} ;;
    --extras) [ $# -ge 2 ] || die "--extras needs a comma-separated list of: $EXTRA_NAMES"
              extras=$2; shift ;;
    --extras=*) extras=${1#*=} ;;
    --workspace) [ $# -ge 2 ] || die '--workspace needs a folder'; ws=$2; shift ;;
    --workspace=*) ws=${1#*=} ;;
    --venv) [ $# -ge 2 ] || die '--venv needs a folder'; venv=$2; shift ;;
    --venv=*) venv=${1#*=} ;;
    --torch-index) [ $# -ge 2 ] || die '--torch-index needs a URL'; torch_index=$2; shift ;;
    --torch-index=*) torch_index=${1#*=} ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

case $distro in
  humble) ubuntu=jammy; python=3.10 ;;
  jazzy) ubuntu=noble; python=3.12 ;;
  kilted) ubuntu=noble; python=3.12 ;;
  '') die 'give --distro humble, jazzy or kilted' ;;
  *) die "unknown --distro $distro: use humble (Ubuntu 22.04), jazzy or kilted (Ubuntu 24.04)" ;;
esac
[ -n "$target" ] || die 'give --cpu, --cuda (an NVIDIA GPU on x86-64) or --jetson (JetPack 6)'
if [ "$target" = jetson ] && [ "$distro" != humble ]; then
  die "--jetson: JetPack 6 is Ubuntu 22.04, so ROS 2 Humble; $distro needs Ubuntu 24.04"
fi

# The versions the test suite runs (one list: requirements/dev.txt, and the ray extra's
# requirements/ray.txt that it includes); a pin may name extras of its package: ray[data]==.
pin() {
  local file line=''
  for file in "$REQ" "$RAY_REQ"; do
    if [ -z "$line" ] && [ -f "$file" ]; then
      line=$(grep -E "^$1(\[[a-z,]+\])?==" "$file" | head -n 1 || true)
    fi
  done
  [ -n "$line" ] || die "requirements/dev.txt and ray.txt have no pin for $1"
  echo "$line"
}

# Extras: pip requirements and apt packages, refused where they cannot work.
pip_extras=() apt_extras=()
for name in ${extras//,/ }; do
  case $name in
    openvino) pip_extras+=("$(pin openvino)") ;;
    onnxruntime)
      [ "$distro" != humble ] || die 'extra onnxruntime: no onnxruntime for Python 3.10 accepts' \
        "Ubuntu 22.04's numpy 1.21.5 (it would replace the numpy Humble's messages and cv2" \
        'are built for); use --extras openvino for a fast CPU backend'
      pip_extras+=("$(pin onnxruntime)") ;;
    export)
      [ "$distro" != humble ] || die 'extra export: onnx for Python 3.10 needs numpy >= 1.22,' \
        "Ubuntu 22.04 has 1.21.5; export on a development machine and copy the model over"
      pip_extras+=("$(pin onnx)" "$(pin onnxscript)") ;;
    tensorrt)
      case $target in
        cuda) pip_extras+=(tensorrt) ;;
        jetson) apt_extras+=(python3-libnvinfer) ;;
        *) die 'extra tensorrt needs --cuda or --jetson' ;;
      esac ;;
    rviz) apt_extras+=("ros-$distro-rviz2") ;;
    ray)
      [ "$distro" != humble ] || die 'extra ray: the tested pyarrow needs Python >= 3.11 and' \
        "Ray Data's pandas needs numpy >= 1.22.4; Ubuntu 22.04 has Python 3.10 and numpy" \
        '1.21.5: run --engine ray on machines set up with requirements/ray.txt'
      pip_extras+=("'$(pin ray)'" "$(pin pyarrow)" "$ROBOT_PANDAS") ;;   # quoted: [ ] globs
    '') ;;
    *) die "unknown extra $name; choose from: $EXTRA_NAMES" ;;
  esac
done

# The workspace is the folder whose src/ holds this checkout, unless given.
if [ -z "$ws" ]; then
  [ "$(basename "$(dirname "$ROOT")")" = src ] \
    || die "the checkout $ROOT is not in a workspace's src/ folder; clone it into <ws>/src" \
           'or give --workspace'
  ws=$(dirname "$(dirname "$ROOT")")
fi
ws=$(cd "$ws" 2>/dev/null && pwd || echo "$ws")
venv=${venv:-$ws/venv}

if [ "$(id -u)" = 0 ]; then sudo=''; else sudo='sudo '; fi
case $target in
  cpu) torch_index=${torch_index:-$PYTORCH_INDEX/cpu}; torch_req=$(pin torch) ;;
  # PyPI's Linux x86-64 torch is the CUDA build (CUDA 13 for the pinned version).
  cuda) torch_req=$(pin torch) ;;
  # JetPack wheels are built per JetPack release; their version is NVIDIA's, not our pin.
  jetson) torch_index=${torch_index:-$JETSON_INDEX}; torch_req=torch ;;
esac
index_opt=${torch_index:+--index-url $torch_index }

pins=()
for name in torch rosbags safetensors openvino onnxruntime onnx onnxscript; do
  if [ "$name" != torch ] || [ "$target" != jetson ]; then pins+=("$(pin "$name")"); fi
done
ros_setup="/opt/ros/$distro/setup.bash"

plan=(
  "apt: Python tools, rosdep, colcon, numpy${apt_extras:+, extras}"
  "${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends python3-venv python3-pip python3-rosdep python3-colcon-common-extensions python3-numpy${apt_extras[*]:+ ${apt_extras[*]}}"

  'rosdep database (init once per machine, then update)'
  "[ -e /etc/ros/rosdep/sources.list.d/20-default.list ] || ${sudo}rosdep init; rosdep update --rosdistro $distro"

  "virtual environment $venv: sees the system packages; colcon skips it"
  "/usr/bin/python3 -m venv --system-site-packages $venv && touch $venv/COLCON_IGNORE"

  'pip in it is held to the system numpy and setuptools and to the tested versions'
  "/usr/bin/python3 -c 'import numpy, setuptools; print(f\"numpy=={numpy.__version__}\\nsetuptools=={setuptools.__version__}\")' > $venv/constraints.txt && printf '%s\\n' ${pins[*]} >> $venv/constraints.txt && printf '[global]\\nconstraint = %s\\n' $venv/constraints.txt > $venv/pip.conf"

  "rosdep install: apt keys as root, pip keys with the environment's pip"
  "cd $ws && source $ros_setup && source $venv/bin/activate && PIP_BREAK_SYSTEM_PACKAGES=1 rosdep install --from-paths src --ignore-src -y --rosdistro $distro --as-root pip:false"

  "torch ($target)"
  "$venv/bin/pip install ${index_opt}$torch_req"

  "pip: safetensors${pip_extras:+ and extras}"
  "$venv/bin/pip install $(pin safetensors)${pip_extras[*]:+ ${pip_extras[*]}}"

  "build (colcon run by the environment's Python)"
  "cd $ws && source $ros_setup && $venv/bin/python -m colcon build --symlink-install"

  'check: imports, and numpy is still the system one'
  "cd $ws && source install/setup.bash && $venv/bin/python -c 'import torch, rclpy, cv2, sensor_msgs.msg, depth_anything_ros.ros.node' && grep -qx \"numpy==\$($venv/bin/python -c 'import numpy; print(numpy.__version__)')\" $venv/constraints.txt"
)

echo "install_robot: ROS 2 $distro (Ubuntu $ubuntu, Python $python), target $target," \
     "workspace $ws"
for ((i = 0; i < ${#plan[@]}; i += 2)); do
  printf '# %d. %s\n%s\n' $((i / 2 + 1)) "${plan[i]}" "${plan[i + 1]}"
done
if [ "$distro" = humble ]; then discovery='ROS_LOCALHOST_ONLY=1'
else discovery='ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST'; fi
cat <<NEXT
# then, in a new shell:
#   source $ws/install/setup.bash
#   ros2 run depth_anything_ros depth-anything-ros download metric_indoor_vits
#   ros2 launch depth_anything_ros depth.launch.py encoder:=vits mode:=metric scene:=indoor \\
#       image:=/camera/color/image_rect camera_info:=/camera/color/camera_info
# all nodes on this one machine: export $discovery and
#   FASTDDS_DEFAULT_PROFILES_FILE=\$(ros2 pkg prefix depth_anything_ros)/share/depth_anything_ros/config/fastdds_localhost_shm.xml
NEXT
if [ "$target" = cuda ]; then
  echo '# the CUDA torch wheel needs an NVIDIA driver for CUDA 13; for an older driver give' \
       "--torch-index $PYTORCH_INDEX/cu126 (or another CUDA tag PyTorch publishes)"
fi
[ "$dry_run" = 0 ] || exit 0

# Checks of the machine, then the plan, one step at a time.
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null || true)
[ "$codename" = "$ubuntu" ] \
  || die "ROS 2 $distro packages are for Ubuntu $ubuntu; this machine is '${codename:-unknown}'"
[ -f "$ros_setup" ] || die "$ros_setup is missing: install ROS 2 $distro first" \
  "(apt install ros-$distro-ros-base, see docs.ros.org/en/$distro/Installation.html)"
[ -d "$ws/src" ] || die "$ws has no src/ folder"
case $(uname -m) in
  aarch64) [ "$target" != cuda ] || die '--cuda is for x86-64; on a Jetson use --jetson' ;;
  *) [ "$target" != jetson ] || die '--jetson is for a Jetson (aarch64)' ;;
esac
for ((i = 0; i < ${#plan[@]}; i += 2)); do
  echo "== install_robot: $((i / 2 + 1)). ${plan[i]}"
  bash -eo pipefail -c "${plan[i + 1]}" || die "step $((i / 2 + 1)) failed: ${plan[i]}"
done
echo "install_robot: done. In a new shell: source $ws/install/setup.bash"
