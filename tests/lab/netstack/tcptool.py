#!/usr/bin/python3
"""TCP helper for the netstack lab tests and benchmark (the namespaces have no nc):
  banner HOST PORT [TIMEOUT]      print the first line the server sends; then send
                                  "echo-check\\n" and fail unless it comes back (only when
                                  the banner is ours: OpenSSH does not echo)
  sink HOST PORT BYTES            send BYTES, half-close, read the answer; print
                                  "bytes=N seconds=S mbit=M" (the server's answer must
                                  report N bytes when it is our sink handler)
  wait HOST PORT TIMEOUT          wait until a TCP connect succeeds
  refused HOST PORT               succeed only if the connect is refused (RST to the SYN)
  ping HOST                       ICMP echo (raw socket, IPv4) until a reply, at most 5 s
  serve-sink ADDR PORT            kernel-socket twin of ns-node's sink handler: for each
                                  connection read to EOF, answer "bytes=N\n", close
Exit 0 on success, 1 on failure (with the reason on stderr)."""
import os
import socket
import struct
import sys
import time


def connect(host, port, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace").rstrip("\r\n")


def banner(host, port, timeout=10.0):
    s = connect(host, port, timeout)
    line = readline(s)
    print(line)
    if line.startswith("MESH-NETSTACK-HANDLER"):
        s.sendall(b"echo-check\n")
        back = readline(s)
        if back != "echo-check":
            print("echo mismatch: %r" % back, file=sys.stderr)
            return 1
    s.close()
    return 0


def sink(host, port, total):
    s = connect(host, port, 60.0)
    chunk = b"\xa5" * (256 * 1024)
    sent = 0
    t0 = time.monotonic()
    while sent < total:
        n = min(len(chunk), total - sent)
        s.sendall(chunk[:n])
        sent += n
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        answer += d
    dt = time.monotonic() - t0
    ans = answer.decode(errors="replace").strip()
    if ans and ans != "bytes=%d" % total:
        print("sink answered %r, sent %d" % (ans, total), file=sys.stderr)
        return 1
    print("bytes=%d seconds=%.3f mbit=%.1f" % (total, dt, total * 8 / dt / 1e6))
    return 0


def wait(host, port, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            connect(host, port, 1.0).close()
            return 0
        except OSError:
            time.sleep(0.1)
    print("nothing answers on %s:%d" % (host, port), file=sys.stderr)
    return 1


def serve_sink(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(8)
    buf = bytearray(1 << 20)
    while True:
        c, _ = ls.accept()
        n = 0
        while True:
            k = c.recv_into(buf)
            if not k:
                break
            n += k
        c.sendall(b"bytes=%d\n" % n)
        c.close()


def refused(host, port):
    try:
        connect(host, port, 10.0).close()
    except ConnectionRefusedError:
        return 0
    except OSError as e:
        print("connect to %s:%d: %s (want: refused)" % (host, port, e), file=sys.stderr)
        return 1
    print("connect to %s:%d succeeded (want: refused)" % (host, port), file=sys.stderr)
    return 1


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(0.5)
    ident = os.getpid() & 0xFFFF
    end = time.monotonic() + 5
    seq = 0
    while time.monotonic() < end:
        seq += 1
        body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"netstack"
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        s.sendto(body, (host, 0))
        try:
            while True:
                data, addr = s.recvfrom(2048)
                ihl = (data[0] & 15) * 4
                t, _, _, i, q = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if addr[0] == host and t == 0 and i == ident and data[ihl + 8:] == b"netstack":
                    print("echo reply from %s seq %d" % (host, q))
                    return 0
        except socket.timeout:
            pass
    print("no echo reply from %s" % host, file=sys.stderr)
    return 1


def main(argv):
    try:
        if argv[1] == "banner":
            return banner(argv[2], int(argv[3]), float(argv[4]) if len(argv) > 4 else 10.0)
        if argv[1] == "sink":
            return sink(argv[2], int(argv[3]), int(argv[4]))
        if argv[1] == "serve-sink":
            return serve_sink(argv[2], int(argv[3]))
        if argv[1] == "ping":
            return ping(argv[2])
        if argv[1] == "refused":
            return refused(argv[2], int(argv[3]))
        if argv[1] == "wait":
            return wait(argv[2], int(argv[3]), float(argv[4]))
    except (OSError, IndexError, ValueError) as e:
        print("tcptool %s: %s" % (" ".join(argv[1:]), e), file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
