#!/usr/bin/env bash
# SIPp load runs against a release build of chorus on loopback. Bounded in calls and time.
#
#   bash benches/load.sh setup [RATE=300] [CALLS=6000]     call setup/teardown rate, no media
#   bash benches/load.sh echo  [CALLS=500] [RATE=50] [SECONDS]
#                                                          CALLS concurrent PCMA echo calls, RTP both ways, ~28 s;
#                                                          with SECONDS, each call lasts long enough (whole 7.1 s
#                                                          plays of g711a.pcap) that all CALLS are up for SECONDS,
#                                                          and the steady-state CPU is sampled over those SECONDS
#                                                          ROUTE=echo-recorded: the same calls, each recorded
#                                                          whole (record_call) to a WAV in the run's temp dir
#   bash benches/load.sh play  [CALLS=500] [RATE=50]       CALLS concurrent PCMU calls all playing `hello` 10 times
#                                                          (~36 s, route `play`), RTP from Chorus only;
#                                                          CODEC=G722 (or PCMA) makes the callers offer that codec
#   bash benches/load.sh conf  [ROOMS=50] [MEMBERS=6] [SECONDS=60] [RATE=50]
#                                                          ROOMS conference rooms (conf-1..conf-ROOMS) of MEMBERS
#                                                          PCMA callers each sending RTP for ~SECONDS
#
# Prints SIPp's success/failure counts and the server's CPU (from /proc/PID/stat) and RSS (VmHWM), and for
# `echo`, `play` and `conf` the timing of Chorus's outbound RTP (inter-packet interval error, from a tcpdump capture).
#
# VIA=kamailio puts Debian's Kamailio (/usr/sbin/kamailio) in front of Chorus, in any mode: the script starts it
# in the foreground (-DD -E, own session, pid file, runtime dir and ctl socket in the run's temp dir) on
# 127.0.0.1:5088 with benches/kamailio/proxy.cfg (stateful proxy: record_route + loose_route to Chorus; RTP
# stays direct), SIPp calls Kamailio instead of Chorus, and the report adds Kamailio's CPU (utime + stime of
# its main process and every worker, from /proc/PID/stat) next to Chorus's, and its shared-memory peak.
# KAMAILIO_CHILDREN (default 4 UDP workers), KAMAILIO_SHM and KAMAILIO_PKG (MiB, default 128 and 8: 300 calls/s
# keep ~45 MiB of transactions in shared memory, so the tests' 32 MiB fails calls with 500) and KAMAILIO_OPTS
# (default "-x tlsf -X tlsf", the memory managers; "" for Debian's default qm) tune it.
# VIA=direct is the default run (SIPp straight to Chorus). With VIA set to either, the report also gives SIPp's
# retransmissions and the load average before and after, so the two can be compared line for line.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-setup}
port=5090
work=$(mktemp -d /tmp/chorus-bench.XXXXXX)
via=${VIA:-}
case "$via" in ''|direct|kamailio) ;; *) echo "VIA must be direct or kamailio" >&2; exit 2 ;; esac
kpid=""
cleanup() {
  # Kamailio runs in a session (and process group) of its own: stop the main process and its workers together.
  if [ -n "$kpid" ]; then
    kill -TERM -- -"$kpid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- -"$kpid" 2>/dev/null || true
  fi
  kill $(jobs -p) 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v sipp >/dev/null || { echo "needs sipp (apt-get install sip-tester)" >&2; exit 1; }
cargo build --release -p chorus --bin chorus >&2
ulimit -n 65536 || true

# --rtp-timeout 0: the listen-only calls of `play` send no RTP for ~36 s (the default hangs up after 30 s).
target/release/chorus serve --sip 127.0.0.1:$port --dialplan benches/dialplans/bench.yaml \
  --recordings "$work/rec" --rtp-ports 20000-29999 --max-calls 5000 --rtp-timeout 0 2>"$work/chorus.log" &
pid=$!
for _ in $(seq 50); do grep -q "listening" "$work/chorus.log" 2>/dev/null && break; sleep 0.1; done
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
rss_kb() { awk '/VmRSS/{print $2}' /proc/$pid/status; }
idle_rss=$(rss_kb)
target=127.0.0.1:$port
load0=$(cut -d' ' -f1-3 /proc/loadavg)
kcpu() { echo 0; }
if [ "$via" = kamailio ]; then
  kport=5088
  kam=$(command -v kamailio || echo /usr/sbin/kamailio)
  mpath=/usr/lib/x86_64-linux-gnu/kamailio/modules
  [ -x "$kam" ] && [ -f "$mpath/tm.so" ] || { echo "needs kamailio (apt-get install kamailio)" >&2; exit 1; }
  kdir="$work/kamailio"; mkdir -p "$kdir"
  sed -e "s|@PORT@|$kport|g" -e "s|@MPATH@|$mpath|g" -e "s|@CTL_SOCKET@|$kdir/kamailio_ctl|g" \
    -e "s|@CHORUS_URI@|sip:127.0.0.1:$port|g" -e "s|@CHILDREN@|${KAMAILIO_CHILDREN:-4}|g" \
    benches/kamailio/proxy.cfg >"$kdir/kamailio.cfg"
  # TLSF memory managers: half the CPU of Debian's default (qm, built with memory debugging) at 300 calls/s.
  setsid "$kam" -f "$kdir/kamailio.cfg" -DD -E -a no -m "${KAMAILIO_SHM:-128}" -M "${KAMAILIO_PKG:-8}" \
    -P "$kdir/kamailio.pid" -Y "$kdir" -w "$kdir" ${KAMAILIO_OPTS--x tlsf -X tlsf} </dev/null >"$kdir/kamailio.stdout" 2>"$kdir/kamailio.log" &
  kpid=$!
  # Ready when it answers an OPTIONS (the config answers `kamailio-ready` itself); 10 s at most.
  python3 - "$kport" <<'PY' || { echo "kamailio did not start; log:" >&2; cat "$kdir/kamailio.log" >&2; exit 1; }
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(0.2)
lp = s.getsockname()[1]
deadline, n = time.time() + 10, 0
while time.time() < deadline:
    n += 1
    s.sendto((f"OPTIONS sip:kamailio-ready@127.0.0.1:{port} SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bK-kready-{n}\r\nMax-Forwards: 70\r\n"
              f"From: <sip:bench@127.0.0.1:{lp}>;tag=kr{n}\r\nTo: <sip:kamailio-ready@127.0.0.1:{port}>\r\n"
              f"Call-ID: kready-{n}-{lp}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(),
             ("127.0.0.1", port))
    try:
        if s.recv(65535).startswith(b"SIP/2.0 200"):
            sys.exit(0)
    except (socket.timeout, ConnectionRefusedError):
        time.sleep(0.1)
sys.exit(1)
PY
  [ -s "$kdir/kamailio.pid" ] && kpid=$(cat "$kdir/kamailio.pid")
  kill -0 "$kpid" 2>/dev/null || { echo "kamailio exited; log:" >&2; cat "$kdir/kamailio.log" >&2; exit 1; }
  # utime + stime of the main process and every worker it forked (all its direct children).
  kcpu() {
    local files=() p
    for p in "$kpid" $(cat /proc/"$kpid"/task/*/children 2>/dev/null); do files+=("/proc/$p/stat"); done
    awk '{s += $14 + $15} END {print s + 0}' "${files[@]}" 2>/dev/null || echo 0
  }
  echo "kamailio: main (pid $kpid) + $(cat /proc/"$kpid"/task/*/children 2>/dev/null | wc -w) processes" \
    "on 127.0.0.1:$kport -> chorus 127.0.0.1:$port" >&2
  target=127.0.0.1:$kport
fi

case "$mode" in
  setup)
    rate=${2:-300}; calls=${3:-6000}
    c0=$(cpu); k0=$(kcpu); t0=$(date +%s.%N)
    sipp "$target" -sf benches/sipp/quick_uac.xml -s quick -r "$rate" -m "$calls" -l 2000 \
      -i 127.0.0.1 -p 5091 -nostdin -timeout 120s -timeout_error -trace_stat -stf "$work/stat.csv" \
      -fd 1 -trace_err -error_file "$work/err.log" >/dev/null 2>&1 || true
    t1=$(date +%s.%N); c1=$(cpu); k1=$(kcpu)
    ;;
  echo|play)
    calls=${2:-500}; rate=${3:-50}
    if [ "$mode" = echo ]; then scenario=echo_rtp_uac.xml; sport=5092; else scenario=play_uac.xml; sport=5093; fi
    scenario_file=benches/sipp/$scenario; window=20
    if [ "$mode" = echo ] && [ -n "${4:-}" ]; then
      # All CALLS up for SECONDS: enough whole plays of g711a.pcap (7.1 s) to cover the ramp, the window and 3 s.
      window=$4
      plays=$(python3 -c "import math; print(math.ceil(($window + $calls/$rate + 4) / 7.1))")
      awk -v n="$plays" '/play_pcap_audio/ {nop = $0; next} /<pause milliseconds="7100"\/>/ {pause = $0; seen = 1; next}
        seen == 1 {for (i = 0; i < n; i++) {print nop; print pause}; seen = 2} {print}' \
        "$scenario_file" >"$work/$scenario"
      scenario_file=$work/$scenario
      echo "echo: $plays plays of g711a.pcap per call (~$(python3 -c "print(round($plays * 7.1))") s)" >&2
    fi
    if [ "$mode" = play ] && [ "${CODEC:-PCMU}" != PCMU ]; then
      # The listening callers offer another codec, so Chorus encodes the prompt in it.
      case "$CODEC" in
        G722) pt=9; map="G722/8000" ;;
        PCMA) pt=8; map="PCMA/8000" ;;
        *) echo "CODEC: PCMU, PCMA or G722" >&2; exit 2 ;;
      esac
      sed -e "s|RTP/AVP 0 101|RTP/AVP $pt 101|" -e "s|a=rtpmap:0 PCMU/8000|a=rtpmap:$pt $map|" \
        "$scenario_file" >"$work/$scenario"
      scenario_file=$work/$scenario
      echo "play: callers offer $CODEC only" >&2
    fi
    if command -v tcpdump >/dev/null; then
      tcpdump -i lo -n -s 64 -w "$work/rtp.pcap" "udp and src portrange 20000-29999" 2>/dev/null &
      tcpdump_pid=$!
    else
      echo "tcpdump not installed: no packet timing (apt-get install tcpdump)" >&2
    fi
    c0=$(cpu); k0=$(kcpu); t0=$(date +%s.%N)
    sipp "$target" -sf "$scenario_file" -s "${ROUTE:-$mode}" -r "$rate" -m "$calls" -l "$calls" \
      -i 127.0.0.1 -p $sport -mp 40000 -nostdin -timeout 120s -timeout_error -trace_stat -stf "$work/stat.csv" \
      -fd 1 -trace_err -error_file "$work/err.log" >/dev/null 2>&1 &
    sipp_pid=$!
    # Sample CPU while all calls are up: from the moment the last call is placed to the first hang-up.
    ramp=$(python3 -c "print($calls/$rate + 1)")
    sleep "$ramp"; cw0=$(cpu); kw0=$(kcpu); tw0=$(date +%s.%N); peak_rss=$(rss_kb)
    sleep "$window"; cw1=$(cpu); kw1=$(kcpu); tw1=$(date +%s.%N)
    wait $sipp_pid || true
    t1=$(date +%s.%N); c1=$(cpu); k1=$(kcpu)
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
    c0=$(cpu); k0=$(kcpu); t0=$(date +%s.%N)
    sipp "$target" -sf "$work/conf_rtp_uac.xml" -inf "$work/rooms.csv" -r "$rate" -m "$calls" -l "$calls" \
      -i 127.0.0.1 -p 5094 -mp 40000 -nostdin -timeout $((secs + 60))s -timeout_error -trace_stat \
      -stf "$work/stat.csv" -fd 1 -trace_err -error_file "$work/err.log" >/dev/null 2>&1 &
    sipp_pid=$!
    # Sample CPU while every member is in its room: from the last join to shortly before the first leaves.
    ramp=$(python3 -c "print($calls/$rate + 1)")
    window=$(python3 -c "print(max(5, $plays * 7.1 - $calls/$rate - 4))")
    sleep "$ramp"; cw0=$(cpu); kw0=$(kcpu); tw0=$(date +%s.%N); peak_rss=$(rss_kb)
    sleep "$window"; cw1=$(cpu); kw1=$(kcpu); tw1=$(date +%s.%N)
    wait $sipp_pid || true
    t1=$(date +%s.%N); c1=$(cpu); k1=$(kcpu)
    [ -n "${tcpdump_pid:-}" ] && { sleep 1; kill $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true; }
    echo "rooms=$rooms members=$members plays=$plays (~$(python3 -c "print(round($plays * 7.1))") s per member);" \
      "server log: $(grep -c 'WARN' "$work/chorus.log" || true) WARN, $(grep -c 'ERROR' "$work/chorus.log" || true) ERROR lines"
    ;;
  *) echo "usage: $0 setup|echo|play|conf ..." >&2; exit 2 ;;
esac

peak=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
kshm=""
if [ "$via" = kamailio ]; then
  kill -0 "$kpid" 2>/dev/null || echo "kamailio exited during the run; log in $kdir/kamailio.log" >&2
  kshm=$(/usr/sbin/kamcmd -s "unix:$kdir/kamailio_ctl" core.shmmem 2>/dev/null \
    | awk '/total:/{t=$2} /max_used:/{m=$2} END{if (t) printf "%.1f MiB of %.0f MiB", m/1048576, t/1048576}' || true)
  grep -E "ERROR|CRITICAL|out of memory" "$kdir/kamailio.log" | head -5 >&2 || true
fi
kill -TERM $pid; wait $pid || true
python3 - "$work" "$mode" "$calls" "$c0" "$c1" "$t0" "$t1" "$ticks" "$idle_rss" "$peak" \
  "${cw0:-0}" "${cw1:-0}" "${tw0:-0}" "${tw1:-0}" "${peak_rss:-0}" \
  "$via" "${k0:-0}" "${k1:-0}" "${kw0:-0}" "${kw1:-0}" "$kshm" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import csv, struct, sys, os, statistics
work, mode, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
c0, c1, t0, t1, ticks = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
idle_rss, peak = int(sys.argv[9]), int(sys.argv[10])
cw0, cw1, tw0, tw1, peak_rss = map(float, sys.argv[11:16])
via = sys.argv[16]
k0, k1, kw0, kw1 = map(float, sys.argv[17:21])
kshm, load0, load1 = sys.argv[21:24]
rows = list(csv.reader(open(os.path.join(work, "stat.csv")), delimiter=";"))
hdr, last = rows[0], rows[-1]
def col(name):
    return int(last[hdr.index(name)])
def col_ms(name):
    h, m, s_, us = last[hdr.index(name)].split(":")
    return ((int(h) * 60 + int(m)) * 60 + int(s_)) * 1000 + int(us) / 1000
ok, failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
wall = t1 - t0
cpu_s = (c1 - c0) / ticks
print(f"mode={mode} calls={calls} successful={ok} failed={failed} wall={wall:.1f}s")
if mode == "setup":
    print(f"achieved rate: {ok / wall:.0f} calls/s")
    print(f"server cpu: {100 * cpu_s / wall:.1f}% of one core on average, {1000 * cpu_s / max(ok, 1):.3f} ms cpu per call")
    print(f"server rss: idle {idle_rss} KiB, peak {peak} KiB")
    if via == "kamailio":
        kcpu_s = (k1 - k0) / ticks
        print(f"kamailio cpu: {100 * kcpu_s / wall:.1f}% of one core on average, {1000 * kcpu_s / max(ok, 1):.3f} ms cpu per call; "
              f"chorus + kamailio {1000 * (cpu_s + kcpu_s) / max(ok, 1):.3f} ms per call")
else:
    steady = (cw1 - cw0) / ticks / (tw1 - tw0)
    per = "member" if mode == "conf" else "call"
    print(f"steady state with {calls} calls up: server cpu {100 * steady:.1f}% of one core = {100 * steady / calls:.3f}% per {per}")
    print(f"server rss: idle {idle_rss} KiB, with calls up {int(peak_rss)} KiB = {(peak_rss - idle_rss) / calls:.1f} KiB per call")
    if via:
        print(f"server cpu over the whole run (setup, media, teardown): {100 * cpu_s / wall:.1f}% of one core, "
              f"{1000 * cpu_s / max(ok, 1):.1f} ms per call")
    if via == "kamailio":
        ksteady = (kw1 - kw0) / ticks / (tw1 - tw0)
        kcpu_s = (k1 - k0) / ticks
        print(f"kamailio cpu: {100 * ksteady:.2f}% of one core with {calls} calls up; over the whole run "
              f"{100 * kcpu_s / wall:.2f}% of one core, {1000 * kcpu_s / max(ok, 1):.3f} ms per call")
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
if via:
    print(f"sipp retransmissions: {col('Retransmissions(C)')}, unexpected messages: {col('OutOfCallMsgs(C)')}"
          + (f"; kamailio shm max used {kshm}" if kshm else ""))
    rtd = [(h.split("_", 1)[1], last[i]) for i, h in enumerate(hdr) if h.startswith("ResponseTimeRepartition1_")]
    print(f"INVITE -> 200 at sipp: mean {col_ms('ResponseTime1(C)'):.0f} ms; "
          + ", ".join(f"{b} ms: {n}" for b, n in rtd if n not in ("", "0")))
    print(f"via={via}; load average before {load0}, after {load1}")
PY
echo "logs in $work" >&2
