#!/bin/sh
# GDB on the SystemC example: runs EXE (systemc_example) on GUEST with
# POLYHART_GDB set, then gdb-multiarch in batch mode stops the guest at
# main and at its trap handler, reads registers and a CSR, and lets it run
# to the end. The example's own checks must still pass: SystemC's time
# equals polyhart's, though GDB held the guest inside an advance.
#
#   debug-check.sh EXE GUEST
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 EXE GUEST" >&2
    exit 2
fi
exe=$1
guest=$2
command -v gdb-multiarch >/dev/null 2>&1 || { echo "$0: needs gdb-multiarch" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
POLYHART_GDB=127.0.0.1:$port "$exe" "$guest" >"$out/example" 2>&1 &
example=$!
# The example says it waits before it listens; polyhart_debug binds at once.
tries=0
until grep -q "waiting for GDB" "$out/example" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || { echo "$0: the example never waited for GDB" >&2; cat "$out/example" >&2; exit 1; }
    sleep 0.1
done
sleep 0.5
timeout 120 gdb-multiarch -nx -batch "$guest" \
    -ex "set confirm off" \
    -ex "target remote 127.0.0.1:$port" \
    -ex "break main" \
    -ex "continue" \
    -ex "print/x \$pc" \
    -ex "break handle_trap" \
    -ex "continue" \
    -ex "print \$mcause" \
    -ex "print \$a0 == \$mcause" \
    -ex "delete" \
    -ex "continue" >"$out/gdb" 2>&1 || true
status=0
wait $example || status=$?
fail() {
    echo "$0: $1" >&2
    echo "--- gdb:" >&2; cat "$out/gdb" >&2
    echo "--- the example:" >&2; cat "$out/example" >&2
    exit 1
}
# GDB puts "break main" after main's prologue: the pc is where it said.
at=$(sed -n 's/^Breakpoint 1 at \(0x[0-9a-f]*\).*/\1/p' "$out/gdb")
[ -n "$at" ] && grep -q "^\$1 = $at\$" "$out/gdb" || fail "GDB did not stop at main"
grep -q "Breakpoint 2, .*handle_trap" "$out/gdb" || fail "GDB did not stop in the trap handler"
grep -q '^\$3 = 1$' "$out/gdb" || fail "a0 in the handler is not mcause"
[ $status -eq 0 ] || fail "the example failed under GDB (status $status)"
grep -q "SystemC time .* is polyhart's" "$out/example" || fail "no time check"
echo "ok: GDB stopped the guest under SystemC at main and in its trap handler; the example's checks passed"
