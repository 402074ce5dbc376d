#!/bin/sh
# Builds the Python wheel, installs it in a fresh virtual environment and
# runs the pytest suite against it (python/tests):
#
#   scripts/python-tests.sh [PROFILE]      (default: dev; release for speed)
#
# maturin goes into a virtual environment of its own in target/python-tools,
# made once; the package, pytest, mypy (for stubtest) and Dask's distributed
# (for polyhart.fleet) are installed into a new
# target/python-venv each time, so nothing from an earlier build is
# imported. Needs python3 with venv and pip, and the
# network (pip install maturin pytest mypy distributed).
set -eu
cd "$(dirname "$0")/.."

profile=${1:-dev}
python=${PYTHON:-python3}
tools=target/python-tools
venv=target/python-venv
wheels=target/python-wheels

if [ ! -x "$tools/bin/maturin" ]; then
    "$python" -m venv "$tools"
    "$tools/bin/pip" install --quiet "maturin>=1.9.4,<2"
fi

rm -rf "$wheels" "$venv"
# `--profile dev` keeps CI's build short: the emulator crates are optimized
# in the dev profile too (Cargo.toml), only the binding is not.
"$tools/bin/maturin" build --quiet --strip --profile "$profile" -m python/Cargo.toml -o "$wheels"

"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet "$wheels"/polyhart-*.whl pytest mypy distributed
"$venv/bin/python" -c 'import polyhart; print("polyhart", polyhart.__version__, "from", polyhart.__file__)'

# The type stubs are written by hand: mypy's stubtest holds them to the
# module the wheel really contains (names, signatures, defaults). From the
# venv's directory, so that the sources in python/ are not on the path.
(cd "$venv" && bin/python -m mypy.stubtest polyhart._polyhart)
# Run from the repository root, not python/, so that `import polyhart`
# finds the installed wheel, not the sources in python/polyhart.
"$venv/bin/pytest" -q python/tests
