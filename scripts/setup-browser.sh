#!/usr/bin/env bash
# Best-effort set-up of the browser the `w2v serve` page test drives
# (tests/python/browser_test.py): Debian's chromium + chromium-driver from
# apt (as root, only when missing), and selenium in the project venv.
#
# Never fails `make setup`: a machine without apt, root or network gets a
# message and no browser, and the test then skips, saying why. When the
# browser is ready this writes .venv/.browser-ok, and `make test` then runs
# the test with W2V_REQUIRE_BROWSER=1, so a browser that goes missing later
# fails the test instead of skipping it.
set -uo pipefail

cd "$(dirname "$0")/.."
VENV=".venv"
PY="$VENV/bin/python"
MARK="$VENV/.browser-ok"
rm -f "$MARK"

have() { command -v "$1" >/dev/null 2>&1; }

if ! { have chromium && have chromedriver; }; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
        echo "setup: installing Debian's chromium and chromium-driver (for the w2v serve page test; about 300 MB)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/tmp/w2v-setup-browser.log 2>&1; then
            echo "setup: warning: could not install chromium (see /tmp/w2v-setup-browser.log); the browser test will skip"
        fi
    else
        echo "setup: warning: chromium/chromedriver missing and not installable here (needs root and apt-get); the browser test will skip"
    fi
fi

if [ -x "$PY" ] && ! "$PY" -c 'import selenium' 2>/dev/null; then
    echo "setup: installing selenium into $VENV (drives chromium in the browser test)"
    "$PY" -m pip install -q selenium || echo "setup: warning: could not install selenium; the browser test will skip"
fi

if have chromium && have chromedriver && "$PY" -c 'import selenium' 2>/dev/null; then
    touch "$MARK"
    echo "setup: ok: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version | head -1 | cut -d' ' -f1-2), selenium $("$PY" -c 'import selenium; print(selenium.__version__)')"
fi
exit 0
