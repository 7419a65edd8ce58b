#!/usr/bin/env bash
# Regenerates the prompts the dialplans in dialplans/ use: espeak-ng speaks each line, sox makes it 8 kHz mono
# 16-bit PCM WAV (the G.711 rate; Chorus resamples for wideband calls) with leading and trailing silence cut.
# Run from anywhere: bash prompts/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
  echo "needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
speak() { # name text
  espeak-ng -v en-us -s 160 -w "$tmp/$1.wav" "$2"
  sox "$tmp/$1.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.1 norm -3
}

# hello keeps its original settings (slower, untrimmed): tests/media_hello_prompt.rs measures it.
espeak-ng -v en-us -s 150 -w "$tmp/hello.wav" "Hello, and welcome to Chorus. Goodbye."
sox "$tmp/hello.wav" -r 8000 -c 1 -b 16 -e signed-integer hello.wav norm -3

# Demo routes (ARCHITECTURE.md) and the examples.
speak welcome "Welcome to Chorus."
speak menu "To hear goodbye, press 1. To leave a recording, press 2. To join the conference, press 3."
speak goodbye "Goodbye."
speak invalid "Sorry, that is not a valid choice."
speak no-input "Sorry, I did not hear anything."
speak enter-digits "Please enter some digits, then press pound."
speak you-entered "You entered"
speak record-after-beep "Please record your message after the beep. Press pound when you are done."
speak room-full "Sorry, this conference is full."
speak enter-pin "Please enter your PIN, then press pound."
speak company-welcome "Thank you for calling Example Company."
speak company-menu "For sales, press 1. For support, press 2. To leave a message, press 3. To hear this again, press 9."
speak company-closed "Our office is closed. We are open Monday to Friday, from 9 to 5."
speak transferring "Please hold while we transfer your call."
speak enter-mailbox "Please enter the mailbox number, then press pound."
speak mailbox "Mailbox"
speak vm-greeting "is not available. Please leave a message after the beep, and press pound when you are done."
speak vm-saved "Your message has been saved. Thank you."
speak vm-review "To listen to your message, press 1. To keep it, press 2."
speak vm-failed "Sorry, your message could not be saved."

# say_digits: digit-0 … digit-9, digit-star, digit-pound.
digits=(zero one two three four five six seven eight nine)
for i in "${!digits[@]}"; do speak "digit-$i" "${digits[$i]}"; done
speak digit-star "star"
speak digit-pound "pound"

# say_number: number-0 … number-19, the tens, hundred, thousand, million.
ones=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
      seventeen eighteen nineteen)
for i in "${!ones[@]}"; do speak "number-$i" "${ones[$i]}"; done
tens=([20]=twenty [30]=thirty [40]=forty [50]=fifty [60]=sixty [70]=seventy [80]=eighty [90]=ninety)
for n in "${!tens[@]}"; do speak "number-$n" "${tens[$n]}"; done
speak number-hundred "hundred"
speak number-thousand "thousand"
speak number-million "million"

# A 400 ms 1 kHz beep at -6 dBFS, used before recording.
sox -n -r 8000 -c 1 -b 16 -e signed-integer beep.wav synth 0.4 sine 1000 vol 0.5
