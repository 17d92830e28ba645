# ref/cmd/cmd.mk - the programs, included by the top-level Makefile:
#   $(BUILD)/parley-peer  the reference peer (poll loop around the connection core)
#   $(BUILD)/parley       the client CLI (ping, peers, stats, shutdown, send-raw, keygen)
# Built with the same warnings as ref/src. CPPFLAGS already carries
# -D_POSIX_C_SOURCE=200809L, which is all getaddrinfo, poll and clock_gettime need.

CMDOBJ    := $(BUILD)/cmd/common.o
CMDHDR    := $(wildcard ref/cmd/*.h) $(wildcard ref/src/*.h)
PROGRAMS  := $(BUILD)/parley-peer $(BUILD)/parley

.PHONY: programs smoke

all: programs

programs: $(PROGRAMS)

$(BUILD)/cmd/%.o: ref/cmd/%.c $(CMDHDR) | $(BUILD)/cmd
	$(CC) $(WARN) $(CFLAGS) $(SAN) $(CPPFLAGS) -c $< -o $@

$(BUILD)/parley-peer: $(BUILD)/cmd/parley-peer.o $(CMDOBJ) $(LIB)
	$(CC) $(CFLAGS) $(SAN) $^ $(LDLIBS) -o $@

$(BUILD)/parley: $(BUILD)/cmd/parley.o $(CMDOBJ) $(LIB)
	$(CC) $(CFLAGS) $(SAN) $^ $(LDLIBS) -o $@

$(BUILD)/cmd:
	mkdir -p $@

# Both programs end to end over loopback (ref/cmd/smoke.sh prints PASS/FAIL per step).
smoke: programs
	ref/cmd/smoke.sh $(BUILD)
