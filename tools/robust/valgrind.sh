#!/usr/bin/env bash
# valgrind.sh - build/parley-peer under valgrind (memcheck, full leak check) through a
# scripted session over loopback, then a graceful admin SHUTDOWN so that every exit path
# runs: PING, STATS and PEERS as the admin, send-raw of invalid frames (from
# vectors/messages.json), garbage and a half-open handshake on raw sockets, a SHUTDOWN
# from a non-admin (NACK UNAUTHORIZED), the admin's SHUTDOWN.
#
# Passes when valgrind reports "ERROR SUMMARY: 0 errors" and no definite loss, and the
# peer exits 0. Bounded: every client call has --timeout and a `timeout` wrapper, the peer
# runs under `timeout 180`.
#
# Usage: tools/robust/valgrind.sh   (BUILD=build by default; `make valgrind` runs it)
set -u

BUILD=${BUILD:-build}
PEER=$BUILD/parley-peer
CLI=$BUILD/parley
PY=/usr/bin/python3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/parley-valgrind.XXXXXX")
FAILS=0
VG_PID=

cleanup() {
    if [ -n "$VG_PID" ] && kill -0 "$VG_PID" 2>/dev/null; then
        kill "$VG_PID" 2>/dev/null
        sleep 1
        kill -9 "$VG_PID" 2>/dev/null
    fi
    wait 2>/dev/null
    if [ "$FAILS" -eq 0 ]; then rm -rf "$T"; else echo "logs kept in $T"; fi
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1"
    FAILS=$((FAILS + 1))
}

for bin in "$PEER" "$CLI"; do
    [ -x "$bin" ] || { echo "FAIL $bin not built (make programs)"; FAILS=1; exit 1; }
done
command -v valgrind >/dev/null || { echo "FAIL valgrind not installed"; FAILS=1; exit 1; }

# cli NAME EXPECTED_RCS ARGS...: the client (valgrind makes the peer slow: long timeouts).
cli() {
    local name=$1 want=$2 rc
    shift 2
    timeout 60 "$CLI" --timeout 20000 "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    case " $want " in
    *" $rc "*) pass "$name (exit $rc)" ;;
    *) fail "$name (exit $rc, expected $want): $(head -c 300 "$T/$name.err")" ;;
    esac
}

# Keys: the admin's key file by the CLI, the peer's created by the peer itself.
timeout 30 "$CLI" keygen "$T/admin.key" >/dev/null 2>&1 || { fail "keygen"; exit 1; }

timeout 180 valgrind --leak-check=full --error-exitcode=99 --log-file="$T/valgrind.log" \
    "$PEER" --tcp 127.0.0.1:0 --key "$T/peer.key" --admin-key "$T/admin.key" \
    --data "$T/data" --log-level info 2>"$T/peer.log" &
VG_PID=$!

PORT=
for _ in $(seq 300); do # up to 30 s: valgrind starts slowly
    PORT=$(sed -n 's/.*event=listening.* port=\([0-9][0-9]*\).*/\1/p' "$T/peer.log" | head -n1)
    [ -n "$PORT" ] && break
    kill -0 "$VG_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$PORT" ]; then
    fail "parley-peer under valgrind did not start: $(tail -n 5 "$T/peer.log")"
    exit 1
fi
TARGET=127.0.0.1:$PORT
pass "peer listening on $TARGET under valgrind"

cli ping 0 ping "$TARGET" --count 3
cli stats_admin 0 --key "$T/admin.key" stats "$TARGET"
cli peers_admin 0 --key "$T/admin.key" peers "$TARGET"
cli stats_not_admin 1 stats "$TARGET"

# Invalid frames from the vectors, sent inside one session: answered NACK (exit 1), or
# the session closed by the peer (exit 1); never no answer (3).
mapfile -t BAD < <("$PY" - "$ROOT/vectors/messages.json" <<'EOF'
import json, sys
for g in json.load(open(sys.argv[1]))["testGroups"]:
    for t in g["tests"]:
        h = t["hex"]
        # whole frames of at most 1 KiB, requests only (a response is never answered)
        if t["result"] == "invalid" and len(h) <= 2048 and not int(h[2:4], 16) & 1:
            print(h)
EOF
)
if [ "${#BAD[@]}" -gt 0 ]; then
    for i in $(seq 0 8 $((${#BAD[@]} - 1))); do
        cli "send_raw_invalid_$i" "0 1" send-raw "$TARGET" "${BAD[@]:$i:8}"
    done
else
    fail "no invalid frames found in vectors/messages.json"
fi
# Frames with reserved flags, an unknown opcode, MORE on tag 0, an oversized length.
cli send_raw_headers "0 1" send-raw "$TARGET" 02f0000100000000 ff00000200000000 \
    0202000000000000 02040004000000017a

# Raw sockets: garbage before the preface, a HELLO then a close, a HELLO and a bad
# handshake length, a record-sized garbage after a partial handshake.
"$PY" - "$PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
hello = b"PARLEY\x01\x01\x01"
for data in (b"GET / HTTP/1.1\r\n\r\n", hello, hello + b"\xff\xff" + b"x" * 100,
             hello + b"\x00\x20" + b"e" * 32 + b"\x00\xb2" + b"z" * 178, b"PARL"):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(data)
    s.settimeout(2)
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
EOF
pass "raw garbage and half-open connections"

cli ping_after 0 ping "$TARGET"
cli shutdown_not_admin 1 shutdown "$TARGET"
cli shutdown_admin 0 --key "$T/admin.key" shutdown "$TARGET"

# The peer exits on its own after SHUTDOWN ([ADMIN-4]); valgrind then writes its summary.
for _ in $(seq 600); do # up to 60 s
    kill -0 "$VG_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$VG_PID" 2>/dev/null; then
    fail "peer still running 60 s after SHUTDOWN"
    kill "$VG_PID"
fi
wait "$VG_PID"
RC=$?
VG_PID=
if [ "$RC" -eq 0 ]; then
    pass "peer exit status 0"
else
    fail "peer exit status $RC (99: valgrind errors)"
fi

LOG=$T/valgrind.log
grep -E "Memcheck|in use at exit|total heap usage|ERROR SUMMARY" "$LOG" |
    sed 's/^==[0-9]*== */  valgrind: /'
if grep -q "ERROR SUMMARY: 0 errors" "$LOG"; then
    pass "valgrind: ERROR SUMMARY: 0 errors"
else
    fail "valgrind: $(grep 'ERROR SUMMARY' "$LOG" | head -n1)"
fi
if grep -q "All heap blocks were freed" "$LOG" || grep -q "definitely lost: 0 bytes" "$LOG" ||
    ! grep -q "definitely lost:" "$LOG"; then
    pass "valgrind: no definite leak ($(grep -E 'in use at exit|still reachable' "$LOG" |
        head -n1 | sed 's/^==[0-9]*== *//'))"
else
    fail "valgrind: $(grep 'definitely lost:' "$LOG" | head -n1 | sed 's/^==[0-9]*== *//')"
fi

if [ "$FAILS" -eq 0 ]; then
    echo "valgrind: PASS"
    exit 0
fi
echo "valgrind: FAIL ($FAILS)"
exit 1
