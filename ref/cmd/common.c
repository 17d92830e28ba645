/*
 * common.c - helpers shared by parley-peer and parley (see common.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"
#include "conn.h"

enum log_level log_min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "info"};

uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

/* Writes ` key=value`, quoting (with \" and \\ escaped) when the value needs it. */
static void log_pair(FILE *f, const char *key, const char *v)
{
    int quote = v[0] == '\0' || strpbrk(v, " \"=\\\t") != NULL;
    fprintf(f, " %s=", key);
    if (!quote) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', f);
        fputc((unsigned char)*v < 0x20 ? '?' : *v, f);
    }
    fputc('"', f);
}

void log_kv(enum log_level level, const char *event, ...)
{
    va_list ap;
    const char *key;
    struct timespec ts;
    struct tm tm;
    char when[32];

    if (level < log_min_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts); /* wall time, for people reading the log only */
    gmtime_r(&ts.tv_sec, &tm);
    (void)strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm); /* 19 chars: fits */
    fprintf(stderr, "ts=%s.%03ldZ level=%s", when, ts.tv_nsec / 1000000L, level_names[level]);
    log_pair(stderr, "event", event);
    va_start(ap, event);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (value)
            log_pair(stderr, key, value);
    }
    va_end(ap);
    fputc('\n', stderr);
    (void)fflush(stderr); /* a log line that cannot be written has nowhere else to go */
}

void hex_encode(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(uint8_t *out, size_t len, const char *s, size_t slen)
{
    if (slen != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

const char *prog_name = "parley";

void usage_error(const char *flag, const char *what)
{
    fprintf(stderr, "%s: %s: %s (try --help)\n", prog_name, flag, what);
    exit(2);
}

int flag_is(const char *arg, const char *flag)
{
    size_t len = strlen(flag);
    return strncmp(arg, flag, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t len = strlen(flag);
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (*i + 1 >= argc)
        usage_error(flag, "needs a value");
    return argv[++*i];
}

int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int hostport_split(const char *s, char *host, size_t hostcap, char *port, size_t portcap)
{
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hlen;
    unsigned long v;

    if (!colon)
        return -1;
    hlen = (size_t)(colon - s);
    if (s[0] == '[') { /* [v6]:port */
        if (hlen < 2 || s[hlen - 1] != ']')
            return -1;
        h = s + 1;
        hlen -= 2;
    } else if (memchr(s, ':', hlen)) {
        return -1; /* a bare IPv6 address needs brackets */
    }
    if (hlen == 0 || hlen >= hostcap || strlen(colon + 1) >= portcap ||
        parse_uint(colon + 1, 0, 65535, &v) != 0)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    (void)snprintf(port, portcap, "%lu", v); /* fits: no longer than the digits given */
    return 0;
}

/* Reads at most cap bytes of a small file. Returns the length, -1 (ENOENT) or -2. */
static long file_read_small(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        return errno == ENOENT ? -1 : -2;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -2;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) { /* too big to be one of ours */
            close(fd);
            return -2;
        }
    }
    close(fd);
    return (long)len;
}

static size_t trimmed_len(const char *buf, size_t len)
{
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    return len;
}

/* A key file's bytes (hex or raw) to a checked secret key. */
static int key_from_bytes(const char *buf, size_t len, uint8_t sk[64], const char **msg)
{
    uint8_t pk[32], check[64];

    if (len == 64) {
        memcpy(sk, buf, 64);
    } else if (hex_decode(sk, 64, buf, trimmed_len(buf, len)) != 0) {
        *msg = "not a key file (128 hex characters or 64 raw bytes)";
        return -2;
    }
    crypto_sign_seed_keypair(pk, check, sk); /* the public half must belong to the seed */
    sodium_memzero(check, sizeof check);
    if (memcmp(pk, sk + 32, 32) != 0) {
        *msg = "key file: public key does not match the seed";
        return -2;
    }
    return 0;
}

int key_load(const char *path, uint8_t sk[64], const char **msg)
{
    char buf[256];
    long n = file_read_small(path, buf, sizeof buf);
    int rc;

    if (n == -1) {
        *msg = "key file does not exist";
        return -1;
    }
    if (n < 0) {
        *msg = "key file unreadable";
        return -2;
    }
    rc = key_from_bytes(buf, (size_t)n, sk, msg);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int key_load_or_create(const char *path, uint8_t sk[64], const char **msg)
{
    uint8_t pk[32];
    char hex[130];
    int fd, rc = key_load(path, sk, msg);
    ssize_t w;

    if (rc == 0)
        return 0;
    if (rc == -2)
        return -1;
    crypto_sign_keypair(pk, sk);
    hex_encode(hex, sk, 64);
    hex[128] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600); /* never overwrite a key */
    if (fd < 0) {
        *msg = "cannot create key file";
        sodium_memzero(hex, sizeof hex);
        return -1;
    }
    w = write(fd, hex, 129);
    sodium_memzero(hex, sizeof hex);
    if (w != 129 || fsync(fd) != 0) {
        close(fd);
        *msg = "cannot write key file";
        return -1;
    }
    close(fd);
    return 1;
}

int admin_key_parse(const char *arg, uint8_t pk[32], const char **msg)
{
    char buf[256];
    uint8_t sk[64];
    long n;
    size_t len;

    if (hex_decode(pk, 32, arg, strlen(arg)) == 0)
        return 0;
    n = file_read_small(arg, buf, sizeof buf);
    if (n < 0) {
        *msg = "neither 64 hex characters nor a readable file";
        return -1;
    }
    len = trimmed_len(buf, (size_t)n);
    if (hex_decode(pk, 32, buf, len) == 0)
        return 0;
    if (key_from_bytes(buf, (size_t)n, sk, msg) != 0) {
        *msg = "the file holds neither a public key (64 hex) nor a key file";
        return -1;
    }
    memcpy(pk, sk + 32, 32);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

const char *opcode_name(uint8_t opcode)
{
    static const char *const names[] = {"ACK",        "NACK",  "PING",    "SET_CONNECTION_OPT",
                                        "SHOUT",      "SPEAK", "WHISPER", "FIND_NODE",
                                        "FIND_VALUE", "STORE", "BYE",     "PEERS",
                                        "SHUTDOWN",   "STATS", "LOCK",    "UNLOCK",
                                        "PATCH",      "RELAY"};
    return opcode <= PARLEY_OP_LAST_ASSIGNED ? names[opcode] : NULL;
}

const char *stat_name(uint16_t id)
{
    static const char *const names[] = {NULL,          "uptime_s",      "conns_open",
                                        "conns_total", "handshakes_ok", "handshakes_failed",
                                        "frames_in",   "frames_out",    "bytes_in",
                                        "bytes_out",   "nacks_sent"};
    return id >= 1 && id <= 10 ? names[id] : NULL;
}

void sockaddr_name(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[64], port[8];

    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        (void)snprintf(out, cap, "?");
        return;
    }
    /* A name for people (logs, PEERS display): cut at cap if it must be. */
    (void)snprintf(out, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

int fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -1 : 0;
}

int tcp_connect_start(const struct addrinfo *ai, int *pending)
{
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd_nonblock(fd) != 0)
        goto fail;
    *pending = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno == EINPROGRESS || errno == EINTR) {
        *pending = 1;
        return fd;
    }
fail:
    one = errno;
    close(fd);
    errno = one;
    return -1;
}

int conn_write_fd(struct parley_conn *c, int fd)
{
    const uint8_t *out;
    size_t len;

    while ((len = parley_conn_output(c, &out)) > 0) {
        ssize_t n = write(fd, out, len);
        if (n > 0)
            parley_conn_written(c, (size_t)n);
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        else if (n == 0 || errno != EINTR)
            return -1;
    }
    return 0;
}

int conn_read_fd(struct parley_conn *c, int fd, uint8_t *buf, size_t cap, uint64_t now_ms)
{
    ssize_t n = read(fd, buf, cap);

    if (n > 0)
        parley_conn_input(c, buf, (size_t)n, now_ms);
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    else
        parley_conn_eof(c);
    return n > 0 ? 0 : n == 0 ? -1 : -2;
}
