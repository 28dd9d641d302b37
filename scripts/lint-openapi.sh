#!/usr/bin/env bash
# Lints the OpenAPI document with Redocly CLI's recommended rules
# (.redocly.yaml). Exits non-zero when the linter reports an error;
# warnings are printed and do not fail the run. Needs Node.js (20.19 or
# later) and npm: the linter, pinned below, comes from the npm registry on
# the first run and from the npm cache after that.
#
# Usage: scripts/lint-openapi.sh [document, default http/openapi.yaml]
# The cache is LEDGER_NPM_CACHE, by default ~/.cache/ledger-npm.
set -euo pipefail
cd "$(dirname "$0")/.."
redocly_cli=@redocly/cli@2.77.0
doc=${1:-http/openapi.yaml}

export npm_config_cache="${LEDGER_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ledger-npm}"
export npm_config_prefer_offline=true npm_config_update_notifier=false npm_config_fund=false
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec npx --yes "$redocly_cli" lint --config .redocly.yaml "$doc"
