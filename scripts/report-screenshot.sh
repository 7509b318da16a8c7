#!/usr/bin/env bash
# Renders the HTML report of the project's sample in headless Chromium and saves a
# screenshot to docs/report.png (run by hand after changing the report; needs
# Debian's chromium: apt-get install -y chromium). Network is switched off.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
node dist/cli/main.js analyze samples/exchange-org.pcapng --db "$tmp/s.sqlite" --inventory samples/inventory.yaml --quiet
node dist/cli/main.js report html --db "$tmp/s.sqlite" --out "$tmp/report.html" --title "exflow report: samples/exchange-org.pcapng"
mkdir -p docs
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9 \
  --host-resolver-rules='MAP * ~NOTFOUND' --window-size=1280,2600 --screenshot="$PWD/docs/report.png" "file://$tmp/report.html"
rm -rf "$tmp"
echo "wrote docs/report.png"
