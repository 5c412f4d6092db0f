#!/usr/bin/env python3
"""Instructions per I/O from one callgrind dump of loopback_cost, split into
the loopback fabric's part and the target's own.

usage: callgrind_split.py <callgrind.out> --ios N --config group op bytes channels qd pollers
The dump was collected only inside srp::target::Channel::poll() (toggle-collect),
so its total is the target's poller work. The fabric's part is the inclusive
cost of every call from outside srp::fabric into it (LoopbackConnection's
post_*, poll, request_notification...): its mutex, queues and the copies
that stand in for a NIC's DMA. Prints one JSON line.
"""
import json
import re
import sys

NAMED = re.compile(r"^(c?fn)=\((\d+)\)(?: (.*))?$")


def split(path):
    """(total Ir, Ir of calls into srp::fabric from outside it), read from
    the dump's call records: after "cfn=" and "calls=", the next line ends
    with the call's inclusive cost."""
    names, total, fabric = {}, 0, 0
    caller = callee = ""
    pending = False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if pending:
                pending = False
                if callee.startswith("srp::fabric::") and not caller.startswith("srp::fabric::"):
                    fabric += int(line.split()[-1])
                continue
            m = NAMED.match(line)
            if m:
                kind, key, name = m.groups()
                if name:
                    names[key] = name
                if kind == "fn":
                    caller = names.get(key, "")
                else:
                    callee = names.get(key, "")
            elif line.startswith("calls="):
                pending = True
            elif line.startswith("totals:"):
                total = int(line.split()[1])
    return total, fabric


def main(argv):
    path, ios = argv[1], int(argv[argv.index("--ios") + 1])
    group, op, size, channels, qd, pollers = argv[argv.index("--config") + 1:][:6]
    total, fabric = split(path)
    print(json.dumps({"group": group, "op": op, "bytes": int(size), "channels": int(channels), "qd": int(qd),
                      "pollers": int(pollers), "ios": ios, "ir_per_io": total / ios,
                      "ir_fabric_per_io": fabric / ios, "ir_target_per_io": (total - fabric) / ios}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
