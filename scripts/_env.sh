# Sourced by scripts/dev and scripts/test: a virtual environment with the locked packages.
#
# The environment is $BUILDER_VENV (default .venv in the repository). It is (re)installed
# from requirements/dev.txt with hashes whenever that file or pyproject.toml changed, and
# builder itself goes in editable. Debian's and Ubuntu's system pip refuses to install
# (PEP 668), hence the virtual environment; it needs the python3-venv package.

builder_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BUILDER_VENV:-$builder_root/.venv}"
python="${BUILDER_PYTHON:-python3}"

need() {  # need WHAT PACKAGE...: say exactly what to install, exit 2
  echo "builder: $1 is missing; install it with: sudo apt-get install -y ${*:2}" >&2
  exit 2
}

command -v "$python" >/dev/null || need "Python 3.11" python3 python3-venv
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "builder: needs Python 3.11, $python is $("$python" -V 2>&1);" \
    "set BUILDER_PYTHON to a python3.11" >&2
  exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import ensurepip' 2>/dev/null || need "the venv module" python3-venv
  echo "creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi

stamp="$venv/.builder-installed"
wanted="$(cat "$builder_root/requirements/dev.txt" "$builder_root/pyproject.toml" \
  | "$venv/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing builder's locked dependencies into $venv (requirements/dev.txt)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
    -r "$builder_root/requirements/dev.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$builder_root"
  echo "$wanted" > "$stamp"
fi

export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"
