#!/usr/bin/env bash
# End-to-end switch benchmark: the switch and two simulated banks in one process (`dcswitch serve`, with the
# registration center on its embedded PostgreSQL), the traffic generator in another, real loopback TCP between all.
#
#   Benchmarks/Scripts/switch-e2e.sh [RATE] [DURATION] [CONNECTIONS]
#
# Environment: PERF=1 records a perf profile of the switch process; SYSCALLS=1 counts its system calls and context
# switches per transaction (STAT_EVENTS=… other perf events); GEN_PERF=1 profiles the generator; SERVE_ARGS adds flags to `dcswitch serve`;
# DCSWITCH_BIN runs that binary instead of building this tree. Besides the table it prints the CPU seconds the switch
# process and the generator spent, per transaction: less sensitive to other work on the machine than latency, and the
# switch process's resident memory every 5 s, and at the end, per journal, how long approvals waited for it to be durable.
#
# Prints the generator's table (throughput, p50/p90/p99 per flow, corrected for coordinated omission) and writes
# the JSON report to reports/switch-e2e-<RATE>.json. With RATE=sweep it runs the generator's sweep instead
# (1000 to 10000 TPS in steps of 1000, p99 objective 10 ms; SWEEP=FROM:TO:STEP and SLO_P99_MS=… change them) and
# reports the highest rate that meets it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
rate="${1:-3000}"
duration="${2:-20}"
connections="${3:-4}"

# DCSWITCH_BIN=path runs another build (to compare two versions); by default the release build of this tree.
if [ -n "${DCSWITCH_BIN:-}" ]; then
  bin="$DCSWITCH_BIN"
else
  if ! build_log="$(swift build -c release --product dcswitch 2>&1)"; then echo "$build_log" >&2; exit 1; fi
  bin="$PWD/.build/release/dcswitch"
fi
mkdir -p reports
out="$PWD/reports"

work="$(mktemp -d /tmp/dcswitch-e2e.XXXXXX)"
chmod o+x "$work"   # the embedded cluster runs as the postgres user when we are root
# Two banks on free ports, the switch on another.
python3 - "$work" <<'PY'
import json, socket, sys
work = sys.argv[1]
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
net = json.load(open("Fixtures/network.json"))
net["banks"] = net["banks"][:2]
for bank in net["banks"]:
    bank["port"] = free()
net["switch"]["port"] = free()
if "metricsPort" in net["switch"]:
    net["switch"]["metricsPort"] = free()
json.dump(net, open(f"{work}/network.json", "w"), indent=2)
print(net["switch"]["port"], file=open(f"{work}/port", "w"))
PY
port="$(cat "$work/port")"

cd "$work"
"$bin" serve --config network.json --data-dir "$work/data" ${SERVE_ARGS:-} >serve.log 2>&1 &
serve=$!
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null; rm -rf "$work"' EXIT
# Ready when the switch's port takes connections (the embedded cluster and the seeds come first).
python3 - "$port" <<'PY' || { tail -20 serve.log >&2; exit 1; }
import socket, sys, time
for _ in range(240):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit("the switch did not start; see serve.log")
PY

if [ "$rate" = sweep ]; then
  "$bin" load --target "127.0.0.1:$port" --config network.json --rate 10000 --duration "$duration" --connections "$connections" \
    --sweep "${SWEEP:-1000:10000:1000}" --slo-p99 "${SLO_P99_MS:-10}" --report "$out/switch-e2e-sweep.json" --quiet
else
  # CPU the serve process spends per transaction: noise from other work on the machine changes latency, much less this.
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$serve/stat"; }
  before="$(cpu_ticks)"
  if [ -n "${SYSCALLS:-}" ]; then
    perf stat -e "${STAT_EVENTS:-raw_syscalls:sys_enter,context-switches,cpu-migrations}" -x, -o "$work/stat.csv" -p "$serve" -- sleep "$duration" >/dev/null 2>&1 &
    stat_pid=$!
  fi
  if [ -n "${PERF:-}" ]; then
    perf record -F "${PERF_FREQ:-499}" -g -o "$out/switch-e2e-$rate.perf.data" -p "$serve" -- sleep "$duration" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  # The switch's resident memory every 5 s of the run (MB), printed after the table.
  ( while kill -0 "$serve" 2>/dev/null; do awk '/^VmRSS/ {printf "%d ", $2 / 1024}' "/proc/$serve/status"; sleep 5; done ) > "$work/rss" 2>/dev/null &
  rss_pid=$!
  gen_perf=()
  if [ -n "${GEN_PERF:-}" ]; then gen_perf=(perf record -F "${PERF_FREQ:-499}" -g -o "$out/switch-e2e-$rate.generator.perf.data" --); fi
  /usr/bin/time -f "generator CPU: %U s user, %S s system" \
    "${gen_perf[@]}" "$bin" load --target "127.0.0.1:$port" --config network.json --rate "$rate" --duration "$duration" --connections "$connections" \
    --report "$out/switch-e2e-$rate.json" --quiet
  after="$(cpu_ticks)"
  kill "$rss_pid" 2>/dev/null || true
  echo "serve RSS MB every 5 s: $(cat "$work/rss")$(awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$serve/status") (end)"
  if [ -n "${SYSCALLS:-}" ]; then
    wait "$stat_pid" || true
    answered="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(f.get("sent",0) for f in r["flows"].values()))' "$out/switch-e2e-$rate.json")"
    awk -F, -v n="$answered" '$1 ~ /^[0-9]+$/ { printf "serve %s: %d = %.1f per transaction\n", $3, $1, $1 / n }' "$work/stat.csv"
  fi
  if [ -n "${PERF:-}" ]; then wait "$perf_pid" || true; echo "profile: $out/switch-e2e-$rate.perf.data (perf report -i …)"; fi
  python3 - "$out/switch-e2e-$rate.json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ticks = int(sys.argv[3]) - int(sys.argv[2])
answered = sum(f.get("sent", 0) for f in report.get("flows", {}).values())
seconds = ticks / int(sys.argv[4])
per = seconds / answered * 1e6 if answered else float("nan")
print(f"serve CPU: {seconds:.2f} s for {answered} transactions = {per:.0f} us per transaction")
PY
  echo "report: $out/switch-e2e-$rate.json"
  # Stop the switch (it drains the registry) and show where approvals waited for the disk, journal by journal.
  kill -TERM "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  sed -n '/^durability/,/^Stopped/p' serve.log | grep -v '^Stopped' || true
fi
