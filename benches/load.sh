#!/usr/bin/env bash
# SIPp load runs against a release build of chorus on loopback. Bounded in calls and time.
#
#   bash benches/load.sh setup [RATE=300] [CALLS=6000]     call setup/teardown rate, no media
#   bash benches/load.sh echo  [CALLS=500] [RATE=50]       CALLS concurrent PCMA echo calls, RTP both ways, ~28 s
#   bash benches/load.sh play  [CALLS=500] [RATE=50]       CALLS concurrent PCMU calls all playing `hello` 10 times
#                                                          (~36 s, route `play`), RTP from Chorus only
#   bash benches/load.sh conf  [ROOMS=50] [MEMBERS=6] [SECONDS=60] [RATE=50]
#                                                          ROOMS conference rooms (conf-1..conf-ROOMS) of MEMBERS
#                                                          PCMA callers each sending RTP for ~SECONDS
#
# Prints SIPp's success/failure counts and the server's CPU (from /proc/PID/stat) and RSS (VmHWM), and for
# `echo`, `play` and `conf` the timing of Chorus's outbound RTP (inter-packet interval error, from a tcpdump capture).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-setup}
port=5090
work=$(mktemp -d /tmp/chorus-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

command -v sipp >/dev/null || { echo "needs sipp (apt-get install sip-tester)" >&2; exit 1; }
cargo build --release -p chorus --bin chorus >&2
ulimit -n 65536 || true

target/release/chorus serve --sip 127.0.0.1:$port --dialplan benches/dialplans/bench.yaml \
  --recordings "$work/rec" --rtp-ports 20000-29999 --max-calls 5000 2>"$work/chorus.log" &
pid=$!
for _ in $(seq 50); do grep -q "listening" "$work/chorus.log" 2>/dev/null && break; sleep 0.1; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
rss_kb() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
idle_rss=$(rss_kb)

case "$mode" in
  setup)
    rate=${2:-300}; calls=${3:-6000}
    c0=$(cpu); t0=$(date +%s.%N)
    sipp 127.0.0.1:$port -sf benches/sipp/quick_uac.xml -s quick -r "$rate" -m "$calls" -l 2000 \
      -i 127.0.0.1 -p 5091 -nostdin -timeout 120s -timeout_error -trace_stat -stf "$work/stat.csv" \
      -fd 1 -trace_err -error_file "$work/err.log" >/dev/null 2>&1 || true
    t1=$(date +%s.%N); c1=$(cpu)
    ;;
  echo|play)
    calls=${2:-500}; rate=${3:-50}
    if [ "$mode" = echo ]; then scenario=echo_rtp_uac.xml; sport=5092; else scenario=play_uac.xml; sport=5093; fi
    if command -v tcpdump >/dev/null; then
      tcpdump -i lo -n -s 64 -w "$work/rtp.pcap" "udp and src portrange 20000-29999" 2>/dev/null &
      tcpdump_pid=$!
    else
      echo "tcpdump not installed: no packet timing (apt-get install tcpdump)" >&2
    fi
    c0=$(cpu); t0=$(date +%s.%N)
    sipp 127.0.0.1:$port -sf "benches/sipp/$scenario" -s "$mode" -r "$rate" -m "$calls" -l "$calls" \
      -i 127.0.0.1 -p $sport -mp 40000 -nostdin -timeout 120s -timeout_error -trace_stat -stf "$work/stat.csv" \
      -fd 1 -trace_err -error_file "$work/err.log" >/dev/null 2>&1 &
    sipp_pid=$!
    # Sample CPU while all calls are up: from the moment the last call is placed to the first hang-up.
    ramp=$(python3 -c "print($calls/$rate + 1)")
    sleep "$ramp"; cw0=$(cpu); tw0=$(date +%s.%N); peak_rss=$(rss_kb)
    sleep 20; cw1=$(cpu); tw1=$(date +%s.%N)
    wait $sipp_pid || true
    t1=$(date +%s.%N); c1=$(cpu)
    [ -n "${tcpdump_pid:-}" ] && { sleep 1; kill $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true; }
    ;;
  conf)
    rooms=${2:-50}; members=${3:-6}; secs=${4:-60}; rate=${5:-50}
    calls=$((rooms * members))
    # One SIPp places every member; the injection file gives each call its room, round robin, so the rooms
    # fill together. g711a.pcap is ~7.1 s: play it enough times to last SECONDS.
    plays=$(( (secs * 10 + 70) / 71 ))
    { echo SEQUENTIAL; for _ in $(seq "$members"); do seq -f '%g;' 1 "$rooms"; done; } >"$work/rooms.csv"
    sed "s/@PLAYS@/$plays/" benches/sipp/conf_rtp_uac.xml >"$work/conf_rtp_uac.xml"
    if command -v tcpdump >/dev/null; then
      tcpdump -i lo -n -s 64 -w "$work/rtp.pcap" "udp and src portrange 20000-29999" 2>/dev/null &
      tcpdump_pid=$!
    else
      echo "tcpdump not installed: no packet timing (apt-get install tcpdump)" >&2
    fi
    c0=$(cpu); t0=$(date +%s.%N)
    sipp 127.0.0.1:$port -sf "$work/conf_rtp_uac.xml" -inf "$work/rooms.csv" -r "$rate" -m "$calls" -l "$calls" \
      -i 127.0.0.1 -p 5094 -mp 40000 -nostdin -timeout $((secs + 60))s -timeout_error -trace_stat \
      -stf "$work/stat.csv" -fd 1 -trace_err -error_file "$work/err.log" >/dev/null 2>&1 &
    sipp_pid=$!
    # Sample CPU while every member is in its room: from the last join to shortly before the first leaves.
    ramp=$(python3 -c "print($calls/$rate + 1)")
    window=$(python3 -c "print(max(5, $plays * 7.1 - $calls/$rate - 4))")
    sleep "$ramp"; cw0=$(cpu); tw0=$(date +%s.%N); peak_rss=$(rss_kb)
    sleep "$window"; cw1=$(cpu); tw1=$(date +%s.%N)
    wait $sipp_pid || true
    t1=$(date +%s.%N); c1=$(cpu)
    [ -n "${tcpdump_pid:-}" ] && { sleep 1; kill $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true; }
    echo "rooms=$rooms members=$members plays=$plays (~$(python3 -c "print(round($plays * 7.1))") s per member);" \
      "server log: $(grep -c 'WARN' "$work/chorus.log" || true) WARN, $(grep -c 'ERROR' "$work/chorus.log" || true) ERROR lines"
    ;;
  *) echo "usage: $0 setup|echo|play|conf ..." >&2; exit 2 ;;
esac

peak=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
python3 - "$work" "$mode" "$calls" "$c0" "$c1" "$t0" "$t1" "$ticks" "$idle_rss" "$peak" \
  "${cw0:-0}" "${cw1:-0}" "${tw0:-0}" "${tw1:-0}" "${peak_rss:-0}" <<'PY'
import csv, struct, sys, os, statistics
work, mode, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
c0, c1, t0, t1, ticks = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
idle_rss, peak = int(sys.argv[9]), int(sys.argv[10])
cw0, cw1, tw0, tw1, peak_rss = map(float, sys.argv[11:16])
rows = list(csv.reader(open(os.path.join(work, "stat.csv")), delimiter=";"))
hdr, last = rows[0], rows[-1]
def col(name):
    return int(last[hdr.index(name)])
ok, failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
wall = t1 - t0
cpu_s = (c1 - c0) / ticks
print(f"mode={mode} calls={calls} successful={ok} failed={failed} wall={wall:.1f}s")
if mode == "setup":
    print(f"achieved rate: {ok / wall:.0f} calls/s")
    print(f"server cpu: {100 * cpu_s / wall:.1f}% of one core on average, {1000 * cpu_s / max(ok, 1):.3f} ms cpu per call")
    print(f"server rss: idle {idle_rss} KiB, peak {peak} KiB")
else:
    steady = (cw1 - cw0) / ticks / (tw1 - tw0)
    per = "member" if mode == "conf" else "call"
    print(f"steady state with {calls} calls up: server cpu {100 * steady:.1f}% of one core = {100 * steady / calls:.3f}% per {per}")
    print(f"server rss: idle {idle_rss} KiB, with calls up {int(peak_rss)} KiB = {(peak_rss - idle_rss) / calls:.1f} KiB per call")
    pcap = os.path.join(work, "rtp.pcap")
    if os.path.exists(pcap):
        d = open(pcap, "rb").read()
        off, last_t, errs = 24, {}, []
        link = struct.unpack("<I", d[20:24])[0]
        while off + 16 <= len(d):
            ts, tu, incl, _ = struct.unpack("<IIII", d[off:off + 16])
            pkt = d[off + 16: off + 16 + incl]; off += 16 + incl
            l2 = 14 if link == 1 else 16
            ip = pkt[l2:]
            if len(ip) < 20 or ip[0] >> 4 != 4: continue
            ihl = (ip[0] & 15) * 4
            udp = ip[ihl:]
            if len(udp) < 20: continue
            sport = struct.unpack(">H", udp[0:2])[0]
            if 192 <= udp[9] <= 223:  # RTCP (RFC 5761 §4), not a 20 ms media packet
                continue
            ssrc = udp[8 + 8: 8 + 12]
            t = ts + tu / 1e6
            k = (sport, ssrc)
            if k in last_t:
                errs.append(abs((t - last_t[k]) * 1000 - 20.0))
            last_t[k] = t
        if errs:
            errs.sort()
            q = lambda p: errs[min(len(errs) - 1, int(p * len(errs)))]
            print(f"outbound rtp: {len(errs) + len(last_t)} packets on {len(last_t)} streams; "
                  f"interval error p50 {q(0.5):.3f} ms, p99 {q(0.99):.3f} ms, max {errs[-1]:.3f} ms")
PY
echo "logs in $work" >&2
