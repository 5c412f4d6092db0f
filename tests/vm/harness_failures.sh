#!/bin/bash
# Host-side test of the harness itself: a guest script's exit status comes
# back, and a guest that hangs is killed at the timeout with the console tail.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$ROOT/scripts/vm/run-in-vm.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

printf '#!/bin/bash\necho "guest says hi"\nexit 3\n' > "$T/exit3.sh"
out=$("$RUN" "$T/exit3.sh" 2>&1); rc=$?
echo "$out" | tail -3
if [ $rc -eq 3 ] && echo "$out" | grep -q "guest says hi"; then echo "exit status 3 passed through: OK"
else echo "FAIL: expected rc 3 and the guest's output, got rc $rc"; fail=1; fi

printf '#!/bin/bash\necho "about to hang"\nsleep 1000\n' > "$T/hang.sh"
out=$(VMX_TIMEOUT=30 "$RUN" "$T/hang.sh" 2>&1); rc=$?
echo "$out" | tail -5
if [ $rc -eq 124 ] && echo "$out" | grep -q "TIMEOUT after 30s; console tail"; then echo "hang killed at the timeout with the console tail: OK"
else echo "FAIL: expected rc 124 and a console tail, got rc $rc"; fail=1; fi
exit $fail
