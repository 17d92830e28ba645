#!/usr/bin/env bash
# smoke.sh - parley-peer and the parley CLI end to end, over loopback only.
#
# Usage: ref/cmd/smoke.sh [BUILD_DIR]   (default: build; `make smoke` runs it)
#
# Every peer listens on 127.0.0.1 port 0 (a free port the kernel picks, read back from the
# peer's "listening" log line), every client call has --timeout and a `timeout` wrapper, so
# the whole run is bounded (well under a minute). Prints PASS/FAIL per step; exits 1 when a
# step failed. Requirement IDs each step observes are named in the comments.
set -u

BUILD=${1:-build}
PEER=$BUILD/parley-peer
CLI=$BUILD/parley
T=$(mktemp -d "${TMPDIR:-/tmp}/parley-smoke.XXXXXX")
FAILS=0
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$FAILS" -eq 0 ]; then rm -rf "$T"; else echo "logs kept in $T"; fi
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1"
    FAILS=$((FAILS + 1))
}
# step NAME CMD...: PASS when CMD succeeds.
step() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

for bin in "$PEER" "$CLI"; do
    [ -x "$bin" ] || { echo "FAIL $bin not built (make programs)"; exit 1; }
done

# cli ARGS...: the client, bounded; stdout to $T/out, exit status to $T/rc.
cli() {
    timeout 15 "$CLI" --timeout 3000 "$@" >"$T/out" 2>"$T/err"
    echo $? >"$T/rc"
}
rc_is() { [ "$(cat "$T/rc")" = "$1" ]; }
out_has() { grep -q -- "$1" "$T/out"; }

# start_peer NAME ARGS...: starts a peer on a free loopback port; sets PORT_<NAME>,
# PID_<NAME>, ID_<NAME> (its node id, 64 hex) from the "listening" log line.
start_peer() {
    local name=$1 line port id
    shift
    "$PEER" --tcp 127.0.0.1:0 --log-level debug "$@" 2>"$T/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 50); do
        line=$(grep -m1 'event=listening' "$T/$name.log" 2>/dev/null) && break
        sleep 0.1
    done
    port=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' <<<"$line")
    id=$(sed -n 's/.* id=\([0-9a-f]*\).*/\1/p' <<<"$line")
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$pid"
    printf -v "ID_$name" '%s' "$id"
    [ -n "$port" ] && [ "$port" != 0 ]
}

# wait_exit PID SECONDS: waits for the process to end; its status in $T/exit.
wait_exit() {
    local pid=$1
    for _ in $(seq $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo timeout >"$T/exit"
        return 1
    fi
    wait "$pid"
    echo $? >"$T/exit"
}

# wait_log FILE PATTERN SECONDS
wait_log() {
    for _ in $(seq $(($3 * 10))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# json_lines FILE: every non-empty line is one JSON object.
json_lines() { /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$1"; }
json_file() { /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1"; }
# exits CODE CMD...: CMD exits with CODE.
exits() {
    local want=$1
    shift
    "$@" >/dev/null 2>&1
    [ $? = "$want" ]
}
exit_is() { [ "$(cat "$T/exit")" = "$1" ]; }

# ---- usage errors exit 2 -----------------------------------------------------------------
step "peer: unknown flag exits 2" exits 2 "$PEER" --bogus
step "peer: bad --max-conns exits 2" exits 2 "$PEER" --max-conns zero
step "peer: bad --tcp exits 2" exits 2 "$PEER" --tcp nocolon
step "peer: bad --log-level exits 2" exits 2 "$PEER" --log-level loud
step "peer: bad --admin-key exits 2" exits 2 "$PEER" --admin-key 1234
step "peer: flag without its value exits 2" exits 2 "$PEER" --key
step "peer: --version exits 0" exits 0 "$PEER" --version
step "cli: unknown command exits 2" exits 2 "$CLI" frobnicate 127.0.0.1:1
step "cli: missing HOST:PORT exits 2" exits 2 "$CLI" ping
step "cli: bad --count exits 2" exits 2 "$CLI" ping 127.0.0.1:1 --count x
step "cli: send-raw of a partial frame exits 2" exits 2 "$CLI" send-raw 127.0.0.1:1 0200

# ---- the first peer ---------------------------------------------------------------------
cli keygen "$T/admin.key"
step "cli: keygen writes an admin key file" rc_is 0
step "peer 1 starts on a free port" \
    start_peer P1 --key "$T/p1.key" --data "$T/d1" --admin-key "$T/admin.key" \
    --keylog "$T/keylog"
A1=127.0.0.1:$PORT_P1
key_mode_600() { [ "$(stat -c %a "$T/p1.key")" = 600 ]; }
step "peer 1 created its key file with mode 0600" key_mode_600

cli ping "$A1" --count 3 # [PING-1] the data comes back
ping_3() { rc_is 0 && [ "$(grep -c '^ping ' "$T/out")" = 3 ] && out_has 'answered=3'; }
step "ping --count 3: three answers and a summary, exit 0" ping_3

keylog_ok() { # [KEYLOG-1] both lines, appended
    grep -q '^PARLEY_I2R [0-9a-f]\{64\} [0-9a-f]\{64\}$' "$T/keylog" &&
        grep -q '^PARLEY_R2I [0-9a-f]\{64\} [0-9a-f]\{64\}$' "$T/keylog"
}
step "--keylog has both lines of the session" keylog_ok

cli --key "$T/admin.key" stats "$A1" # [ADMIN-1] admin accepted; [ADMIN-6] counters 1..10
stats_all() {
    rc_is 0 || return 1
    for n in uptime_s conns_open conns_total handshakes_ok handshakes_failed frames_in \
        frames_out bytes_in bytes_out nacks_sent; do
        out_has "  $n=" || return 1
    done
}
step "stats as admin: every counter of spec 5.8" stats_all
cli --json --key "$T/admin.key" stats "$A1"
step "stats --json: one JSON object per line" json_lines "$T/out"

cli --key "$T/admin.key" peers "$A1" # [ADMIN-3] the asking connection is listed
peers_self() { rc_is 0 && out_has 'req_opcode=PEERS count=1' && out_has 'address=127.0.0.1'; }
step "peers as admin: lists the asking connection" peers_self

# An unassigned opcode (0x63) on tag 7, then a PING on tag 8 in the same session.
cli send-raw "$A1" 6300000700000000 0200000800000002abcd # [FRAME-7] [MSG-1] [ERR-2]
nack_unknown() { rc_is 1 && out_has 'tag=7 opcode=NACK .*code=UNKNOWN_OPCODE(2)'; }
step "send-raw: unknown opcode answered NACK UNKNOWN_OPCODE, exit 1" nack_unknown
step "send-raw: the PING after it is answered on the same connection" \
    out_has 'tag=8 opcode=ACK flags=RESPONSE req_opcode=PING data=abcd' # [PING-1]
cli --json send-raw "$A1" 6300000700000000
json_nack() { json_lines "$T/out" && out_has '"code_name":"UNKNOWN_OPCODE"'; }
step "send-raw --json: the NACK code by name" json_nack

cli shutdown "$A1" # [ADMIN-1] a fresh identity is not the admin
unauthorized() { rc_is 1 && out_has 'code=UNAUTHORIZED(14)'; }
step "shutdown from a non-admin: NACK UNAUTHORIZED, exit 1" unauthorized
cli ping "$A1"
step "peer 1 still serves after the refused shutdown" rc_is 0

# ---- a second peer that bootstraps to the first ------------------------------------------
step "peer 2 starts with --bootstrap to peer 1" \
    start_peer P2 --key "$T/p2.key" --data "$T/d2" --admin-key "$T/admin.key" \
    --bootstrap "$A1"
step "peer 2 opened its bootstrap connection" wait_log "$T/P2.log" 'event=conn_open.*outbound' 5
cli --key "$T/admin.key" peers "$A1" # [ADMIN-3]
step "peers on peer 1 lists peer 2 with its listen port" \
    out_has "id=$ID_P2 family=4 address=127.0.0.1 port=$PORT_P2 direction=inbound"
cli --key "$T/admin.key" peers "127.0.0.1:$PORT_P2"
step "peers on peer 2 lists peer 1 as outbound" \
    out_has "id=$ID_P1 family=4 address=127.0.0.1 port=$PORT_P1 direction=outbound"

# ---- admin shutdown ---------------------------------------------------------------------
cli --key "$T/admin.key" shutdown "$A1" # [ADMIN-4]
shutdown_ack() { rc_is 0 && out_has 'opcode=ACK .*req_opcode=SHUTDOWN'; }
step "shutdown as admin: ACK, exit 0" shutdown_ack
wait_exit "$PID_P1" 10
step "peer 1 exits 0 after SHUTDOWN" exit_is 0 # [ADMIN-4]
state_ok() { json_file "$T/d1/state.json" && grep -q "$ID_P2" "$T/d1/state.json"; }
step "peer 1 persisted state.json (valid JSON, names peer 2)" state_ok
step "peer 2 saw the close" wait_log "$T/P2.log" 'event=conn_close' 5
cli ping "$A1"
step "ping to a stopped peer exits 3" rc_is 3

# ---- restart from state, signals --------------------------------------------------------
step "peer 1 restarts with the same --key and --data" \
    start_peer P1B --key "$T/p1.key" --data "$T/d1"
step "peer 1 loaded its known peers" grep -q 'event=state_loaded detail="1 known peers' "$T/P1B.log"
step "same key file, same node id" test "$ID_P1B" = "$ID_P1"
kill -TERM "$PID_P2"
wait_exit "$PID_P2" 10
p2_term() { exit_is 0 && [ -s "$T/d2/state.json" ]; }
step "peer 2 exits 0 on SIGTERM and saves its state" p2_term
kill -INT "$PID_P1B"
wait_exit "$PID_P1B" 10
step "peer 1 exits 0 on SIGINT" exit_is 0

echo "smoke: $FAILS failed"
[ "$FAILS" -eq 0 ]
