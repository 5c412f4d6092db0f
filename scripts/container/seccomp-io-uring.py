#!/usr/bin/env python3
"""seccomp-io-uring.py [PROFILE] > OUT.json: a container seccomp profile that
is PROFILE (default: podman's /usr/share/containers/seccomp.json) plus the
three io_uring system calls.

Why: srp_target serves file and block device LUNs through io_uring, and the
default profiles of podman (containers-common) and docker leave io_uring out,
so io_uring_setup fails with ENOSYS and the target refuses to start
("io_uring_queue_init: Function not implemented"). Memory LUNs (tmpfs,
hugetlbfs, anonymous) do not need it. Use the output with
`--security-opt seccomp=OUT.json` (README.md, "Containers")."""
import json
import sys

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]


def main() -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(source, encoding="utf-8") as f:
        profile = json.load(f)
    rules = profile.get("syscalls")
    if not isinstance(rules, list) or "defaultAction" not in profile:
        print(f"seccomp-io-uring: {source} is not a seccomp profile (no defaultAction/syscalls)", file=sys.stderr)
        return 1
    # One allow rule for the three; a second rule naming one of them would
    # give it two actions, so they are dropped from every other rule.
    for rule in rules:
        rule["names"] = [n for n in rule.get("names", []) if n not in IO_URING]
    profile["syscalls"] = [{"names": IO_URING, "action": "SCMP_ACT_ALLOW"}] + [r for r in rules if r["names"]]
    json.dump(profile, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
