#!/usr/bin/env bash
# The browser the console tests drive: Debian's Chromium (Playwright's own downloads are
# never used). Installs it when missing; idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium present)"
    exit 0
fi
echo "browser: installing chromium from apt"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
/usr/bin/chromium --version
