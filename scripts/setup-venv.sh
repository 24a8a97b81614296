#!/usr/bin/env bash
# Idempotent set-up of the project-local Python venv that carries libtorch.
#
# - Creates .venv/ only when missing.
# - Installs the pinned torch (the libtorch that tch 0.24 links against) only
#   when the venv does not already have exactly that version.
# - Installs the small Python test peers (numpy, gensim, pyarrow, fasttext-wheel)
#   only when missing.
#
# Nothing outside .venv/ is touched.
set -euo pipefail

cd "$(dirname "$0")/.."
TORCH_VERSION="2.11.0"
VENV=".venv"
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
    echo "setup: creating $VENV (project-local Python venv)"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
fi

have_torch=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
case "$have_torch" in
    "$TORCH_VERSION"|"$TORCH_VERSION"+*)
        echo "setup: torch $have_torch already in $VENV" ;;
    *)
        echo "setup: installing torch==$TORCH_VERSION into $VENV (downloads about 3 GB, takes 4.6 GB on disk, ~1-3 min)"
        "$PY" -m pip install -q "torch==$TORCH_VERSION" ;;
esac

if ! "$PY" -c 'import gensim, numpy, pyarrow' 2>/dev/null; then
    echo "setup: installing test peers numpy, gensim, pyarrow into $VENV (about 60 MB)"
    "$PY" -m pip install -q numpy gensim pyarrow
fi

# fastText reads our fasttext-bin export in tests/python and is a peer in benches/.
if ! "$PY" -c 'import fasttext' 2>/dev/null; then
    echo "setup: installing fasttext-wheel into $VENV (about 5 MB)"
    "$PY" -m pip install -q fasttext-wheel
fi

lib=$("$PY" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
echo "setup: ok: libtorch $("$PY" -c 'import torch; print(torch.__version__)') at $lib"
