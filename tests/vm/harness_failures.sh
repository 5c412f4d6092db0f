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
if [ $rc -eq 124 ] && echo "$out" | grep -q "(VMX_TIMEOUT=30s); console tail"; then echo "hang killed at the timeout with the console tail: OK"
else echo "FAIL: expected rc 124 and a console tail, got rc $rc"; fail=1; fi
# A guest that never reports ready (as if its kernel hung while booting) is
# booted again once, then given up on with 124; one that reports ready on the
# second boot runs to its own exit status.
printf '#!/bin/bash\necho "never ready"\nsleep 1000\n' > "$T/never-ready.sh"
out=$(VMX_READY_TIMEOUT=15 VMX_TIMEOUT=120 "$RUN" "$T/never-ready.sh" 2>&1); rc=$?
echo "$out" | grep "^vmx:\|never ready"
if [ $rc -eq 124 ] && [ "$(echo "$out" | grep -c "not ready after 15s")" -eq 2 ] && echo "$out" | grep -q "booting the guest again (once)"; then
	echo "guest never ready: booted twice, then 124: OK"
else echo "FAIL: expected two boots and rc 124, got rc $rc"; fail=1; fi

# Too little of VMX_TIMEOUT left for a second boot: no retry, 124 at once.
out=$(VMX_READY_TIMEOUT=15 VMX_TIMEOUT=40 "$RUN" "$T/never-ready.sh" 2>&1); rc=$?
echo "$out" | grep "^vmx:\|never ready"
if [ $rc -eq 124 ] && echo "$out" | grep -q "left of VMX_TIMEOUT=40s: not booting again" && ! echo "$out" | grep -q "booting the guest again"; then
	echo "no time for a second boot: none, 124: OK"
else echo "FAIL: expected no second boot and rc 124, got rc $rc"; fail=1; fi

# The first boot hangs before ready; the second reports ready and exits 5.
# The guest tells the boots apart by a file in the run dir (it survives the retry).
cat > "$T/second-ready.sh" <<'EOS'
#!/bin/bash
source "$1/scripts/vm/guest-lib.sh"
if [ -e /run/vmx/first-boot-done ]; then echo "second boot"; vm_ready; exit 5; fi
: > /run/vmx/first-boot-done
echo "first boot hangs"; sleep 1000
EOS
# 40 s: each boot must reach its script (or vm_ready) before the deadline, on a loaded host too.
out=$(VMX_READY_TIMEOUT=40 VMX_TIMEOUT=150 "$RUN" "$T/second-ready.sh" "$ROOT" 2>&1); rc=$?
echo "$out" | grep "^vmx:\|boot"
if [ $rc -eq 5 ] && echo "$out" | grep -q "second boot" && [ "$(echo "$out" | grep -c "not ready after")" -eq 1 ]; then
	echo "hung first boot retried, second boot's exit status 5 passed through: OK"
else echo "FAIL: expected one retry and rc 5, got rc $rc"; fail=1; fi
exit $fail
