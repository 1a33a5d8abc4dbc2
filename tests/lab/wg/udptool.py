#!/usr/bin/python3
"""UDP helper for the wg lab tests (the namespaces have no ping/nc):
  echo ADDR PORT LOGFILE          answer every datagram; append "SRC payload" lines to LOGFILE
  probe [--src A] DST PORT TIMEOUT [TEXT]
                                  send TEXT (default 'probe') until an answer or TIMEOUT s;
                                  exit 0 on an answer
  send [--src A] DST PORT TEXT    send one datagram, no answer expected
  stream DST PORT SECONDS         send a datagram every 0.1 s for SECONDS (background traffic)
  flood DST PORT COUNT SECONDS    COUNT 148-byte handshake initiations with random mac1,
                                  spread over about SECONDS"""
import os, socket, sys, time


def sock(src=None, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    return s


def main(argv):
    src = None
    if len(argv) > 2 and argv[1] == "--src":
        src = argv[2]
        argv = argv[:1] + argv[3:]
    cmd = argv[0]
    if cmd == "echo":
        addr, port, log = argv[1], int(argv[2]), argv[3]
        s = sock()
        s.bind((addr, port))
        with open(log, "a", buffering=1) as f:
            while True:
                data, peer = s.recvfrom(65535)
                f.write("%s %s\n" % (peer[0], data.decode(errors="replace")))
                s.sendto(data, peer)
    if cmd == "probe":
        dst, port, timeout = argv[1], int(argv[2]), float(argv[3])
        text = (argv[4] if len(argv) > 4 else "probe").encode()
        s = sock(src)
        s.settimeout(0.2)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.sendto(text, (dst, port))
            try:
                if s.recv(65535) == text:
                    return 0
            except (socket.timeout, OSError):
                time.sleep(0.05)
        return 1
    if cmd == "send":
        sock(src).sendto(argv[3].encode(), (argv[1], int(argv[2])))
        return 0
    if cmd == "stream":
        s = sock(src)
        end = time.monotonic() + float(argv[3])
        while time.monotonic() < end:
            try:
                s.sendto(b"stream", (argv[1], int(argv[2])))
            except OSError:
                pass
            time.sleep(0.1)
        return 0
    if cmd == "flood":
        dst, port, count, secs = argv[1], int(argv[2]), int(argv[3]), float(argv[4])
        s = sock()
        burst = 500
        pause = secs / (count / burst)
        sent = 0
        while sent < count:
            for _ in range(min(burst, count - sent)):
                pkt = b"\x01\x00\x00\x00" + os.urandom(144)
                try:
                    s.sendto(pkt, (dst, port))
                except OSError:
                    pass
                sent += 1
            if sent == min(burst, count):
                print("flood: started", flush=True)
            time.sleep(pause)
        print("flood: sent %d" % sent)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
