# tools/bench/bench.mk - the peer benchmarks and the robustness runs (included by the
# Makefile). Every figure is a ratio against an anchor measured in the same run.
#
#   make bench-peer   parley vs redis-server vs a plain echo server: requests/s at 1 and 64
#                     connections x depth 1, 16, 64, latency p50/p99, handshakes/s
#                     (reports/bench-peer.json)
#   make bench-rss    the peer's RSS per idle authenticated connection (10,000 held)
#   make robust       garbage, half-open and slow handshakes, malformed frames in sessions,
#                     while a well-behaved client measures its PING latency
#   make valgrind     the peer under valgrind through a scripted session
#
# `make bench` runs bench-peer too.

BENCH_CPPFLAGS := $(CPPFLAGS) -D_DEFAULT_SOURCE
PEER_BIN       := $(BUILD)/parley-peer
CLI_BIN        := $(BUILD)/parley

.PHONY: bench-peer bench-rss robust valgrind bench-tools

bench: bench-peer

$(BUILD)/loadgen: tools/bench/loadgen.c $(LIB) $(wildcard ref/src/*.h)
	$(CC) $(WARN) -O2 -g $(BENCH_CPPFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/echo: tools/bench/echo.c
	$(CC) $(WARN) -O2 -g $(BENCH_CPPFLAGS) $< -o $@

bench-tools: $(BUILD)/loadgen $(BUILD)/echo

bench-peer: deps bench-tools $(PEER_BIN)
	$(PY) tools/bench/peer_bench.py --build $(BUILD)

bench-rss: deps bench-tools $(PEER_BIN)
	$(PY) tools/bench/rss.py --build $(BUILD)

robust: deps bench-tools $(PEER_BIN)
	$(PY) tools/robust/robust.py --build $(BUILD)

valgrind: deps $(PEER_BIN) $(CLI_BIN)
	BUILD=$(BUILD) tools/robust/valgrind.sh
