#!/usr/bin/env bash
# Regenerates the demo prompts: espeak-ng speaks each line, sox makes it 8 kHz mono 16-bit PCM WAV
# (the G.711 rate; Chorus resamples for wideband calls). Run from anywhere: bash prompts/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
  echo "needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }
speak() { # name text
  espeak-ng -v en-us -s 150 -w "/tmp/chorus-prompt-$1.wav" "$2"
  sox "/tmp/chorus-prompt-$1.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav" norm -3
  rm -f "/tmp/chorus-prompt-$1.wav"
}
speak hello "Hello, and welcome to Chorus. Goodbye."
# A 400 ms 1 kHz beep at -6 dBFS, used before recording.
sox -n -r 8000 -c 1 -b 16 -e signed-integer beep.wav synth 0.4 sine 1000 vol 0.5
