#!/usr/bin/env python3
"""Raw TCP probes for the security labs (a hostile tailnet peer's tools), stdlib only.

  rawtcp.py probe SRC DST DPORT FLAGS [--frag] [--complete DATA]

Sends one TCP segment SRC:sport -> DST:DPORT with FLAGS (letters S A F R P), IPv4, and
reports what came back within 2 s: "answer FLAGS" or "no answer".  --frag splits the
segment into two IPv4 fragments, the first holding only the first 8 bytes of the TCP
header (ports and sequence number; the flags are in the second).  --complete DATA: on a
SYN|ACK, acknowledges it and sends DATA, as a peer finishing a handshake by hand would
(the caller must keep its own kernel from answering the SYN|ACK with a RST).
"""
import os
import random
import select
import socket
import struct
import sys
import time

TTL = 77  # marks our packets (a lab may drop its kernel's RSTs but not ours)
FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload=b""):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def ip_packet(src, dst, payload, ident, frag_field):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag_field, TTL, 6, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def flag_names(bits):
    return "".join(k for k, v in FLAG_BITS.items() if bits & v) or "-"


def main():
    args = sys.argv[1:]
    if len(args) < 5 or args[0] != "probe":
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, dport, flags = args[1], args[2], int(args[3]), args[4]
    frag = "--frag" in args
    data = args[args.index("--complete") + 1].encode() if "--complete" in args else None
    bits = 0
    for ch in flags:
        bits |= FLAG_BITS[ch]
    sport = random.randint(20000, 60000)
    seq = random.randint(0, 2**32 - 1)
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    seg = tcp_segment(src, dst, sport, dport, seq, 0 if bits & 0x02 else 1, bits)
    ident = random.randint(1, 65535)
    if frag:
        pkts = [ip_packet(src, dst, seg[:8], ident, 0x2000), ip_packet(src, dst, seg[8:], ident, 1)]
    else:
        pkts = [ip_packet(src, dst, seg, ident, 0)]
    for p in pkts:
        tx.sendto(p, (dst, 0))
    deadline = time.time() + 2
    answer = None
    while time.time() < deadline:
        r, _, _ = select.select([rx], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        pkt, (from_addr, _) = rx.recvfrom(65535)
        ihl = (pkt[0] & 15) * 4
        t = pkt[ihl:]
        if from_addr != dst or len(t) < 20:
            continue
        rsport, rdport, rseq = struct.unpack("!HHI", t[:8])
        if rsport != dport or rdport != sport:
            continue
        answer = t[13]
        if data is not None and answer & 0x12 == 0x12:
            ack = tcp_segment(src, dst, sport, dport, seq + 1, (rseq + 1) & 0xFFFFFFFF, 0x10)
            tx.sendto(ip_packet(src, dst, ack, ident + 1, 0), (dst, 0))
            push = tcp_segment(src, dst, sport, dport, seq + 1, (rseq + 1) & 0xFFFFFFFF, 0x18, data)
            tx.sendto(ip_packet(src, dst, push, ident + 2, 0), (dst, 0))
        break
    print("no answer" if answer is None else "answer " + flag_names(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
