#!/usr/bin/env python3
"""One call from a real SIP user agent (PJSUA2) for the end-to-end media tests.

Calls sip:USER@TARGET over UDP with no registration and a null sound device. Once media is active it
plays --play (a WAV) into the call and records what the call sends to --record, then hangs up after
--seconds, or with --wait-bye waits (at most --seconds) for the far end to hang up. With --dtmf it dials
those keys --dtmf-at seconds after media is up, as RFC 2833/4733 events or as SIP INFO (--dtmf-method).
For menus that need keys at several moments, repeat --dtmf-at T:KEYS (e.g. --dtmf-at 0.5:2 --dtmf-at 3.5:#):
each group is dialled T seconds after media is up; "dtmf_sent" is every key dialled, in order, and
"dtmf_times" lists [seconds after media, keys] as actually sent.
--clock-rate 16000 runs the media (and so the recorder) at 16 kHz for wideband codecs.

Keys the far end sends us: with --report-dtmf, "dtmf_received" is every key PJSUA reported by
Call.onDtmfDigit, in order, and "dtmf_events" every Call.onDtmfEvent as {"digit", "at" (seconds after media
was up), "duration_ms", "end" (the event's end rather than its start or an update), "method"}.
--no-telephone-event takes telephone-event out of our SDP offer (Call.onCallSdpCreated), so the far end
can only send keys as tones in the audio (record them with --record). --no-sdp-offer sends the INVITE
without SDP (PJSUA_CALL_NO_SDP_OFFER): the far end offers, in a reliable 183 or in its 200, and PJSUA
answers in the PRACK or the ACK. --reinvite T:CODEC sends a re-INVITE T seconds after media is up offering
only CODEC; "reinvite_status" is the far end's final answer to it, "codec" the codec in use at the end
(PJSUA reconnects the player and recorder when the re-INVITE rebuilds its stream; "media_updates" counts
those). Prints one JSON line:

    {"connected": true, "duration": 4.02, "remote_bye": false, "status": 200, "media_at": 0.11, ...}

("early_media" is true when media came up before the answer: a 183 with SDP; the call may then end with a
final refusal before it ever connects, which is not an error with --wait-bye.)

With --follow-transfer SECONDS a REFER from the far end is accepted (PJSUA's default), the new call it asks
for is tracked, and the script stays up to SECONDS after the first call ended while that call runs; then it
hangs the transferred call up (unless the far end did) and reports it under "transfer":

    {"transfer": {"refer_to": "<sip:echo@...>", "refer_at": 1.02, "created": true, "connected": true,
                  "status": 200, ...}}

("refer_at" is when the REFER came, in seconds after the first call's media was up: the --record time base.)

Everything runs on the main thread (callbacks are delivered from libHandleEvents), and the process always
ends: a hard alarm prints a result with an "error" and exits.
"""

import argparse
import json
import os
import signal
import sys
import time

import pjsua2 as pj

RESULT = {
    "connected": False,
    "duration": 0.0,
    "remote_bye": False,
    "status": None,
    "reason": "",
    "media_active": False,
    "codec": None,
    "dtmf_sent": None,
    "error": None,
}

# pjmedia_stream_dtmf_event_flags (pjmedia/stream.h), not exported by the Python binding.
DTMF_IS_UPDATE = 1
DTMF_IS_END = 2


def finish(code):
    print(json.dumps(RESULT), flush=True)
    # libDestroy can block on a wedged transport; the result is out, so leave without it.
    os._exit(code)


def on_alarm(_signum, _frame):
    RESULT["error"] = "hard timeout"
    finish(3)


class TransferredCall(pj.Call):
    """The call PJSUA places when the far end REFERs us (no media files, just its state)."""

    def __init__(self, acc):
        pj.Call.__init__(self, acc)
        self.confirmed_at = None
        self.disconnected = False
        self.we_hung_up = False
        self.info = {
            "created": True,
            "connected": False,
            "media_active": False,
            "status": None,
            "reason": "",
            "remote_uri": None,
            "duration": 0.0,
            "remote_bye": False,
        }

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.lastStatusCode:
            self.info["status"] = int(ci.lastStatusCode)
            self.info["reason"] = ci.lastReason
        self.info["remote_uri"] = ci.remoteUri
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
            self.info["connected"] = True
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            if self.confirmed_at is not None:
                self.info["duration"] = round(time.monotonic() - self.confirmed_at, 3)
                self.info["remote_bye"] = not self.we_hung_up

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for mi in ci.media:
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.info["media_active"] = True


class Call(pj.Call):
    def __init__(self, acc, args):
        pj.Call.__init__(self, acc)
        self.acc = acc
        self.args = args
        self.transferred = None
        self.ended_at = None
        self.confirmed_at = None
        self.disconnected = False
        self.we_hung_up = False
        self.player = None
        self.recorder = None
        self.media_at = None
        self.reinvite_sent = False

    def onCallSdpCreated(self, prm):
        if not self.args.no_telephone_event or prm.remSdp.wholeSdp:
            return
        # Our offer: drop telephone-event's payload types from the m= line and their attributes.
        sdp = prm.sdp.wholeSdp
        lines = sdp.replace("\r\n", "\n").split("\n")
        events = set()
        for line in lines:
            if line.startswith("a=rtpmap:") and "telephone-event/" in line:
                events.add(line[len("a=rtpmap:"):].split()[0])
        out = []
        for line in lines:
            if line.startswith("m=audio "):
                parts = line.split(" ")
                line = " ".join(parts[:3] + [p for p in parts[3:] if p not in events])
            elif any(line.startswith("a=%s:%s " % (a, pt)) or line == "a=%s:%s" % (a, pt)
                     for a in ("rtpmap", "fmtp") for pt in events):
                continue
            out.append(line)
        prm.sdp.wholeSdp = "\r\n".join(out)
        RESULT["offered_telephone_event"] = False

    def onDtmfDigit(self, prm):
        if not self.args.report_dtmf:
            return
        RESULT["dtmf_received"] = (RESULT.get("dtmf_received") or "") + prm.digit

    def onDtmfEvent(self, prm):
        if not self.args.report_dtmf:
            return
        at = None if self.media_at is None else round(time.monotonic() - self.media_at, 3)
        RESULT.setdefault("dtmf_events", []).append({
            "digit": prm.digit,
            "at": at,
            "duration_ms": int(prm.duration),
            "end": bool(prm.flags & DTMF_IS_END),
            "update": bool(prm.flags & DTMF_IS_UPDATE),
            "method": int(prm.method),
        })

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.lastStatusCode:
            RESULT["status"] = int(ci.lastStatusCode)
            RESULT["reason"] = ci.lastReason
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
            RESULT["connected"] = True
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.ended_at = time.monotonic()
            if self.confirmed_at is not None:
                RESULT["duration"] = round(time.monotonic() - self.confirmed_at, 3)
                RESULT["remote_bye"] = not self.we_hung_up

    def onCallTransferRequest(self, prm):
        xfer = RESULT.setdefault("transfer", {"refer_to": None, "created": False})
        xfer["refer_to"] = prm.dstUri
        if self.media_at is not None:
            # When the REFER came, in seconds after media was up (the --record file's time base).
            xfer["refer_at"] = round(time.monotonic() - self.media_at, 3)
        if self.args.follow_transfer is None:
            # PJSUA's default: accept, and the new call runs unwatched.
            return
        # Accept (prm.statusCode stays 202) and place the new call on an object we can watch.
        self.transferred = TransferredCall(self.acc)
        prm.newCall = self.transferred

    def onCallTsxState(self, prm):
        # The final answer to our re-INVITE: the first final status of a client INVITE transaction once
        # it is sent (the call's first INVITE ended seconds before).
        try:
            tsx = prm.e.body.tsxState.tsx
        except AttributeError:
            return
        if (self.reinvite_sent and "reinvite_status" not in RESULT and tsx.role == pj.PJSIP_ROLE_UAC
                and tsx.method == "INVITE" and tsx.statusCode >= 200):
            RESULT["reinvite_status"] = tsx.statusCode

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            aud = self.getAudioMedia(i)
            if self.media_at is not None:
                # A re-INVITE rebuilt the stream: same player and recorder on its (maybe new) port.
                RESULT["media_updates"] = RESULT.get("media_updates", 0) + 1
                if self.recorder is not None:
                    aud.startTransmit(self.recorder)
                if self.player is not None:
                    self.player.startTransmit(aud)
                try:
                    RESULT["codec"] = self.getStreamInfo(i).codecName
                except pj.Error:
                    pass
                continue
            if self.args.record:
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(self.args.record)
                aud.startTransmit(self.recorder)
            if self.args.play:
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(self.args.play, pj.PJMEDIA_FILE_NO_LOOP)
                self.player.startTransmit(aud)
            self.media_at = time.monotonic()
            RESULT["media_active"] = True
            # Media before the answer: early media from a 183 with SDP.
            RESULT["early_media"] = ci.state == pj.PJSIP_INV_STATE_EARLY
            try:
                RESULT["codec"] = self.getStreamInfo(i).codecName
            except pj.Error:
                pass


def send_dtmf(call, keys, method, at):
    """Dials keys: RFC 2833 events from the media stream, or one SIP INFO per key."""
    try:
        if method == "rfc2833":
            call.dialDtmf(keys)
        else:
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = keys
            call.sendDtmf(prm)
        RESULT["dtmf_sent"] = (RESULT["dtmf_sent"] or "") + keys
        RESULT.setdefault("dtmf_times", []).append([round(at, 3), keys])
    except pj.Error as e:
        RESULT["error"] = "dtmf: %s" % e.info()


def send_reinvite(ep, call, codec):
    """A re-INVITE whose offer has only `codec`."""
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith(codec + "/") else 0)
    try:
        call.reinvite_sent = True
        call.reinvite(pj.CallOpParam(True))
    except pj.Error as e:
        RESULT["error"] = "reinvite: %s" % e.info()


def dtmf_schedule(args, ap):
    """[(seconds after media, keys)] from --dtmf with a plain --dtmf-at, and every --dtmf-at T:KEYS."""
    schedule = []
    plain = 1.0
    for item in args.dtmf_at or []:
        if ":" in item:
            t, keys = item.split(":", 1)
            try:
                schedule.append((float(t), keys))
            except ValueError:
                ap.error("--dtmf-at %r: want SECONDS or SECONDS:KEYS" % item)
            if not keys:
                ap.error("--dtmf-at %r: no keys" % item)
        else:
            try:
                plain = float(item)
            except ValueError:
                ap.error("--dtmf-at %r: want SECONDS or SECONDS:KEYS" % item)
    if args.dtmf:
        schedule.append((plain, args.dtmf))
    schedule.sort(key=lambda e: e[0])
    return schedule


def follow_transfer(ep, call, seconds):
    """After the first call: let the transferred call run up to `seconds`, then hang it up; report it."""
    ended = call.ended_at or time.monotonic()
    limit = ended + seconds
    while time.monotonic() < limit:
        ep.libHandleEvents(10)
        if call.transferred is not None and call.transferred.disconnected:
            break
    xfer = RESULT.setdefault("transfer", {"refer_to": None, "created": False})
    t = call.transferred
    if t is None:
        return
    if not t.disconnected:
        t.we_hung_up = True
        try:
            t.hangup(pj.CallOpParam(True))
        except pj.Error as e:
            xfer["error"] = "hangup: %s" % e.info()
        limit = time.monotonic() + 2.0
        while not t.disconnected and time.monotonic() < limit:
            ep.libHandleEvents(10)
    xfer.update(t.info)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="HOST:PORT of the server")
    ap.add_argument("--user", required=True, help="Request-URI user (the dialplan route)")
    ap.add_argument("--play", help="WAV file to send into the call")
    ap.add_argument("--record", help="WAV file to write what the call sends us")
    ap.add_argument("--seconds", type=float, default=4.0, help="time in the call after media is up")
    ap.add_argument("--wait-bye", action="store_true", help="wait for the far end to hang up")
    ap.add_argument("--codec", choices=["PCMU", "PCMA", "G722"], help="offer only this codec")
    ap.add_argument("--prefer", choices=["PCMU", "PCMA", "G722"], help="offer this codec first (and the rest)")
    ap.add_argument("--clock-rate", type=int, default=8000, help="media clock rate (recorder rate)")
    ap.add_argument("--dtmf", help="keys to dial once media is up")
    ap.add_argument("--dtmf-method", choices=["rfc2833", "info"], default="rfc2833")
    ap.add_argument(
        "--dtmf-at",
        action="append",
        help="seconds after media is up to dial --dtmf (default 1.0); or SECONDS:KEYS, repeatable",
    )
    ap.add_argument("--rtp-port", type=int, default=0, help="first local RTP port (0: any)")
    ap.add_argument("--report-dtmf", action="store_true",
                    help='report keys the far end sends ("dtmf_received", "dtmf_events")')
    ap.add_argument("--no-telephone-event", action="store_true",
                    help="offer no telephone-event (keys can then only come as tones in the audio)")
    ap.add_argument("--header", action="append", default=[],
                    help='an extra header for the INVITE, "Name: value" (repeatable)')
    ap.add_argument("--from-uri", default="sip:pjsua@127.0.0.1",
                    help='our From, e.g. \'"Alice" <sip:4711@127.0.0.1>\' (default sip:pjsua@127.0.0.1)')
    ap.add_argument("--reinvite", help="SECONDS:CODEC: re-INVITE offering only CODEC that long after media is up")
    ap.add_argument("--no-sdp-offer", action="store_true",
                    help="send the INVITE without SDP (late offer): the far end offers, we answer")
    ap.add_argument(
        "--follow-transfer",
        type=float,
        help="accept a REFER and keep the transferred call up to SECONDS after the first call ends",
    )
    ap.add_argument("--log-level", type=int, default=1)
    args = ap.parse_args()
    schedule = dtmf_schedule(args, ap)
    if args.report_dtmf:
        RESULT["dtmf_received"] = ""
        RESULT["dtmf_events"] = []

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.seconds + (args.follow_transfer or 0)) + 15)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "chorus-e2e-pjsua"
    cfg.logConfig.level = args.log_level
    cfg.logConfig.consoleLevel = args.log_level
    cfg.medConfig.clockRate = args.clock_rate
    cfg.medConfig.sndClockRate = args.clock_rate
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)

    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    tcfg.publicAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()

    if args.codec:
        wanted = args.codec + "/"
        for c in ep.codecEnum2():
            ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith(wanted) else 0)
    elif args.prefer:
        for c in ep.codecEnum2():
            if c.codecId.startswith(args.prefer + "/"):
                ep.codecSetPriority(c.codecId, 255)

    acfg = pj.AccountConfig()
    acfg.idUri = args.from_uri
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    acfg.mediaConfig.transportConfig.portRange = 8 if args.rtp_port else 0
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
    acfg.natConfig.iceEnabled = False
    acc = pj.Account()
    acc.create(acfg)

    call = Call(acc, args)
    prm = pj.CallOpParam(True)
    if args.no_sdp_offer:
        prm.opt.flag |= pj.PJSUA_CALL_NO_SDP_OFFER
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            ap.error("--header %r: want 'Name: value'" % item)
        h = pj.SipHeader()
        h.hName = name.strip()
        h.hValue = value.strip()
        prm.txOption.headers.append(h)
    try:
        call.makeCall("sip:%s@%s" % (args.user, args.target), prm)
    except pj.Error as e:
        RESULT["error"] = "makeCall: %s" % e.info()
        finish(2)

    reinvite = None
    if args.reinvite:
        t, _, codec = args.reinvite.partition(":")
        try:
            reinvite = (float(t), codec)
        except ValueError:
            ap.error("--reinvite %r: want SECONDS:CODEC" % args.reinvite)
    start = time.monotonic()
    setup_limit = start + 5.0
    while not call.disconnected:
        ep.libHandleEvents(10)
        now = time.monotonic()
        if call.media_at is None:
            if now > setup_limit and call.confirmed_at is None:
                RESULT["error"] = "no answer within 5 s"
                break
            continue
        while schedule and now - call.media_at >= schedule[0][0]:
            _, keys = schedule.pop(0)
            send_dtmf(call, keys, args.dtmf_method, now - call.media_at)
        if reinvite is not None and now - call.media_at >= reinvite[0]:
            send_reinvite(ep, call, reinvite[1])
            reinvite = None
        if now - call.media_at >= args.seconds:
            if args.wait_bye:
                RESULT["error"] = "no BYE within %.1f s" % args.seconds
            break

    if call.media_at is not None:
        RESULT["media_at"] = round(call.media_at - start, 3)
    if not call.disconnected:
        call.we_hung_up = True
        try:
            call.hangup(pj.CallOpParam(True))
        except pj.Error as e:
            RESULT["error"] = RESULT["error"] or "hangup: %s" % e.info()
        # Let the BYE and its 200 go through, and the recorder close its file.
        limit = time.monotonic() + 2.0
        while not call.disconnected and time.monotonic() < limit:
            ep.libHandleEvents(10)
    if args.follow_transfer is not None:
        follow_transfer(ep, call, args.follow_transfer)
    # Deleting the recorder queues its removal from the conference bridge; the bridge's clock thread then
    # destroys the port, which writes the WAV header. Give it a few frames before leaving.
    call.player = None
    call.recorder = None
    limit = time.monotonic() + 0.3
    while time.monotonic() < limit:
        ep.libHandleEvents(10)
    finish(0 if RESULT["error"] is None else 1)


if __name__ == "__main__":
    main()
