#!/usr/bin/env bash
# npm run memory: the README's "Memory" figures, measured with /usr/bin/time -v.
#  - analyze of 1M unanswered SYNs (1M flows, 2M hosts) to an inspected port (443, TLS)
#    and to an uninspected one (40000);
#  - the name floods: DNS answers, Kerberos exchanges, NTLM sessions (src/samples/flood.ts);
#  - every report that reads a whole database, on that database (roles from an
#    inventory: 10/8 outlook-2007, 11/8 client-access, so every flow is expected and
#    the firewall has a rule per host pair).
# Writes into ${MEMORY_DIR:-.memory-cache} (about 5 GB with the floods). Peak RSS in MB, wall seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
[ -x /usr/bin/time ] || { echo "memory.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
D=${MEMORY_DIR:-.memory-cache}
COUNT=${MEMORY_SYNS:-1000000}
mkdir -p "$D"
X="node dist/cli/main.js"
measure() { # label, command…
  local label=$1; shift
  /usr/bin/time -v "$@" >"$D/out" 2>"$D/err" || { echo "memory.sh: $label failed: $(tail -3 "$D/err")" >&2; exit 1; }
  local kb secs
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$D/err")
  secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$D/err")
  printf '| %s | %d MB | %s | %s bytes out |\n' "$label" $((kb / 1024)) "$secs" "$(stat -c %s "$D/out")"
}
for port in 443 40000; do
  [ -f "$D/syn$port.pcap" ] || node dist/samples/flood.js "$D/syn$port.pcap" "$COUNT" "$port"
  rm -f "$D/syn$port.sqlite"*
  measure "analyze: $COUNT SYNs to port $port" $X analyze "$D/syn$port.pcap" --db "$D/syn$port.sqlite" --quiet
done
DB="$D/syn443.sqlite"
printf 'hosts:\n  - address: 10.0.0.0/8\n    roles: [outlook-2007]\n  - address: 11.0.0.0/8\n    roles: [client-access]\n    version: "2010"\n' >"$D/inventory.yaml"
measure "audit --inventory (2M hosts)" $X audit --db "$DB" --inventory "$D/inventory.yaml"
measure "report html" $X report html --db "$DB" --out "$D/report.html"
measure "hosts --format json" $X hosts --db "$DB" --format json
measure "hosts --format inventory" $X hosts --db "$DB" --format inventory
measure "flows --format json" $X flows --db "$DB" --format json
measure "export (ndjson)" $X export --db "$DB"
measure "report firewall --per host --format json" $X report firewall --db "$DB" --per host --format json
measure "report firewall --per host --format nft" $X report firewall --db "$DB" --per host --format nft
measure "report firewall --per role --format powershell" $X report firewall --db "$DB" --per role --format powershell
measure "report roles" $X report roles --db "$DB" --format json
measure "report unexpected" $X report unexpected --db "$DB" --format json
measure "report summary" $X report summary --db "$DB" --format json

# The name floods (issue 30, item 8): DNS answers held by open flows, Kerberos exchanges and
# NTLM sessions replayed from the project's own lab captures, each from its own client.
[ -f "$D/dns.pcap" ] || node dist/samples/flood.js "$D/dns.pcap" "${MEMORY_DNS:-130000}" dns 32
[ -f "$D/kerberos.pcap" ] || node dist/samples/flood.js "$D/kerberos.pcap" "${MEMORY_KERBEROS:-1000000}" replay 88 test/fixtures/exchange-lab/exchange-lab-full.pcap
[ -f "$D/ntlm.pcap" ] || node dist/samples/flood.js "$D/ntlm.pcap" "${MEMORY_NTLM:-200000}" replay 445 test/fixtures/protection/smb-sessions.pcap
for flood in dns kerberos ntlm; do
  rm -f "$D/$flood.sqlite"*
  measure "analyze: $flood flood" $X analyze "$D/$flood.pcap" --db "$D/$flood.sqlite" --quiet
done
measure "host ADDR (the DNS server of the DNS flood)" $X host 10.53.0.1 --db "$D/dns.sqlite" --format json
