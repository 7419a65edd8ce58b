#!/usr/bin/env bash
# The test command (README "Running the tests"): installs the real peers the end-to-end tests call
# (SIPp, PJSUA2, sox, Kamailio) when they are missing, then runs every unit, corpus and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v sox >/dev/null 2>&1 || missing+=(sox)
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || missing+=(kamailio)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import pjsua2' >/dev/null 2>&1; then
  echo "installing pjsua2-python" >&2
  python3 -m pip install -q pjsua2-python
fi

cargo build -p chorus --bin chorus
export CHORUS_BIN="$PWD/target/debug/chorus"
cargo test --workspace --all-targets
