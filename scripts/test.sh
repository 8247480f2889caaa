#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the
# tests need (headless Chromium for the web UI tests, the npm "openai"
# client for the API compatibility test), then runs the Go tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt+=(fonts-wqy-zenhei)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "installing ${need_apt[*]} for the browser and client tests..."
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
	else
		echo "error: the tests need ${need_apt[*]}; install them (sudo apt-get install ${need_apt[*]}) and run again" >&2
		exit 1
	fi
fi
if [ -f web/testdata/openai-node/package.json ] && [ ! -d web/testdata/openai-node/node_modules/openai ]; then
	(cd web/testdata/openai-node && npm ci --no-audit --no-fund --silent)
fi

go test -count=1 -timeout 20m "$@" ./...
