/*
 * loadgen.c - one load generator for the Parley peer and its anchors, so that every
 * protocol is driven by the same loop, at the same pipeline depth, with the same clock.
 *
 *   --proto parley  each connection runs the real handshake with the connection core
 *                   (ref/src/conn.h, as initiator), then keeps D PINGs outstanding;
 *                   PINGs sent at once go in one record and one write. With --client lean
 *                   (the default for throughput runs) the requests and answers after the
 *                   handshake bypass the core: frames are written and read with the codec
 *                   (frame header, record seal/open with the handshake's keys), and every
 *                   answer must be exactly the ACK of an outstanding PING with its data,
 *                   so the client costs little more than the redis side's byte matcher
 *                   and the figure measures the server. --client core drives the whole
 *                   connection core (tags, session, callbacks) as a real client would.
 *   --proto redis   RESP "PING" -> "+PONG", D outstanding (redis-server: the anchor).
 *   --proto echo    the exact bytes of one sealed Parley PING record, D outstanding, each
 *                   answered by the same number of bytes (tools/bench/echo.c: the raw
 *                   loopback ceiling).
 *   --proto mem     (with --handshakes) an initiator and a responder core in this process,
 *                   bytes passed in memory: the CPU cost of a handshake, no sockets.
 *
 * Modes: throughput (default) reports requests/s over --seconds after --warmup;
 * --latency adds p50/p99/max (µs) of every request; --handshakes repeats connect, setup
 * (the handshake for parley), one request/response (the PING's ACK is the only proof an
 * initiator gets that the responder accepted message 3), close (abortive: no TIME_WAIT
 * left behind), and reports completions/s; --server-pid PID adds the server's CPU seconds
 * (and ours) over the measured window;
 * --hold N opens N authenticated parley connections, prints "held N" and keeps them idle
 * until SIGTERM or --seconds. For the robustness runs: --timeout-ms counts requests that
 * wait longer (each once), --interval-ms prints a line per period (latency of that period
 * only), --reconnect opens a dropped connection again (and counts it).
 * A SIGTERM ends a run early; the totals are still printed.
 *
 * One process, one thread, non-blocking sockets and poll(2). Every loop is bounded in
 * count and time. The result is one line of JSON on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "conn.h"
#include "cursor.h"

#define MAX_CONNS 19000 /* the process may hold 20,000 fds */
#define MAX_DEPTH 4096
#define READ_BUF (64u * 1024u)
#define HIST_US 1000000u /* latency histogram: 1 µs buckets up to 1 s */
#define SETUP_TIMEOUT_US 30000000ull
#define MAX_SECONDS 3600.0
#define PING_DATA_LEN 8
#define RETRY_US 20000 /* a failed connect is retried after 20 ms */
#define LEAN_RX_CAP (READ_BUF + 2u + PARLEY_RECORD_MAX)
#define LEAN_TX_CAP ((size_t)MAX_DEPTH * 64u)
#define PING_FRAME_LEN (PARLEY_FRAME_HEADER_LEN + PING_DATA_LEN)

static const uint8_t ping_data[PING_DATA_LEN] = {'p', 'a', 'r', 'l', 'e', 'y', '!', '!'};
static const char redis_ping[] = "*1\r\n$4\r\nPING\r\n";
static const char redis_pong[] = "+PONG\r\n";

enum proto { P_PARLEY, P_REDIS, P_ECHO, P_MEM };
enum mode { M_THROUGHPUT, M_HANDSHAKES, M_HOLD };
enum cstate { C_IDLE, C_CONNECTING, C_SETUP, C_READY, C_DONE };

struct pend {
    uint16_t tag; /* parley: the request's tag; raw protocols answer in order */
    uint8_t used;
    uint8_t late; /* already counted as a timeout */
    uint64_t t_us;
};

struct lconn {
    struct parley_conn pc; /* first member: the core's callbacks hand us &pc */
    int fd;
    int has_pc;
    enum cstate st;
    int want_write;
    uint32_t outstanding;
    uint64_t setup_start_us;
    uint64_t retry_at_us; /* after a failed connect: not before this time */
    /* raw protocols: a stream of repeated units to write, and what came back */
    size_t w_left, w_pos;
    uint64_t rx_bytes, rx_units;
    size_t match;
    /* latency and timeouts */
    struct pend *pend;
    size_t p_head, p_n; /* raw protocols: FIFO in pend[] */
    uint64_t rx_us;     /* when the bytes being handled arrived (only while pend is kept) */
    /* --client lean, once the handshake is done: received bytes not yet a whole record,
     * sealed records not yet written, and the tags of the PINGs outstanding (a bit each) */
    int lean;
    uint8_t *rx, *tx, *busy;
    size_t rx_len, tx_len, tx_off;
    uint16_t next_tag;
};

struct opts {
    enum proto proto;
    enum mode mode;
    const char *target;
    int conns, depth, hold;
    double seconds, warmup;
    int latency;
    int timeout_ms;
    int interval_ms;
    long server_pid;
    int reconnect;
    int core_client; /* --client core: requests and answers through the connection core */
    const char *label;
};

static struct opts o;
static struct lconn *conns;
static struct pollfd *pfds;
static struct parley_node node;
static int node_ready;
static struct sockaddr_storage target_addr;
static socklen_t target_len;
static uint8_t *unit; /* raw protocols: one request's bytes */
static size_t unit_len;
static uint8_t *pattern; /* (depth + 1) units back to back */
static size_t pattern_len;
static const uint8_t *expect_pat; /* redis: the reply to match */
static size_t expect_len;
static volatile sig_atomic_t stop_flag;

/* What is counted. `measuring` is set during the measured window only. */
static int measuring;
static int running; /* throughput: the pipelines have started */
static uint64_t n_done, n_nacks, n_errors, n_closed, n_timeouts, n_connect_fail, n_reconnects;
static uint64_t n_setup_fail;
/* Latency histograms: 1 µs buckets up to 1 s; `total` for the run, `iv` for the current
 * --interval-ms period. */
struct hist {
    uint32_t *b;
    uint64_t over, max, n;
};
static struct hist total, iv;
static uint64_t iv_timeouts, iv_closed, iv_done;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
    return now_us() / 1000u;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --proto parley|redis|echo|mem --target HOST:PORT\n"
            "               [--conns N] [--depth D] [--seconds S] [--warmup S]\n"
            "               [--latency] [--timeout-ms MS] [--interval-ms MS] [--reconnect]\n"
            "               [--label TEXT] [--server-pid PID]\n"
            "               [--handshakes] [--hold N] [--client lean|core]\n");
    exit(2);
}

static long arg_long(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "loadgen: %s: not a number in %ld..%ld\n", s, lo, hi);
        exit(2);
    }
    return v;
}

static double arg_double(const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "loadgen: %s: not a number in %g..%g\n", s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    o.proto = P_PARLEY;
    o.mode = M_THROUGHPUT;
    o.conns = 1;
    o.depth = 1;
    o.seconds = 3.0;
    o.warmup = 0.5;
    o.timeout_ms = 0;
    o.label = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--latency") == 0) {
            o.latency = 1;
            continue;
        }
        if (strcmp(a, "--handshakes") == 0) {
            o.mode = M_HANDSHAKES;
            continue;
        }
        if (strcmp(a, "--reconnect") == 0) {
            o.reconnect = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--proto") == 0) {
            if (strcmp(v, "parley") == 0)
                o.proto = P_PARLEY;
            else if (strcmp(v, "redis") == 0)
                o.proto = P_REDIS;
            else if (strcmp(v, "echo") == 0)
                o.proto = P_ECHO;
            else if (strcmp(v, "mem") == 0)
                o.proto = P_MEM;
            else
                usage();
        } else if (strcmp(a, "--target") == 0) {
            o.target = v;
        } else if (strcmp(a, "--conns") == 0) {
            o.conns = (int)arg_long(v, 1, MAX_CONNS);
        } else if (strcmp(a, "--depth") == 0) {
            o.depth = (int)arg_long(v, 1, MAX_DEPTH);
        } else if (strcmp(a, "--seconds") == 0) {
            o.seconds = arg_double(v, 0.01, MAX_SECONDS);
        } else if (strcmp(a, "--warmup") == 0) {
            o.warmup = arg_double(v, 0.0, 60.0);
        } else if (strcmp(a, "--server-pid") == 0) {
            o.server_pid = arg_long(v, 1, 1L << 30);
        } else if (strcmp(a, "--interval-ms") == 0) {
            o.interval_ms = (int)arg_long(v, 10, 3600000);
        } else if (strcmp(a, "--timeout-ms") == 0) {
            o.timeout_ms = (int)arg_long(v, 1, 3600000);
        } else if (strcmp(a, "--hold") == 0) {
            o.mode = M_HOLD;
            o.hold = (int)arg_long(v, 1, MAX_CONNS);
        } else if (strcmp(a, "--label") == 0) {
            o.label = v;
        } else if (strcmp(a, "--client") == 0) {
            if (strcmp(v, "core") == 0)
                o.core_client = 1;
            else if (strcmp(v, "lean") != 0)
                usage();
        } else {
            usage();
        }
    }
    if (o.proto == P_MEM && o.mode != M_HANDSHAKES) {
        fprintf(stderr, "loadgen: --proto mem needs --handshakes\n");
        exit(2);
    }
    if (o.mode == M_HOLD && o.proto != P_PARLEY) {
        fprintf(stderr, "loadgen: --hold needs --proto parley\n");
        exit(2);
    }
    if (o.target == NULL && o.proto != P_MEM)
        usage();
}

static void resolve_target(void)
{
    char host[256];
    const char *colon = strrchr(o.target, ':');
    if (colon == NULL || (size_t)(colon - o.target) >= sizeof host) {
        fprintf(stderr, "loadgen: --target wants HOST:PORT\n");
        exit(2);
    }
    memcpy(host, o.target, (size_t)(colon - o.target));
    host[colon - o.target] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || res == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", o.target, gai_strerror(rc));
        exit(2);
    }
    memcpy(&target_addr, res->ai_addr, res->ai_addrlen);
    target_len = res->ai_addrlen;
    freeaddrinfo(res);
}

/* ---- the server's CPU time (--server-pid) ------------------------------------------- */

static double server_cpu0 = -1, server_cpu_s = -1;

/* User + system CPU seconds of the server process so far, or -1. */
static double server_cpu(void)
{
    if (o.server_pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", o.server_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ")": state, then fields 4..13; utime and stime are fields 14 and 15 */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double client_cpu0, client_cpu_s = -1;

/* This process's own CPU seconds: the load generator may be the bottleneck. */
static double self_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void measure_begin(void)
{
    server_cpu0 = server_cpu();
    client_cpu0 = self_cpu();
}

static void measure_end(void)
{
    double c = server_cpu();
    server_cpu_s = c >= 0 && server_cpu0 >= 0 ? c - server_cpu0 : -1;
    client_cpu_s = self_cpu() - client_cpu0;
}

/* ---- latency ------------------------------------------------------------------------ */

static void hist_add(struct hist *h, uint64_t us)
{
    if (h->b == NULL)
        return;
    if (us < HIST_US)
        h->b[us]++;
    else
        h->over++;
    if (us > h->max)
        h->max = us;
    h->n++;
}

static void record_latency(uint64_t us)
{
    if (!measuring)
        return;
    hist_add(&total, us);
    hist_add(&iv, us);
}

/* The latency (µs) below which fraction q of the samples lie. */
static uint64_t percentile(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (uint32_t us = 0; us < HIST_US; us++) {
        seen += h->b[us];
        if (seen > rank)
            return us;
    }
    return h->max;
}

static void pend_add(struct lconn *c, uint16_t tag, uint64_t t)
{
    if (c->pend == NULL)
        return;
    if (o.proto == P_PARLEY) {
        for (int i = 0; i < o.depth; i++) {
            if (!c->pend[i].used) {
                c->pend[i] = (struct pend){tag, 1, 0, t};
                return;
            }
        }
        return;
    }
    size_t i = (c->p_head + c->p_n) % (size_t)o.depth;
    c->pend[i] = (struct pend){0, 1, 0, t};
    c->p_n++;
}

/* A request completed: returns its latency in µs, or UINT64_MAX when not tracked. */
static uint64_t pend_done(struct lconn *c, uint16_t tag, uint64_t t)
{
    if (c->pend == NULL)
        return UINT64_MAX;
    if (o.proto == P_PARLEY) {
        for (int i = 0; i < o.depth; i++) {
            if (c->pend[i].used && c->pend[i].tag == tag) {
                c->pend[i].used = 0;
                return t - c->pend[i].t_us;
            }
        }
        return UINT64_MAX;
    }
    if (c->p_n == 0)
        return UINT64_MAX;
    struct pend *p = &c->pend[c->p_head];
    p->used = 0;
    c->p_head = (c->p_head + 1) % (size_t)o.depth;
    c->p_n--;
    return t - p->t_us;
}

static void pend_clear(struct lconn *c)
{
    if (c->pend != NULL)
        memset(c->pend, 0, (size_t)o.depth * sizeof *c->pend);
    c->p_head = c->p_n = 0;
}

/* Counts each request outstanding longer than --timeout-ms once. */
static void check_timeouts(uint64_t t)
{
    uint64_t limit = (uint64_t)o.timeout_ms * 1000u;
    for (int k = 0; k < o.conns; k++) {
        struct lconn *c = &conns[k];
        if (c->pend == NULL || c->st != C_READY)
            continue;
        for (int i = 0; i < o.depth; i++) {
            struct pend *p = &c->pend[i];
            if (p->used && !p->late && t - p->t_us > limit) {
                p->late = 1;
                if (measuring) {
                    n_timeouts++;
                    iv_timeouts++;
                }
            }
        }
    }
}

/* ---- the parley core's callbacks ---------------------------------------------------- */

static void cb_opened(void *ctx, struct parley_conn *pc)
{
    (void)ctx;
    (void)pc; /* readiness is read from the core's state after each input */
}

static void completed(struct lconn *c, uint64_t lat);

static void cb_response(void *ctx, struct parley_conn *pc, const struct parley_event *ev)
{
    (void)ctx;
    struct lconn *c = (struct lconn *)(void *)pc;
    if (c->outstanding > 0)
        c->outstanding--;
    uint64_t lat = pend_done(c, ev->tag, c->rx_us);
    if (ev->msg.opcode != PARLEY_OP_ACK || ev->msg.req_opcode != PARLEY_OP_PING) {
        if (measuring)
            n_nacks++;
        return;
    }
    completed(c, lat);
}

/* ---- connections -------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_close(struct lconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->has_pc)
        parley_conn_free(&c->pc);
    c->has_pc = 0;
    c->st = C_IDLE;
    c->want_write = 0;
    c->outstanding = 0;
    c->w_left = c->w_pos = 0;
    c->rx_bytes = c->rx_units = 0;
    c->match = 0;
    pend_clear(c);
    free(c->rx);
    free(c->tx);
    free(c->busy);
    c->rx = c->tx = c->busy = NULL;
    c->lean = 0;
    c->rx_len = c->tx_len = c->tx_off = 0;
}

/* Opens the connection unless a failed connect asks to wait. */
static int conn_open(struct lconn *c);

static int conn_reopen(struct lconn *c)
{
    return c->st == C_IDLE && now_us() >= c->retry_at_us ? conn_open(c) : -1;
}

static int conn_open(struct lconn *c)
{
    int fd = socket(target_addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("loadgen: socket");
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (set_nonblock(fd) < 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->st = C_CONNECTING;
    c->setup_start_us = now_us();
    if (connect(fd, (struct sockaddr *)&target_addr, target_len) < 0 && errno != EINPROGRESS) {
        n_connect_fail++;
        conn_close(c);
        c->retry_at_us = now_us() + RETRY_US;
        return -1;
    }
    if (o.proto == P_PARLEY) {
        parley_conn_init(&c->pc, &node, 1, now_ms()); /* queues HELLO ([PRE-1]) */
        c->has_pc = 1;
    }
    c->want_write = 1; /* the connect completes when the socket becomes writable */
    return 0;
}

/* Writes what is pending. Returns -1 when the connection failed. */
static int conn_flush(struct lconn *c)
{
    c->want_write = 0;
    for (int round = 0; round < 64; round++) {
        const uint8_t *p;
        size_t len;
        int core = 0; /* the bytes are the core's output (the handshake's, before lean) */
        if (o.proto == P_PARLEY) {
            len = parley_conn_output(&c->pc, &p);
            core = len > 0;
            if (!core && c->lean) {
                p = c->tx + c->tx_off;
                len = c->tx_len - c->tx_off;
            }
        } else {
            size_t off = c->w_pos % unit_len;
            len = c->w_left < pattern_len - off ? c->w_left : pattern_len - off;
            p = pattern + off;
        }
        if (len == 0)
            return 0;
        ssize_t n = write(c->fd, p, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->want_write = 1;
                return 0;
            }
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (core) {
            parley_conn_written(&c->pc, (size_t)n);
        } else if (o.proto == P_PARLEY) {
            c->tx_off += (size_t)n;
            if (c->tx_off == c->tx_len)
                c->tx_off = c->tx_len = 0;
        } else {
            c->w_pos += (size_t)n;
            c->w_left -= (size_t)n;
        }
        if ((size_t)n < len) {
            c->want_write = 1;
            return 0;
        }
    }
    c->want_write = 1;
    return 0;
}

/* ---- --client lean: PINGs and their ACKs through the codec only -------------------- */

static uint8_t lean_pt[PARLEY_RECORD_MAX]; /* one record's plaintext, either direction */

static int tag_busy(const struct lconn *c, uint16_t tag)
{
    return c->busy[tag >> 3] >> (tag & 7) & 1;
}

static void tag_set(struct lconn *c, uint16_t tag, int busy)
{
    if (busy)
        c->busy[tag >> 3] |= (uint8_t)(1u << (tag & 7));
    else
        c->busy[tag >> 3] &= (uint8_t)~(1u << (tag & 7));
}

/* Leaves the core once its handshake is done and no received byte is left half read. */
static int lean_start(struct lconn *c)
{
    if (c->pc.state != PARLEY_CONN_OPEN || c->pc.in_len != 0)
        return -1;
    c->rx = malloc(LEAN_RX_CAP);
    c->tx = malloc(LEAN_TX_CAP);
    c->busy = calloc(65536 / 8, 1);
    if (c->rx == NULL || c->tx == NULL || c->busy == NULL)
        return -1; /* conn_close frees what was allocated */
    c->lean = 1;
    return 0;
}

/* Queues up to n PINGs (within the depth and the peer's max_tags) in records of at most
 * RECORD_FILL plaintext bytes, as the core would. Returns -1 when sealing fails. */
static int lean_send(struct lconn *c, int n, uint64_t t)
{
    uint32_t limit = (uint32_t)o.depth < c->pc.session.remote.max_tags
                         ? (uint32_t)o.depth
                         : c->pc.session.remote.max_tags;
    int sent = 0;

    if (c->tx_off > 0) { /* written bytes leave the buffer before more are sealed */
        memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
        c->tx_len -= c->tx_off;
        c->tx_off = 0;
    }
    while (sent < n && c->outstanding < limit) {
        size_t len = 0;
        while (sent < n && c->outstanding < limit &&
               len + PING_FRAME_LEN <= PARLEY_CONN_RECORD_FILL) {
            /* the next free tag: at most depth are busy, so the search is short */
            do
                c->next_tag = (uint16_t)(c->next_tag % 65535 + 1);
            while (tag_busy(c, c->next_tag));
            struct parley_frame_header h = {PARLEY_OP_PING, 0, c->next_tag, PING_DATA_LEN};
            if (parley_frame_encode(lean_pt + len, sizeof lean_pt - len, &h, ping_data) < 0)
                return -1;
            len += PING_FRAME_LEN;
            tag_set(c, c->next_tag, 1);
            pend_add(c, c->next_tag, t);
            c->outstanding++;
            sent++;
        }
        int k = parley_record_seal(&c->pc.rec.send, lean_pt, len, c->tx + c->tx_len,
                                   LEAN_TX_CAP - c->tx_len);
        if (k < 0) {
            fprintf(stderr, "loadgen: seal: %s\n", parley_err_name(k));
            return -1;
        }
        c->tx_len += (size_t)k;
    }
    return 0;
}

/* One frame received: it must be the answer to an outstanding PING. Returns -1 when the
 * connection is to be closed: a BYE (the peer is leaving), anything else unexpected (an
 * error too). */
static int lean_answer(struct lconn *c, const struct parley_frame *f)
{
    uint16_t tag = f->h.tag;

    if (f->h.flags != PARLEY_FLAG_RESPONSE || tag == 0 || !tag_busy(c, tag)) {
        if (f->h.opcode != PARLEY_OP_BYE)
            n_errors++;
        return -1;
    }
    tag_set(c, tag, 0);
    if (c->outstanding > 0)
        c->outstanding--;
    uint64_t lat = pend_done(c, tag, c->rx_us);
    if (f->h.opcode == PARLEY_OP_ACK && f->h.length == 1 + PING_DATA_LEN &&
        f->payload[0] == PARLEY_OP_PING &&
        memcmp(f->payload + 1, ping_data, PING_DATA_LEN) == 0) {
        completed(c, lat);
        return 0;
    }
    if (f->h.opcode == PARLEY_OP_NACK) {
        if (measuring)
            n_nacks++;
        return 0;
    }
    n_errors++; /* an ACK that does not echo the PING */
    return -1;
}

/* Opens the whole records in c->rx and handles their frames; a partial record stays.
 * Returns -1 when the connection is to be closed. */
static int lean_input(struct lconn *c)
{
    size_t off = 0;
    int rc = 0;

    while (rc == 0) {
        size_t ptlen = 0;
        int n = parley_record_open(&c->pc.rec.recv, c->rx + off, c->rx_len - off, lean_pt,
                                   sizeof lean_pt, &ptlen);
        if (n == PARLEY_E_TRUNCATED)
            break;
        if (n < 0) {
            n_errors++;
            return -1;
        }
        off += (size_t)n;
        struct parley_rd r;
        struct parley_frame f;
        int k;
        rd_init(&r, lean_pt, ptlen);
        while (rc == 0 && (k = parley_plaintext_next(&r, &f)) == 1)
            rc = lean_answer(c, &f);
        if (rc == 0 && k < 0) {
            n_errors++;
            return -1;
        }
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
    return rc;
}

/* Sends up to `n` new requests (bounded by the depth) in one write. */
static int send_requests(struct lconn *c, int n)
{
    uint64_t t = c->pend != NULL ? now_us() : 0; /* the clock only when latency is kept */
    int sent = 0;
    if (o.proto == P_PARLEY && !o.core_client && o.mode == M_THROUGHPUT && !c->lean &&
        lean_start(c) != 0) {
        fprintf(stderr, "loadgen: cannot start the lean client\n");
        return -1;
    }
    if (c->lean)
        return lean_send(c, n, t) < 0 ? -1 : conn_flush(c);
    while (sent < n && c->outstanding < (uint32_t)o.depth) {
        if (o.proto == P_PARLEY) {
            int tag = parley_conn_request(&c->pc, PARLEY_OP_PING, ping_data, sizeof ping_data, 1);
            if (tag < 0) {
                if (tag == PARLEY_E_TOO_MANY_TAGS)
                    break;
                fprintf(stderr, "loadgen: request: %s\n", parley_err_name(tag));
                return -1;
            }
            pend_add(c, (uint16_t)tag, t);
        } else {
            c->w_left += unit_len;
            pend_add(c, 0, t);
        }
        c->outstanding++;
        sent++;
    }
    return conn_flush(c);
}

static void start_conn(struct lconn *c)
{
    c->st = C_READY;
    int n = o.mode == M_HANDSHAKES ? 1 : o.mode == M_HOLD ? 0 : o.depth;
    if (send_requests(c, n) < 0)
        c->st = C_DONE;
}

static void completed(struct lconn *c, uint64_t lat)
{
    if (lat != UINT64_MAX)
        record_latency(lat);
    if (o.mode == M_HANDSHAKES) {
        if (measuring)
            n_done++;
        c->st = C_DONE; /* closed and reopened by the loop */
        return;
    }
    if (measuring) {
        n_done++;
        iv_done++;
    }
}

/* Raw protocols: counts whole replies in the bytes received. */
static int raw_input(struct lconn *c, const uint8_t *buf, size_t len)
{
    uint64_t t = c->pend != NULL ? now_us() : 0;
    uint64_t units = 0;
    if (o.proto == P_ECHO) {
        c->rx_bytes += len;
        units = c->rx_bytes / unit_len - c->rx_units;
        c->rx_units += units;
    } else {
        for (size_t i = 0; i < len; i++) {
            if (buf[i] != expect_pat[c->match])
                return -1; /* not +PONG: an error reply */
            if (++c->match == expect_len) {
                c->match = 0;
                units++;
            }
        }
    }
    for (uint64_t u = 0; u < units; u++) {
        if (c->outstanding > 0)
            c->outstanding--;
        completed(c, pend_done(c, 0, t));
        if (c->st == C_DONE)
            return 0;
    }
    return 0;
}

static void conn_failed(struct lconn *c, int during_setup)
{
    if (during_setup)
        n_setup_fail++;
    else if (measuring) {
        n_closed++;
        iv_closed++;
    }
    conn_close(c);
}

/* The connection became ready: the handshake is done (parley) or the socket connected. */
static void became_ready(struct lconn *c)
{
    c->st = C_READY;
    int rc = o.mode == M_HANDSHAKES              ? send_requests(c, 1)
             : o.mode == M_THROUGHPUT && running ? send_requests(c, o.depth) /* reconnected */
                                                 : conn_flush(c);
    if (rc < 0)
        conn_failed(c, 0);
}

/* Handles readiness of one connection. */
static void conn_event(struct lconn *c, short revents, uint8_t *buf)
{
    int setup = c->st == C_CONNECTING || c->st == C_SETUP;
    if (c->st == C_CONNECTING) {
        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
            n_connect_fail++;
            conn_close(c);
            c->retry_at_us = now_us() + RETRY_US;
            return;
        }
        if (o.proto != P_PARLEY) {
            became_ready(c);
            return;
        }
        c->st = C_SETUP;
        if (conn_flush(c) < 0) /* HELLO */
            conn_failed(c, 1);
        return;
    }
    if (c->lean && (revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t n = read(c->fd, c->rx + c->rx_len, LEAN_RX_CAP - c->rx_len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            goto out;
        if (n > 0) {
            c->rx_len += (size_t)n;
            c->rx_us = c->pend != NULL ? now_us() : 0; /* one reading for every answer */
        }
        if (n <= 0 || lean_input(c) < 0) {
            conn_failed(c, 0);
            return;
        }
        if (c->st == C_READY && running && send_requests(c, o.depth) < 0)
            conn_failed(c, 0);
        return;
    }
    if (revents & (POLLIN | POLLERR | POLLHUP)) {
        ssize_t n = read(c->fd, buf, READ_BUF);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            goto out;
        if (n <= 0) {
            conn_failed(c, setup);
            return;
        }
        if (o.proto == P_PARLEY) {
            c->rx_us = c->pend != NULL ? now_us() : 0; /* one reading for every answer in buf */
            parley_conn_input(&c->pc, buf, (size_t)n, now_ms());
            if (c->pc.state == PARLEY_CONN_CLOSED) {
                conn_failed(c, setup);
                return;
            }
            if (c->st == C_DONE) /* --handshakes: its PING was answered */
                return;
            if (c->st == C_SETUP && c->pc.state == PARLEY_CONN_OPEN) {
                became_ready(c); /* also sends message 3 */
                return;
            }
        } else if (raw_input(c, buf, (size_t)n) < 0) {
            n_errors++;
            conn_failed(c, 0);
            return;
        }
        if (c->st == C_READY && o.mode == M_THROUGHPUT && running) {
            if (send_requests(c, o.depth) < 0)
                conn_failed(c, 0);
            return;
        }
        if (conn_flush(c) < 0) /* whatever the core answered: message 3, an ACK, ... */
            conn_failed(c, setup);
        return;
    }
out:
    if (c->fd >= 0 && (c->want_write || (revents & POLLOUT)) && c->st != C_DONE) {
        if (conn_flush(c) < 0)
            conn_failed(c, setup);
    }
}

static short conn_events(struct lconn *c)
{
    if (c->fd < 0 || c->st == C_DONE)
        return 0;
    if (c->st == C_CONNECTING)
        return POLLOUT;
    short ev = 0;
    if (o.proto != P_PARLEY || c->lean || parley_conn_wants_input(&c->pc))
        ev |= POLLIN;
    if (c->want_write)
        ev |= POLLOUT;
    return ev;
}

/* One pass of poll over every connection. */
static void poll_once(int timeout_ms, uint8_t *buf)
{
    for (int k = 0; k < o.conns; k++) {
        pfds[k].fd = conns[k].fd >= 0 ? conns[k].fd : -1;
        pfds[k].events = conn_events(&conns[k]);
        pfds[k].revents = 0;
        if (pfds[k].events == 0)
            pfds[k].fd = -1;
    }
    int n = poll(pfds, (nfds_t)o.conns, timeout_ms);
    if (n <= 0)
        return;
    for (int k = 0; k < o.conns && n > 0; k++) {
        if (pfds[k].revents == 0)
            continue;
        n--;
        conn_event(&conns[k], pfds[k].revents, buf);
    }
}

/* Deadlines of the core (handshake timeout, BYE) for every parley connection. */
static void tick_all(void)
{
    if (o.proto != P_PARLEY)
        return;
    uint64_t t = now_ms();
    for (int k = 0; k < o.conns; k++) {
        struct lconn *c = &conns[k];
        if (!c->has_pc || c->fd < 0 || c->lean) /* lean: the core is no longer driven */
            continue;
        if (parley_conn_deadline(&c->pc) <= t) {
            parley_conn_tick(&c->pc, t);
            if (c->pc.state == PARLEY_CONN_CLOSED)
                conn_failed(c, c->st != C_READY);
            else if (conn_flush(c) < 0)
                conn_failed(c, c->st != C_READY);
        }
    }
}

/* ---- the in-memory handshake (--proto mem) ------------------------------------------ */

static int pump(struct parley_conn *from, struct parley_conn *to)
{
    const uint8_t *p;
    size_t len = parley_conn_output(from, &p);
    if (len == 0)
        return 0;
    parley_conn_input(to, p, len, now_ms());
    parley_conn_written(from, len);
    return 1;
}

static struct parley_node mem_responder;
static int mem_acked;

static void cb_mem_response(void *ctx, struct parley_conn *pc, const struct parley_event *ev)
{
    (void)ctx;
    (void)pc;
    if (ev->msg.opcode == PARLEY_OP_ACK)
        mem_acked = 1;
}

/* One handshake and one PING between two cores in memory. Returns 0 on success. */
static int mem_handshake(void)
{
    struct parley_conn ic, rc;
    uint64_t t = now_ms();
    parley_conn_init(&ic, &node, 1, t);
    parley_conn_init(&rc, &mem_responder, 0, t);
    int sent_ping = 0, ok = -1;
    mem_acked = 0;
    for (int round = 0; round < 32; round++) {
        int moved = pump(&ic, &rc) + pump(&rc, &ic);
        if (!sent_ping && ic.state == PARLEY_CONN_OPEN) {
            if (parley_conn_request(&ic, PARLEY_OP_PING, ping_data, sizeof ping_data, 1) < 0)
                break;
            sent_ping = 1;
            continue;
        }
        if (mem_acked) {
            ok = 0;
            break;
        }
        if (!moved || ic.state == PARLEY_CONN_CLOSED || rc.state == PARLEY_CONN_CLOSED)
            break;
    }
    parley_conn_free(&ic);
    parley_conn_free(&rc);
    return ok;
}

static void run_mem(void)
{
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    if (parley_node_init(&mem_responder, sk, now_ms()) < 0) {
        fprintf(stderr, "loadgen: node init failed\n");
        exit(1);
    }
    sodium_memzero(sk, sizeof sk);
    node.ops.response = cb_mem_response;
    uint64_t t0 = now_us(), warm_end = t0 + (uint64_t)(o.warmup * 1e6);
    uint64_t end = warm_end + (uint64_t)(o.seconds * 1e6), t_meas = warm_end;
    for (uint64_t i = 0; i < 100000000u && !stop_flag; i++) {
        uint64_t t = now_us();
        if (!measuring && t >= warm_end) {
            measuring = 1;
            t_meas = t;
        }
        if (t >= end)
            break;
        if (mem_handshake() < 0)
            n_errors++;
        else if (measuring)
            n_done++;
    }
    double secs = (double)(now_us() - t_meas) / 1e6;
    printf("{\"proto\": \"mem\", \"mode\": \"handshakes\", \"label\": \"%s\", \"seconds\": %.3f, "
           "\"handshakes\": %llu, \"per_s\": %.1f, \"errors\": %llu}\n",
           o.label, secs, (unsigned long long)n_done, secs > 0 ? (double)n_done / secs : 0.0,
           (unsigned long long)n_errors);
    parley_node_free(&mem_responder);
}

/* ---- the runs ----------------------------------------------------------------------- */

static void setup_node(void)
{
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    if (parley_node_init(&node, sk, now_ms()) < 0) {
        fprintf(stderr, "loadgen: node init failed\n");
        exit(1);
    }
    sodium_memzero(sk, sizeof sk);
    node.ops.opened = cb_opened;
    node.ops.response = cb_response;
    node_ready = 1;
}

static void setup_raw(void)
{
    if (o.proto == P_ECHO) {
        /* One sealed PING record, as the parley client sends it: 2 + 16 + 16 bytes. */
        uint8_t key[PARLEY_KEY_LEN], frame[64];
        struct parley_cipher cs;
        randombytes_buf(key, sizeof key);
        parley_cipher_init(&cs, key, 0);
        struct parley_frame_header h = {PARLEY_OP_PING, 0, 1, PING_DATA_LEN};
        int flen = parley_frame_encode(frame, sizeof frame, &h, ping_data);
        unit = malloc(256);
        int n =
            unit != NULL && flen > 0 ? parley_record_seal(&cs, frame, (size_t)flen, unit, 256) : -1;
        if (n <= 0) {
            fprintf(stderr, "loadgen: cannot seal the echo record\n");
            exit(1);
        }
        unit_len = (size_t)n;
        parley_cipher_wipe(&cs);
    } else {
        unit_len = sizeof redis_ping - 1;
        unit = malloc(unit_len);
        if (unit == NULL)
            exit(1);
        memcpy(unit, redis_ping, unit_len);
        expect_pat = (const uint8_t *)redis_pong;
        expect_len = sizeof redis_pong - 1;
    }
    pattern_len = unit_len * ((size_t)o.depth + 1);
    pattern = malloc(pattern_len);
    if (pattern == NULL)
        exit(1);
    for (size_t i = 0; i <= (size_t)o.depth; i++)
        memcpy(pattern + i * unit_len, unit, unit_len);
}

static int count_state(enum cstate st)
{
    int n = 0;
    for (int k = 0; k < o.conns; k++)
        n += conns[k].st == st;
    return n;
}

/* Opens every connection and waits until each is ready (handshake done for parley).
 * At most `concurrency` are being set up at once. Returns the number ready. */
static int open_all(int target, int concurrency)
{
    uint8_t *buf = malloc(READ_BUF);
    if (buf == NULL)
        exit(1);
    uint64_t t0 = now_us();
    int ready = 0;
    for (uint64_t round = 0; round < 10000000u && !stop_flag; round++) {
        int opening = 0;
        ready = 0;
        for (int k = 0; k < target; k++) {
            if (conns[k].st == C_CONNECTING || conns[k].st == C_SETUP)
                opening++;
            else if (conns[k].st == C_READY)
                ready++;
        }
        if (ready == target)
            break;
        if (now_us() - t0 > SETUP_TIMEOUT_US)
            break;
        for (int k = 0; k < target && opening < concurrency; k++) {
            if (conn_reopen(&conns[k]) == 0)
                opening++;
        }
        poll_once(50, buf);
        tick_all();
    }
    free(buf);
    return ready;
}

static void print_result(double secs)
{
    const char *proto = o.proto == P_PARLEY ? "parley" : o.proto == P_REDIS ? "redis" : "echo";
    const char *mode = o.mode == M_HANDSHAKES ? "handshakes" : "throughput";
    printf("{\"proto\": \"%s\", \"mode\": \"%s\", \"label\": \"%s\", \"conns\": %d, "
           "\"depth\": %d, \"seconds\": %.3f, \"done\": %llu, \"per_s\": %.1f, "
           "\"nacks\": %llu, \"errors\": %llu, \"closed\": %llu, \"timeouts\": %llu, "
           "\"connect_failed\": %llu, \"setup_failed\": %llu, \"reconnects\": %llu",
           proto, mode, o.label, o.conns, o.depth, secs, (unsigned long long)n_done,
           secs > 0 ? (double)n_done / secs : 0.0, (unsigned long long)n_nacks,
           (unsigned long long)n_errors, (unsigned long long)n_closed,
           (unsigned long long)n_timeouts, (unsigned long long)n_connect_fail,
           (unsigned long long)n_setup_fail, (unsigned long long)n_reconnects);
    if (server_cpu_s >= 0)
        printf(", \"server_cpu_s\": %.3f", server_cpu_s);
    if (client_cpu_s >= 0)
        printf(", \"client_cpu_s\": %.3f", client_cpu_s);
    if (o.proto == P_PARLEY && o.mode == M_THROUGHPUT)
        printf(", \"client\": \"%s\"", o.core_client ? "core" : "lean");
    if (total.b != NULL) {
        printf(", \"latency\": {\"n\": %llu, \"p50_us\": %llu, \"p99_us\": %llu, "
               "\"max_us\": %llu}",
               (unsigned long long)total.n, (unsigned long long)percentile(&total, 0.50),
               (unsigned long long)percentile(&total, 0.99), (unsigned long long)total.max);
    }
    printf("}\n");
    fflush(stdout);
}

/* --interval-ms: one JSON line for the period just ended, then a fresh period. */
static void print_interval(double t_s, double len_s)
{
    printf("{\"interval\": true, \"t\": %.3f, \"seconds\": %.3f, \"done\": %llu, "
           "\"timeouts\": %llu, \"closed\": %llu",
           t_s, len_s, (unsigned long long)iv_done, (unsigned long long)iv_timeouts,
           (unsigned long long)iv_closed);
    if (iv.b != NULL) {
        printf(", \"n\": %llu, \"p50_us\": %llu, \"p99_us\": %llu, \"max_us\": %llu",
               (unsigned long long)iv.n, (unsigned long long)percentile(&iv, 0.50),
               (unsigned long long)percentile(&iv, 0.99), (unsigned long long)iv.max);
        memset(iv.b, 0, HIST_US * sizeof *iv.b);
        iv.over = iv.max = iv.n = 0;
    }
    printf("}\n");
    fflush(stdout);
    iv_done = iv_timeouts = iv_closed = 0;
}

static int run_throughput(void)
{
    int ready = open_all(o.conns, o.conns < 256 ? o.conns : 256);
    if (ready < o.conns) {
        fprintf(stderr, "loadgen: only %d of %d connections ready\n", ready, o.conns);
        print_result(0.0);
        return 1;
    }
    uint8_t *buf = malloc(READ_BUF);
    if (buf == NULL)
        exit(1);
    running = 1;
    for (int k = 0; k < o.conns; k++)
        start_conn(&conns[k]);
    uint64_t t0 = now_us(), warm_end = t0 + (uint64_t)(o.warmup * 1e6);
    uint64_t end = warm_end + (uint64_t)(o.seconds * 1e6), t_meas = warm_end;
    uint64_t next_check = t0, next_iv = UINT64_MAX, iv_start = 0;
    for (uint64_t round = 0; round < 4000000000u && !stop_flag; round++) {
        uint64_t t = now_us();
        if (!measuring && t >= warm_end) {
            measuring = 1;
            measure_begin();
            t_meas = iv_start = t;
            next_iv = t + (uint64_t)o.interval_ms * 1000u;
        }
        if (t >= end)
            break;
        poll_once(20, buf);
        if (o.interval_ms > 0 && measuring && t >= next_iv) {
            print_interval((double)(t - t_meas) / 1e6, (double)(t - iv_start) / 1e6);
            iv_start = t;
            next_iv = t + (uint64_t)o.interval_ms * 1000u;
        }
        if (t >= next_check) {
            next_check = t + 50000;
            tick_all();
            if (o.timeout_ms > 0)
                check_timeouts(now_us());
            /* --reconnect: a connection that closed is opened again and restarted */
            for (int k = 0; k < o.conns; k++) {
                struct lconn *c = &conns[k];
                if (o.reconnect && conn_reopen(c) == 0 && measuring)
                    n_reconnects++;
            }
        }
    }
    double secs = (double)(now_us() - t_meas) / 1e6;
    measuring = 0;
    measure_end();
    if (!o.reconnect && count_state(C_READY) < o.conns)
        n_errors += (uint64_t)(o.conns - count_state(C_READY));
    print_result(secs);
    free(buf);
    return 0;
}

static int run_handshakes(void)
{
    uint8_t *buf = malloc(READ_BUF);
    if (buf == NULL)
        exit(1);
    uint64_t t0 = now_us(), warm_end = t0 + (uint64_t)(o.warmup * 1e6);
    uint64_t end = warm_end + (uint64_t)(o.seconds * 1e6), t_meas = warm_end;
    for (uint64_t round = 0; round < 4000000000u && !stop_flag; round++) {
        uint64_t t = now_us();
        if (!measuring && t >= warm_end) {
            measuring = 1;
            measure_begin();
            t_meas = t;
        }
        if (t >= end)
            break;
        for (int k = 0; k < o.conns; k++) {
            struct lconn *c = &conns[k];
            if (c->st == C_DONE) {
                /* An abortive close (RST): a run of thousands of connections would
                 * otherwise leave as many sockets in TIME_WAIT, which slows loopback
                 * for the runs that follow. The server has answered by now. */
                struct linger lg = {1, 0};
                setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                conn_close(c);
            }
            conn_reopen(c);
        }
        poll_once(20, buf);
        tick_all();
    }
    double secs = (double)(now_us() - t_meas) / 1e6;
    measuring = 0;
    measure_end();
    print_result(secs);
    free(buf);
    return 0;
}

static int run_hold(void)
{
    o.conns = o.hold;
    int ready = open_all(o.hold, 64);
    printf("held %d\n", ready);
    fflush(stdout);
    if (ready < o.hold)
        fprintf(stderr,
                "loadgen: only %d of %d connections ready (connect failures %llu, "
                "setup failures %llu)\n",
                ready, o.hold, (unsigned long long)n_connect_fail,
                (unsigned long long)n_setup_fail);
    uint8_t *buf = malloc(READ_BUF);
    if (buf == NULL)
        exit(1);
    uint64_t end = now_us() + (uint64_t)(o.seconds * 1e6);
    for (uint64_t round = 0; round < 100000000u && !stop_flag && now_us() < end; round++)
        poll_once(200, buf);
    free(buf);
    return ready == o.hold ? 0 : 1;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (sodium_init() < 0) {
        fprintf(stderr, "loadgen: sodium_init failed\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o.latency) {
        total.b = calloc(HIST_US, sizeof *total.b);
        if (total.b == NULL)
            return 1;
        if (o.interval_ms > 0) {
            iv.b = calloc(HIST_US, sizeof *iv.b);
            if (iv.b == NULL)
                return 1;
        }
    }
    setup_node();
    if (o.proto == P_MEM) {
        run_mem();
        parley_node_free(&node);
        return 0;
    }
    resolve_target();
    if (o.proto != P_PARLEY)
        setup_raw();
    int n = o.mode == M_HOLD ? o.hold : o.conns;
    conns = calloc((size_t)n, sizeof *conns);
    pfds = calloc((size_t)n, sizeof *pfds);
    if (conns == NULL || pfds == NULL)
        return 1;
    for (int k = 0; k < n; k++) {
        conns[k].fd = -1;
        if (o.latency || o.timeout_ms > 0) {
            conns[k].pend = calloc((size_t)o.depth, sizeof *conns[k].pend);
            if (conns[k].pend == NULL)
                return 1;
        }
    }
    int rc = o.mode == M_HOLD         ? run_hold()
             : o.mode == M_HANDSHAKES ? run_handshakes()
                                      : run_throughput();
    for (int k = 0; k < n; k++) {
        conn_close(&conns[k]);
        free(conns[k].pend);
    }
    free(conns);
    free(pfds);
    free(unit);
    free(pattern);
    free(total.b);
    free(iv.b);
    if (node_ready)
        parley_node_free(&node);
    return rc;
}
