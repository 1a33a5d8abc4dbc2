#!/usr/bin/python3
"""An authenticated SSH client that misbehaves on purpose (paramiko, driven past its own
rules), to show what the server spends on it.  Bounded: at most 64 MiB or 12 s of sending.

    ssh-overrun.py window  PORT KNOWN_HOSTS SERVER_PID
        opens a session running `sleep 30` (nobody reads its stdin) and sends 64 MiB of
        channel data ignoring the window the server grants
    ssh-overrun.py replies PORT KNOWN_HOSTS SERVER_PID
        stops reading the socket, then asks for session channels for 10 s: past the
        server's channel limit each one is refused with a reason (about 3.5 times the
        request's bytes), so the answers pile up at the server, then the requests it stops
        answering (the server closes it once those would cost more than 1 MiB)
    ssh-overrun.py resume  PORT KNOWN_HOSTS SERVER_PID
        as replies, but only 1500 channels (within that bound), then reads again: the
        server should answer every request and keep the connection

Prints one line: "closed=BOOL sent_kib=N opens=N max_send_stall_ms=N rss_growth_mib=N"
(opens: channel opens sent; max_send_stall_ms: the longest one send blocked; the server's
VmRSS before and after, but under ASan its quarantine keeps freed memory)."""
import sys
import threading
import time

import paramiko
import paramiko.packet
from paramiko.common import cMSG_CHANNEL_OPEN
from paramiko.message import Message

MAX_BYTES = 64 << 20
mode, port, known_hosts, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise SystemExit("no VmRSS for pid " + pid)


c = paramiko.SSHClient()
c.load_host_keys(known_hosts)
c.connect("127.0.0.1", port=port, username="alice", password="not-checked", allow_agent=False,
          look_for_keys=False, timeout=10)
t = c.get_transport()
sent = opens = 0
max_stall = 0.0
deadline = time.monotonic() + 12

if mode == "window":
    ch = t.open_session()
    ch.exec_command("sleep 30")
    time.sleep(0.5)
    base = rss_mib()
    ch.out_window_size = 1 << 31  # from here on the window the server grants is ignored
    chunk = b"x" * 32768
    try:
        while sent < MAX_BYTES and time.monotonic() < deadline:
            n = ch.send(chunk)
            if n <= 0:
                break
            sent += n
    except Exception as e:
        print("send:", repr(e), file=sys.stderr)
    time.sleep(1)
    closed = ch.closed or not t.is_active()
elif mode in ("replies", "resume"):
    time.sleep(0.5)
    base = rss_mib()
    # nobody reads the socket any more: the reader thread's next read waits for `reading`
    reading = threading.Event()
    read_all = paramiko.packet.Packetizer.read_all

    def held_read_all(self, n, check_rekey=False):
        reading.wait()
        return read_all(self, n, check_rekey)

    paramiko.packet.Packetizer.read_all = held_read_all
    flood_end = time.monotonic() + (10 if mode == "replies" else 2.5)

    def flood():
        global sent, opens, max_stall
        chanid = 1000
        while (sent < MAX_BYTES and time.monotonic() < flood_end and
               (mode == "replies" or opens < 1500)):
            m = Message()
            m.add_byte(cMSG_CHANNEL_OPEN)
            m.add_string("session")
            m.add_int(chanid)
            m.add_int(1 << 20)
            m.add_int(32768)
            chanid += 1
            t0 = time.monotonic()
            t._send_message(m)
            max_stall = max(max_stall, time.monotonic() - t0)
            sent += len(m.asbytes())
            opens += 1

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    if mode == "resume":
        time.sleep(2.5)
        reading.set()
    th.join(12)
    time.sleep(0.5 if mode == "replies" else 3)
    closed = not t.is_active()
else:
    raise SystemExit("mode: window, replies or resume")

print(f"closed={closed} sent_kib={sent >> 10} opens={opens} max_send_stall_ms={int(max_stall * 1000)} "
      f"rss_growth_mib={rss_mib() - base}")
sys.stdout.flush()
# the reader thread may sleep in the patched read: leave without waiting for it
import os  # noqa: E402

os._exit(0)
