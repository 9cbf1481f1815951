#!/usr/bin/env bash
# The product's headline benchmark (issue 5): the whole network on this machine — generator, switch, banks,
# registration center and PostgreSQL — at 10,000 TPS for 60 s, then the verdict against the targets:
# p99 <= 10 ms (corrected for coordinated omission), no errors, every approval's records in the registry once,
# value conserved.
#
#   Benchmarks/Scripts/demo-10k.sh [RATE] [DURATION] [BANKS]      (DCSWITCH_BIN=path: another build)
#
# Output: the demo's table, then the JSON report at reports/demo-<RATE>.json and one verdict line.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
rate="${1:-10000}"
duration="${2:-60}"
banks="${3:-4}"
# DCSWITCH_BIN=path runs another build (to compare two versions); by default the release build of this tree.
if [ -n "${DCSWITCH_BIN:-}" ]; then
  bin="$(cd "$(dirname "$DCSWITCH_BIN")" && pwd)/$(basename "$DCSWITCH_BIN")"
else
  if ! build_log="$(swift build -c release --product dcswitch 2>&1)"; then echo "$build_log" >&2; exit 1; fi
  bin="$PWD/.build/release/dcswitch"
fi
mkdir -p reports
report="$PWD/reports/demo-$rate.json"
work="$(mktemp -d /tmp/dcswitch-demo.XXXXXX)"
chmod o+x "$work"   # the embedded cluster runs as the postgres user when we are root
trap 'rm -rf "$work"' EXIT
config="$PWD/Fixtures/network.json"
status=0
(cd "$work" && "$bin" demo --config "$config" --rate "$rate" --duration "$duration" --banks "$banks" --report "$report") || status=$?
verdict=0
python3 - "$report" "$rate" <<'PY' || verdict=$?
import json, sys
r = json.load(open(sys.argv[1])); rate = float(sys.argv[2])
p99 = r["latency_ms"]["p99"]
errors = sum(f.get("errors", 0) for f in r["flows"].values())
reg = r.get("registry", {}); cons = r.get("conservation", {})
checks = {
    "achieved >= 99% of offered": r["achieved_tps"] >= 0.99 * rate,
    "p99 <= 10 ms": p99 <= 10,
    "no errors": errors == 0,
    "nothing shed (DE 39 = 91)": r.get("response_codes", {}).get("91", 0) == 0,
    "registry complete": reg.get("records_expected") == reg.get("records_found") and reg.get("duplicates") == 0,
    "value conserved": cons.get("ok") is True,
}
print(f"offered {r['offered_tps']:.0f} tps, achieved {r['achieved_tps']:.0f} tps ({r.get('approved', 0) / max(r.get('elapsed_s', 1), 1):.0f} approvals/s), p50 {r['latency_ms']['p50']:.2f} ms, "
      f"p99 {p99:.2f} ms, errors {errors}")
for name, ok in checks.items():
    print(f"  {'PASS' if ok else 'FAIL'}  {name}")
sys.exit(0 if all(checks.values()) else 1)
PY
exit $(( status != 0 ? status : verdict ))
