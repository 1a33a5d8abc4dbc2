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
  serve-sink ADDR PORT            kernel-socket twin of ns-node's sink handler: for each
                                  connection read to EOF, answer "bytes=N\n", close
Exit 0 on success, 1 on failure (with the reason on stderr)."""
import socket
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


def main(argv):
    try:
        if argv[1] == "banner":
            return banner(argv[2], int(argv[3]), float(argv[4]) if len(argv) > 4 else 10.0)
        if argv[1] == "sink":
            return sink(argv[2], int(argv[3]), int(argv[4]))
        if argv[1] == "serve-sink":
            return serve_sink(argv[2], int(argv[3]))
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
