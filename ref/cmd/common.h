/*
 * common.h - what the two programs share: the key file, HOST:PORT, hex, names for
 * opcodes and counters, the monotonic clock and the structured log line.
 *
 * Key file format (--key): the 64-byte libsodium Ed25519 secret key (32-byte seed, then
 * the 32-byte public key) as 128 lowercase hex characters and a newline, mode 0600. A
 * file of exactly 64 raw bytes is read too. The public half must match the seed.
 */
#ifndef PARLEY_CMD_COMMON_H
#define PARLEY_CMD_COMMON_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CMD_VERSION "0.1.0"

/* LOG_ALWAYS: an info line printed at every level (the "listening" line names the port). */
enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_ALWAYS };

extern enum log_level log_min_level;

/* Milliseconds of CLOCK_MONOTONIC: the only time the core is given. */
uint64_t clock_ms(void);

/* Parses "debug", "info", "warn", "error". Returns 0, or -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out);

/* One line on stderr: `ts=... level=... event=...` then key/value pairs, the list ended
 * by LOG_END in place of a key; a pair whose value is NULL is left out. Values holding
 * spaces, quotes, '=' or nothing are quoted. Example:
 *   log_kv(LOG_INFO, "conn_open", "peer", name, "id", id, "detail", text, LOG_END); */
#define LOG_END ((const char *)0)
void log_kv(enum log_level level, const char *event, ...);

/* hex of in[len] into out (2*len+1 bytes, NUL-terminated). */
void hex_encode(char *out, const uint8_t *in, size_t len);
/* Decodes exactly 2*len hex digits (either case) of s into out. Returns 0, or -1. */
int hex_decode(uint8_t *out, size_t len, const char *s, size_t slen);

/* Splits "host:port", "[v6]:port" into host and port (both NUL-terminated). Port must be
 * 0..65535 digits. Returns 0, or -1. */
int hostport_split(const char *s, char *host, size_t hostcap, char *port, size_t portcap);

/* Reads a key file (see above) into sk. Returns 0, -1 when the file does not exist,
 * -2 when it is unreadable or malformed (msg says why). */
int key_load(const char *path, uint8_t sk[64], const char **msg);
/* Loads the key file, or creates it (a fresh key, mode 0600) when it does not exist.
 * Returns 0, 1 when created, or -1 (msg says why). */
int key_load_or_create(const char *path, uint8_t sk[64], const char **msg);
/* An admin key: 64 hex chars, or a file holding 64 hex chars, or a key file. Returns 0 or
 * -1 (msg says why). */
int admin_key_parse(const char *arg, uint8_t pk[32], const char **msg);

/* "PING", "NACK", ...; NULL for an unassigned opcode. */
const char *opcode_name(uint8_t opcode);
/* The name of STATS counter id (1..10, spec §5.8), e.g. "uptime_s"; NULL if unknown. */
const char *stat_name(uint16_t id);

/* "1.2.3.4:5" or "[::1]:5" for a socket address. */
void sockaddr_name(const struct sockaddr *sa, socklen_t len, char *out, size_t cap);
/* Makes fd non-blocking and close-on-exec. Returns 0, or -1. */
int fd_nonblock(int fd);
/* A non-blocking TCP socket (TCP_NODELAY) with a connect to ai started; *pending is 1
 * while the connect is in progress (wait for POLLOUT, then check SO_ERROR).
 * Returns the socket, or -1 with errno set. */
int tcp_connect_start(const struct addrinfo *ai, int *pending);

/* The program's name for messages ("parley-peer", "parley"). */
extern const char *prog_name;
/* "PROG: FLAG: WHAT (try --help)" on stderr, then exit status 2. */
_Noreturn void usage_error(const char *flag, const char *what);
/* 1 when arg is `flag` or `flag=...`. */
int flag_is(const char *arg, const char *flag);
/* The value of `flag VALUE` (moving *i on) or `flag=VALUE`; usage_error when missing. */
const char *flag_value(int argc, char **argv, int *i, const char *flag);

struct parley_conn;
/* Writes what the core has sealed to fd until the socket would block.
 * Returns 0, or -1 when the socket failed. */
int conn_write_fd(struct parley_conn *c, int fd);
/* One read(2) from fd into buf[cap], fed to the core. At EOF or on a socket error the
 * core is told (parley_conn_eof: it closes at once). Returns 0, -1 at EOF, -2 on error. */
int conn_read_fd(struct parley_conn *c, int fd, uint8_t *buf, size_t cap, uint64_t now_ms);

/* Parses a decimal in [min, max]. Returns 0, or -1. */
int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

#endif
