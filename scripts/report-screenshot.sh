#!/usr/bin/env bash
# Renders the HTML report in headless Chromium and saves screenshots to docs/ (run by
# hand after changing the report; needs Debian's chromium). Network is switched off.
#   docs/report.png            the project's sample with its inventory, 1400 px wide
#   docs/report-800.png        the same page 800 px wide (a laptop's half screen)
#   docs/report-50k-hosts.png  the top of the page for 50,000 hosts (synthetic capture)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
shot() { # shot OUT.png HEIGHT FILE [WIDTH]
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9 \
    --host-resolver-rules='MAP * ~NOTFOUND' --disable-background-networking --user-data-dir="$tmp/profile-$1" \
    --window-size="${4:-1400}","$2" --screenshot="$PWD/docs/$1" "file://$3"
}
mkdir -p docs
node dist/cli/main.js analyze samples/exchange-org.pcapng --db "$tmp/s.sqlite" --inventory samples/inventory.yaml --quiet
node dist/cli/main.js report html --db "$tmp/s.sqlite" --out "$tmp/report.html" --title "exflow report: samples/exchange-org.pcapng"
shot report.png 2600 "$tmp/report.html" 1400
shot report-800.png 3400 "$tmp/report.html" 800
node -e "require('./dist/samples/synthetic.js').writeSynthetic('$tmp/s50k.pcap', { packets: 100000, flows: 50000 })"
node dist/cli/main.js analyze "$tmp/s50k.pcap" --db "$tmp/s50k.sqlite" --quiet
node dist/cli/main.js report html --db "$tmp/s50k.sqlite" --out "$tmp/s50k.html" --title "exflow report: 50,000 hosts (synthetic)"
shot report-50k-hosts.png 1800 "$tmp/s50k.html"
rm -rf "$tmp"
echo "wrote docs/report.png docs/report-800.png docs/report-50k-hosts.png"
