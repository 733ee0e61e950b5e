# shellcheck shell=bash
# Helpers shared by scripts/serve, scripts/test, scripts/smoke and .ci/run. Sourced, never run.
#
#   ROOT             the repository (this file's parent folder)
#   VENV             the virtualenv, $VIBEGRAPHER_VENV or $ROOT/.venv
#   ensure_venv F    create $VENV if it is missing or broken, then `pip install -r F` unless the
#                    stamp $VENV/.installed-F.sha256 already holds the hash of F (and the files
#                    F includes with -r), so an unchanged requirements file costs no pip run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VIBEGRAPHER_VENV:-$ROOT/.venv}"
MIN_PYTHON="3.11"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

python_ok() {  # $1: an interpreter; true when it runs and is >= MIN_PYTHON
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {  # prints the first interpreter >= MIN_PYTHON: $PYTHON, python3, python3.13 .. python3.11
    local candidate
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

requirements_hash() {  # $1: a requirements file relative to ROOT; hashes it and its -r includes
    local file="$1" dir included
    dir="$(dirname "$file")"
    {
        printf '%s\n' "$file"
        cat "$ROOT/$file"
        while read -r included; do
            [ -n "$included" ] || continue
            printf '%s\n' "$included"
            cat "$ROOT/$dir/$included"
        done < <(sed -n -E 's/^[[:space:]]*(-r|--requirement)[[:space:]=]+([^[:space:]#]+).*/\2/p' "$ROOT/$file")
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {  # $1: requirements file relative to ROOT (requirements.txt, requirements-dev.txt)
    local requirements="$1" python stamp wanted
    [ -f "$ROOT/$requirements" ] || die "$ROOT/$requirements not found"
    if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
        python="$(find_python)" || die "no Python >= $MIN_PYTHON found; set PYTHON=/path/to/python3.11-or-newer"
        log "Creating $VENV with $("$python" --version 2>&1) ($python)"
        "$python" -m venv --clear "$VENV" \
            || die "could not create $VENV (on Debian's own python3: apt-get install python3-venv)"
    fi
    stamp="$VENV/.installed-$(basename "$requirements").sha256"
    wanted="$(requirements_hash "$requirements")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return 0
    fi
    log "Installing $requirements into $VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$ROOT/$requirements" \
        || die "pip install -r $requirements failed"
    printf '%s\n' "$wanted" >"$stamp"
}

free_port() {  # prints a TCP port that is free on 127.0.0.1 right now
    "$VENV/bin/python" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
