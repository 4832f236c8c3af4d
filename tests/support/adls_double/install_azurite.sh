#!/usr/bin/env bash
# Install Azurite (the Azure Storage blob emulator) for the ADLS tests into a git-ignored folder.
# Needs Node.js and the npm registry only. Azurite 3.36+ requires Node >= 21; 3.35.0 runs on Node 20.
# Usage: tests/support/adls_double/install_azurite.sh [PREFIX]   (default: <repo>/.cache/azurite)
set -euo pipefail
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
PREFIX="${1:-$REPO_ROOT/.cache/azurite}"
BIN="$PREFIX/node_modules/.bin/azurite-blob"
if [[ -x "$BIN" ]] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$PREFIX/node_modules/azurite/package.json" 2>/dev/null; then
    exit 0
fi
mkdir -p "$PREFIX"
# Keep the cache out of git even where .gitignore does not list it.
[[ -f "$REPO_ROOT/.cache/.gitignore" ]] || { mkdir -p "$REPO_ROOT/.cache"; echo '*' > "$REPO_ROOT/.cache/.gitignore"; }
npm install --prefix "$PREFIX" --no-audit --no-fund --omit=dev --no-save --loglevel=error "azurite@$AZURITE_VERSION"
"$BIN" --version > /dev/null
echo "azurite $AZURITE_VERSION in $PREFIX"
