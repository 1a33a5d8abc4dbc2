#!/usr/bin/env python3
"""control-scale's waits over the simulated nodes' output files (ctl-node --stamps lines).

Each wait reads every file once from the start and then only what was appended, so the
waiting itself costs little CPU while 10 000 nodes write (it shares the machine with them).

  control_scale_wait.py up WORK TIMEOUT KIND:PEERS:COUNT...  every instance's latest full
      netmap (cache=0) of KIND has PEERS peers, COUNT instances per KIND
  control_scale_wait.py change WORK TIMEOUT VERSION T0 TOTAL  "P50 PMAX A50 AMAX": ms from T0
      until each node received (recv) / applied (netmap) a map of VERSION or later
  control_scale_wait.py delta WORK TIMEOUT GLOB T0 COUNT  ms from T0 until every instance in
      the files GLOB names received a delta after T0
  control_scale_wait.py quiet WORK TIMEOUT QUIET  until no node has received a map message
      (a recv line) for QUIET seconds: registration and its online-status deltas settled
Exits 1 with what is missing on stderr when TIMEOUT seconds pass first."""
import glob
import os
import sys
import time


class Tail:
    def __init__(self, pattern):
        self.pattern, self.pos, self.part = pattern, {}, {}

    def lines(self):
        for path in glob.glob(self.pattern):
            with open(path) as f:
                f.seek(self.pos.get(path, 0))
                data = f.read()
                self.pos[path] = f.tell()
            data = self.part.pop(path, "") + data
            *done, rest = data.split("\n")
            if rest:
                self.part[path] = rest
            for line in done:
                yield path, line.split()


def wait(check, timeout, what):
    deadline = time.time() + timeout
    while True:
        ok = check()
        if ok is not None:
            return ok
        if time.time() > deadline:
            print(what(), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.3)


def up(work, timeout, specs):
    tails = {}
    last = {}
    for spec in specs:
        kind, peers, count = spec.split(":")
        tails[kind] = (Tail(f"{work}/{kind}-*.out"), int(peers), int(count))
        last[kind] = {}

    def check():
        for kind, (t, _, _) in tails.items():
            for path, f in t.lines():
                if len(f) >= 5 and f[0] == "netmap" and f[4] == "cache=0":
                    last[kind][(path, f[1])] = int(f[3].split("=")[1])
        for kind, (_, peers, count) in tails.items():
            v = last[kind].values()
            if len(v) != count or any(p != peers for p in v):
                return None
        return 0

    def what():
        return "; ".join(f"{k}: {len(last[k])} of {c} have a netmap, "
                         f"{sum(1 for p in last[k].values() if p == peers)} with {peers} peers"
                         for k, (_, peers, c) in tails.items())
    wait(check, timeout, what)


def change(work, timeout, version, t0, total):
    t = Tail(f"{work}/*-*.out")
    recv, applied = {}, {}

    def check():
        for path, f in t.lines():
            if len(f) >= 5 and f[0] == "recv" and int(f[2]) >= version:
                d, tm = recv, int(f[4].split("=")[1])
            elif len(f) >= 6 and f[0] == "netmap" and f[4] == "cache=0" and int(f[2]) >= version:
                d, tm = applied, int(f[5].split("=")[1])
            else:
                continue
            key = (path, f[1])
            d[key] = min(d.get(key, tm), tm)
        return 0 if len(recv) >= total and len(applied) >= total else None
    wait(check, timeout, lambda: f"{total - len(applied)} nodes never got the change")
    r = sorted(x - t0 for x in recv.values())
    a = sorted(x - t0 for x in applied.values())
    print(r[len(r) // 2], r[-1], a[len(a) // 2], a[-1])


def delta(work, timeout, pattern, t0, count):
    t = Tail(f"{work}/{pattern}")
    got = {}

    def check():
        for path, f in t.lines():
            if len(f) == 5 and f[0] == "recv" and f[3] == "delta":
                tm = int(f[4].split("=")[1])
                if tm >= t0:
                    got[(path, f[1])] = min(got.get((path, f[1]), tm), tm)
        return 0 if len(got) >= count else None
    wait(check, timeout, lambda: f"{count - len(got)} peers never got the delta")
    print(max(got.values()) - t0)


def quiet(work, timeout, quiet_s):
    t = Tail(f"{work}/*-*.out")
    last = [time.time()]

    def check():
        if any(f and f[0] == "recv" for _, f in t.lines()):
            last[0] = time.time()
        return 0 if time.time() - last[0] >= quiet_s else None
    wait(check, timeout, lambda: f"still getting map messages after {timeout} s")


def main():
    cmd, work, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    args = sys.argv[4:]
    if cmd == "up":
        up(work, timeout, args)
    elif cmd == "change":
        change(work, timeout, int(args[0]), int(args[1]), int(args[2]))
    elif cmd == "delta":
        delta(work, timeout, args[0], int(args[1]), int(args[2]))
    elif cmd == "quiet":
        quiet(work, timeout, float(args[0]))
    else:
        sys.exit(f"unknown wait {cmd!r}")


if __name__ == "__main__":
    main()
