/*
 * parley-peer.c - the reference peer: one poll(2) loop, no threads, non-blocking sockets.
 *
 * This file is the only place that touches sockets and the clock. The connection core
 * (conn.h) gets bytes and CLOCK_MONOTONIC milliseconds and gives back bytes to send and
 * the next deadline; everything node-wide (the connection list for PEERS, SHUTDOWN, the
 * key log, persistence) lives here and is reached by the core through parley_node_ops.
 *
 * One round of the loop: poll every socket (POLLIN only while the core wants input and,
 * for a handshake, while a handshake token is left; POLLOUT only while output waits),
 * accept, read into the one shared 64 KiB buffer and feed the core, write what it gives,
 * run the ticks that are due, then close what the core closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>

#include "common.h"
#include "conn.h"

#define READ_BUF_LEN (64u * 1024u)
#define HS_RATE 2000      /* [HS-13] handshakes started per second ... */
#define HS_BURST 256      /* ... with this burst ... */
#define HS_BURST_MILLI ((uint64_t)HS_BURST * 1000u) /* the bucket's size in milli-tokens */
#define HS_MAX_ACTIVE 256 /* ... and at most this many in progress at once */
#define HS_EVICT_MS 1000  /* a handshake slot held this long may be given to a newcomer */
#define SHUTDOWN_GRACE_MS 5000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: stop accepting this long */
#define MAX_BOOTSTRAP 32
#define MAX_KNOWN 4096
#define PEER_ENTRY_MAX (PARLEY_NODE_ID_LEN + 1 + 16 + 2 + 1)

struct bootstrap;

struct pconn {
    struct parley_conn c; /* first member: the core's pointer converts back to ours */
    int fd;
    int outbound;
    int connecting;  /* non-blocking connect in progress */
    int hs_token;    /* [HS-13] this connection may do handshake work */
    uint64_t hs_ms;  /* when it took its token */
    const char *why; /* set when we drop the connection ourselves: close at once */
    int polled_in;   /* POLLIN was asked this round */
    struct bootstrap *boot;
    struct sockaddr_storage sa;
    char name[64]; /* remote address, for logs */
    char id[17];   /* first 16 hex of the remote node id, once open */
};

struct bootstrap {
    char spec[300], host[256], port[8];
    struct pconn *pc;
    uint64_t next_ms, backoff_ms;
    unsigned attempt;
};

struct known {
    uint8_t id[PARLEY_NODE_ID_LEN];
    char addr[64];
    unsigned port;
    int outbound;
};

static struct {
    struct parley_node node;
    int listen_fd;
    uint64_t listen_pause_until;
    int sig_pipe[2];
    struct pconn **conns;
    size_t n, cap, max_conns;
    struct bootstrap boot[MAX_BOOTSTRAP];
    size_t n_boot;
    struct known known[MAX_KNOWN];
    size_t n_known;
    uint64_t tokens, tokens_ms; /* milli-tokens of the handshake bucket, last refill */
    int shutdown_req, shutting_down;
    uint64_t shutdown_deadline;
    FILE *keylog;
    const char *data_dir;
    uint8_t rbuf[READ_BUF_LEN];
} P;

static void fatal(const char *event, const char *detail)
{
    log_kv(LOG_ERROR, event, "detail", detail, LOG_END);
    exit(1);
}

/* ---- known peers and state.json ----------------------------------------------------- */

static void known_add(const uint8_t id[32], const char *addr, unsigned port, int outbound)
{
    struct known *k = NULL;

    for (size_t i = 0; i < P.n_known && !k; i++)
        if (memcmp(P.known[i].id, id, 32) == 0)
            k = &P.known[i];
    if (!k && P.n_known < MAX_KNOWN)
        k = &P.known[P.n_known++];
    if (!k)
        return; /* bounded: the oldest entries stay */
    memcpy(k->id, id, 32);
    (void)snprintf(k->addr, sizeof k->addr, "%s", addr); /* callers' buffers are this size */
    k->port = port;
    k->outbound = outbound;
}

/* DIR/state.json, then suffix, into path[cap]. Returns 0, or -1 (ENAMETOOLONG) when it
 * does not fit: a cut path would name another file. */
static int state_path(char *path, size_t cap, const char *suffix)
{
    int n = snprintf(path, cap, "%s/state.json%s", P.data_dir, suffix);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Reads the peers of a state.json this program wrote (one peer per line). */
static void state_load(void)
{
    char path[4096], line[512], idhex[65], addr[64], portdec[6], out[8];
    unsigned long port;
    uint8_t id[32];
    FILE *f;

    if (!P.data_dir || state_path(path, sizeof path, "") != 0)
        return;
    if (!(f = fopen(path, "r")))
        return;
    while (fgets(line, sizeof line, f)) /* the port as digits: %u cannot report overflow */
        if (sscanf(line,
                   " {\"id\": \"%64[0-9a-f]\", \"address\": \"%63[^\"]\", \"port\": %5[0-9], "
                   "\"outbound\": %7[a-z]",
                   idhex, addr, portdec, out) == 4 &&
            hex_decode(id, 32, idhex, strlen(idhex)) == 0 &&
            parse_uint(portdec, 0, 65535, &port) == 0)
            known_add(id, addr, (unsigned)port, strcmp(out, "true") == 0);
    (void)fclose(f); /* read only: nothing is lost */
    (void)snprintf(line, sizeof line, "%zu known peers", P.n_known);
    log_kv(LOG_INFO, "state_loaded", "detail", line, "file", path, LOG_END);
}

/* Writes DIR/state.json through a temp file, fsync and rename ([ADMIN-4] persists). */
static int state_save(uint64_t now)
{
    char path[4096], tmp[4100], hex[65];
    FILE *f;
    int fd, ok;

    if (!P.data_dir)
        return 0;
    if (state_path(path, sizeof path, "") != 0 || state_path(tmp, sizeof tmp, ".tmp") != 0)
        return -1;
    if (!(f = fopen(tmp, "w")))
        return -1;
    hex_encode(hex, P.node.identity_pk, 32);
    fprintf(f, "{\n  \"version\": 1,\n  \"node_id\": \"%s\",\n  \"counters\": {", hex);
    for (uint16_t id = 1; id <= PARLEY_STAT_MAX_ID; id++) {
        unsigned long long v = id == PARLEY_STAT_UPTIME
                                   ? (unsigned long long)(now - P.node.started_ms) / 1000u
                                   : (unsigned long long)P.node.stats[id];
        fprintf(f, "%s\"%s\": %llu", id > 1 ? ", " : "", stat_name(id), v);
    }
    fprintf(f, "},\n  \"peers\": [\n");
    for (size_t i = 0; i < P.n_known; i++) {
        hex_encode(hex, P.known[i].id, 32);
        fprintf(f, "    {\"id\": \"%s\", \"address\": \"%s\", \"port\": %u, \"outbound\": %s}%s\n",
                hex, P.known[i].addr, P.known[i].port, P.known[i].outbound ? "true" : "false",
                i + 1 < P.n_known ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    /* ferror: a write that failed in an earlier flush of the buffer leaves no trace in
     * the last fflush, and a short file must not replace the last good one. */
    ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        return -1;
    if ((fd = open(P.data_dir, O_RDONLY)) >= 0) { /* make the rename itself durable */
        (void)fsync(fd);
        close(fd);
    }
    return 0;
}

/* ---- connections --------------------------------------------------------------------- */

static struct pconn *pconn_of(struct parley_conn *c)
{
    return (struct pconn *)(void *)c;
}

static void conn_log(enum log_level lv, struct pconn *pc, const char *event, const char *detail)
{
    log_kv(lv, event, "peer", pc->name, "id", pc->id[0] ? pc->id : NULL, "detail", detail, LOG_END);
}

static struct pconn *conn_new(int fd, const struct sockaddr *sa, socklen_t salen, int outbound,
                              uint64_t now)
{
    struct pconn *pc;

    if (P.n == P.cap) {
        size_t cap = P.cap ? 2 * P.cap : 64;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): conns holds pointers, as meant */
        struct pconn **grown = realloc(P.conns, cap * sizeof *grown);
        if (!grown)
            return NULL;
        P.conns = grown;
        P.cap = cap;
    }
    if (!(pc = calloc(1, sizeof *pc)))
        return NULL;
    parley_conn_init(&pc->c, &P.node, outbound, now);
    pc->fd = fd;
    pc->outbound = outbound;
    memcpy(&pc->sa, sa, salen);
    sockaddr_name(sa, salen, pc->name, sizeof pc->name);
    P.conns[P.n++] = pc;
    P.node.stats[PARLEY_STAT_CONNS_TOTAL]++;
    return pc;
}

static void boot_schedule(struct bootstrap *b, uint64_t now)
{
    b->next_ms = now + b->backoff_ms;
    b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
}

/* Closes the socket and frees the connection; a bootstrap target is dialled again later. */
static void conn_close(struct pconn *pc, uint64_t now)
{
    const char *why = pc->c.close_reason ? parley_err_name(pc->c.close_reason)
                      : pc->why          ? pc->why
                                         : "clean";
    conn_log(pc->c.close_reason ? LOG_WARN : LOG_INFO, pc, "conn_close", why);
    if (pc->boot) {
        pc->boot->pc = NULL;
        if (!P.shutting_down)
            boot_schedule(pc->boot, now);
    }
    parley_conn_free(&pc->c);
    close(pc->fd);
    free(pc);
}

static void conn_flush(struct pconn *pc)
{
    if (!pc->connecting && !pc->why && conn_write_fd(&pc->c, pc->fd) != 0)
        pc->why = "write failed";
}

static int conn_has_output(struct pconn *pc)
{
    const uint8_t *out;
    return parley_conn_output(&pc->c, &out) > 0;
}

/* A connection is finished when the core closed it or the socket failed. */
static int conn_done(const struct pconn *pc)
{
    return pc->why || pc->c.state == PARLEY_CONN_CLOSED;
}

/* [HS-13]: inbound connections need a token before their handshake is read. The preface
 * costs nothing, so the token is taken only once the Noise messages start. */
static int needs_token(const struct pconn *pc)
{
    return !pc->outbound && !pc->hs_token && pc->c.state == PARLEY_CONN_HANDSHAKE;
}

/* [HS-13]: when every handshake slot is taken and another connection waits, the oldest
 * handshake that has had HS_EVICT_MS to finish is dropped, so stalled handshakes cannot
 * hold the slots for the whole HANDSHAKE_TIMEOUT. */
static void evict_stalled_handshake(uint64_t now)
{
    struct pconn *oldest = NULL;
    for (size_t i = 0; i < P.n; i++) {
        struct pconn *pc = P.conns[i];
        if (pc->hs_token && pc->c.state < PARLEY_CONN_OPEN && !pc->why &&
            now - pc->hs_ms >= HS_EVICT_MS && (oldest == NULL || pc->hs_ms < oldest->hs_ms))
            oldest = pc;
    }
    if (oldest != NULL)
        oldest->why = "handshake stalled (evicted)";
}

static size_t hs_active(void)
{
    size_t n = 0;
    for (size_t i = 0; i < P.n; i++)
        n += P.conns[i]->hs_token && P.conns[i]->c.state < PARLEY_CONN_OPEN;
    return n;
}

static void tokens_refill(uint64_t now)
{
    P.tokens += (now - P.tokens_ms) * HS_RATE; /* HS_RATE/s = HS_RATE milli-tokens/ms */
    if (P.tokens > HS_BURST_MILLI)
        P.tokens = HS_BURST_MILLI;
    P.tokens_ms = now;
}

static int token_available(size_t active)
{
    return P.tokens >= 1000u && active < HS_MAX_ACTIVE;
}

/* ---- node ops: what the core asks of the node ---------------------------------------- */

static int peer_entry(const struct pconn *pc, uint8_t *out, size_t cap)
{
    struct parley_peer p = {0};
    const struct sockaddr_in *v4 = (const void *)&pc->sa;
    const struct sockaddr_in6 *v6 = (const void *)&pc->sa;

    p.node_id = pc->c.remote.identity_key;
    p.port = pc->c.remote.listen_port; /* the remote's listen port, not the socket's */
    p.flags = pc->outbound ? PARLEY_PEER_OUTBOUND : 0;
    if (pc->sa.ss_family == AF_INET) {
        p.family = 4;
        p.address = (const uint8_t *)&v4->sin_addr;
        p.address_len = 4;
    } else if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        p.family = 4;
        p.address = (const uint8_t *)&v6->sin6_addr + 12;
        p.address_len = 4;
    } else {
        p.family = 6;
        p.address = (const uint8_t *)&v6->sin6_addr;
        p.address_len = 16;
    }
    return parley_peer_encode(out, cap, &p);
}

/* The ACK body of PEERS: every authenticated connection ([ADMIN-3]). */
static int ops_peers(void *ctx, uint8_t *out, size_t cap)
{
    size_t len = 2;
    uint16_t count = 0;

    (void)ctx;
    if (cap < 2)
        return PARLEY_E_NOROOM;
    for (size_t i = 0; i < P.n && count < UINT16_MAX; i++) {
        int n;
        if (P.conns[i]->c.state != PARLEY_CONN_OPEN)
            continue;
        if ((n = peer_entry(P.conns[i], out + len, cap - len)) < 0)
            return n;
        len += (size_t)n;
        count++;
    }
    out[0] = (uint8_t)(count >> 8);
    out[1] = (uint8_t)count;
    return (int)len;
}

static size_t ops_peers_size(void *ctx)
{
    (void)ctx;
    return 2 + P.n * PEER_ENTRY_MAX;
}

static void ops_shutdown(void *ctx, struct parley_conn *from)
{
    (void)ctx;
    conn_log(LOG_INFO, pconn_of(from), "shutdown_request", "from the admin");
    P.shutdown_req = 1; /* acted on by the loop once this input is handled */
}

static void ops_keylog(void *ctx, const char *lines)
{
    (void)ctx;
    if (P.keylog) { /* [KEYLOG-1] appended and flushed before the first record */
        fputs(lines, P.keylog);
        (void)fflush(P.keylog); /* a debugging aid: the session does not depend on it */
    }
}

static void ops_opened(void *ctx, struct parley_conn *c)
{
    struct pconn *pc = pconn_of(c);
    char addr[64], *colon;

    (void)ctx;
    hex_encode(pc->id, c->remote.identity_key, 8);
    conn_log(LOG_INFO, pc, "conn_open", pc->outbound ? "outbound" : "inbound");
    (void)snprintf(addr, sizeof addr, "%s", pc->name[0] == '[' ? pc->name + 1 : pc->name);
    if ((colon = strrchr(addr, pc->name[0] == '[' ? ']' : ':')))
        *colon = '\0';
    if (c->remote.listen_port != 0) /* a node that only dials out cannot be dialled back */
        known_add(c->remote.identity_key, addr, c->remote.listen_port, pc->outbound);
    if (pc->boot)
        pc->boot->backoff_ms = BACKOFF_MIN_MS;
}

static void ops_log(void *ctx, struct parley_conn *c, const char *event, const char *detail)
{
    (void)ctx;
    log_kv(LOG_DEBUG, event, "peer", c ? pconn_of(c)->name : NULL, "id",
           c && pconn_of(c)->id[0] ? pconn_of(c)->id : NULL, "detail", detail, LOG_END);
}

/* ---- sockets ------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    int saved = errno;
    char b = (char)sig;
    (void)!write(P.sig_pipe[1], &b, 1);
    errno = saved;
}

static uint16_t listen_open(const char *spec)
{
    char host[256], port[8], why[300] = "no address";
    struct addrinfo hints = {0}, *res, *ai;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    int one = 1, rc, fd = -1;

    if (hostport_split(spec, host, sizeof host, port, sizeof port) != 0)
        usage_error("--tcp", "expected HOST:PORT");
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
        usage_error("--tcp", gai_strerror(rc));
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        if ((fd = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP)) < 0)
            continue;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
            fd_nonblock(fd) != 0) {
            (void)snprintf(why, sizeof why, "%s: %s", spec, strerror(errno)); /* for the log */
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fatal("listen_failed", why);
    P.listen_fd = fd;
    getsockname(fd, (struct sockaddr *)&sa, &salen);
    return ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                          : ((struct sockaddr_in *)&sa)->sin_port);
}

static void on_accept(uint64_t now)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        char name[64];
        int one = 1, fd = accept(P.listen_fd, (struct sockaddr *)&sa, &salen);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_kv(LOG_WARN, "accept_failed", "detail", strerror(errno), LOG_END);
                P.listen_pause_until = now + ACCEPT_PAUSE_MS;
            }
            return; /* EAGAIN: all taken */
        }
        sockaddr_name((struct sockaddr *)&sa, salen, name, sizeof name);
        if (P.n >= P.max_conns || fd_nonblock(fd) != 0) { /* over --max-conns: close at once */
            log_kv(LOG_WARN, "conn_refused", "peer", name, "detail", "max-conns reached", LOG_END);
            close(fd);
            continue;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!conn_new(fd, (struct sockaddr *)&sa, salen, 0, now)) {
            close(fd);
            continue;
        }
        log_kv(LOG_DEBUG, "conn_accept", "peer", name, LOG_END);
    }
}

/* Dials a bootstrap target; the connection's close schedules the next try (backoff). */
static void boot_dial(struct bootstrap *b, uint64_t now)
{
    struct addrinfo hints = {0}, *res, *ai;
    struct pconn *pc = NULL;
    int rc, n = 0, pending, fd;

    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(b->host, b->port, &hints, &res)) != 0) {
        log_kv(LOG_WARN, "dial_failed", "peer", b->spec, "detail", gai_strerror(rc), LOG_END);
        boot_schedule(b, now);
        return;
    }
    for (ai = res; ai; ai = ai->ai_next)
        n++;
    /* getaddrinfo's success means one address at least (POSIX), so n > 0 here.
     * NOLINTNEXTLINE(clang-analyzer-core.DivideZero): the analyzer does not model that */
    for (ai = res, n = (int)(b->attempt++ % (unsigned)n); n > 0; n--) /* rotate addresses */
        ai = ai->ai_next;
    if ((fd = tcp_connect_start(ai, &pending)) < 0)
        log_kv(LOG_WARN, "dial_failed", "peer", b->spec, "detail", strerror(errno), LOG_END);
    else if (!(pc = conn_new(fd, ai->ai_addr, ai->ai_addrlen, 1, now)))
        close(fd);
    freeaddrinfo(res);
    if (!pc) {
        boot_schedule(b, now);
        return;
    }
    pc->connecting = pending;
    pc->boot = b;
    b->pc = pc;
    conn_log(LOG_DEBUG, pc, "dial", b->spec);
}

/* [ADMIN-4]: stop accepting, BYE (reason SHUTDOWN) on every connection, keep serving what
 * is owed for SHUTDOWN_GRACE_MS at most. */
static void shutdown_begin(uint64_t now)
{
    P.shutting_down = 1;
    P.node.shutting_down = 1; /* [ADMIN-5] new requests are answered SHUTTING_DOWN */
    P.shutdown_deadline = now + SHUTDOWN_GRACE_MS;
    if (P.listen_fd >= 0)
        close(P.listen_fd);
    P.listen_fd = -1;
    log_kv(LOG_INFO, "shutdown", "detail", "listener closed, sending BYE", LOG_END);
    for (size_t i = 0; i < P.n; i++) {
        struct pconn *pc = P.conns[i];
        if (pc->c.state == PARLEY_CONN_OPEN)
            (void)parley_conn_bye(&pc->c, 1, "shutdown", now); /* reason 1 SHUTDOWN */
        else if (pc->c.state < PARLEY_CONN_OPEN)
            pc->why = "shutdown"; /* no session yet: nothing is owed */
        conn_flush(pc);
    }
}

/* ---- the loop ------------------------------------------------------------------------ */

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void run(void)
{
    struct pollfd *pfd = NULL;
    size_t pfd_cap = 0;

    for (;;) {
        uint64_t now = clock_ms(), wake = UINT64_MAX;
        size_t active, n;
        int token_wait = 0, timeout, rc;

        tokens_refill(now);
        if (P.shutdown_req && !P.shutting_down)
            shutdown_begin(now);
        if (P.shutting_down && (P.n == 0 || now >= P.shutdown_deadline))
            break;
        for (size_t i = 0; i < P.n_boot && !P.shutting_down; i++)
            if (!P.boot[i].pc && now >= P.boot[i].next_ms)
                boot_dial(&P.boot[i], now);

        if (pfd == NULL || pfd_cap < P.n + 2) {
            struct pollfd *grown = realloc(pfd, (P.n + 2) * 2 * sizeof *pfd);
            if (!grown)
                fatal("out_of_memory", "poll set");
            pfd = grown;
            pfd_cap = (P.n + 2) * 2;
        }
        pfd[0] = (struct pollfd){.fd = P.sig_pipe[0], .events = POLLIN};
        pfd[1] =
            (struct pollfd){.fd = now >= P.listen_pause_until ? P.listen_fd : -1, .events = POLLIN};
        if (P.listen_fd >= 0 && now < P.listen_pause_until)
            wake = P.listen_pause_until;
        active = hs_active();
        n = P.n; /* connections accepted during this round wait for the next one */
        for (size_t i = 0; i < n; i++) {
            struct pconn *pc = P.conns[i];
            short ev = 0;
            pc->polled_in = 0;
            if (pc->connecting) {
                ev = POLLOUT;
            } else {
                if (parley_conn_wants_input(&pc->c)) { /* [LIMIT-4] */
                    if (!needs_token(pc) || token_available(active))
                        pc->polled_in = 1;
                    else
                        token_wait = 1; /* [HS-13] not read this round */
                }
                ev = (short)((pc->polled_in ? POLLIN : 0) | (conn_has_output(pc) ? POLLOUT : 0));
            }
            pfd[i + 2] = (struct pollfd){.fd = pc->fd, .events = ev};
            wake = min64(wake, parley_conn_deadline(&pc->c));
        }
        for (size_t i = 0; i < P.n_boot && !P.shutting_down; i++)
            if (!P.boot[i].pc)
                wake = min64(wake, P.boot[i].next_ms);
        if (P.shutting_down)
            wake = min64(wake, P.shutdown_deadline);
        if (token_wait) {
            wake = min64(wake, now + 1 + (1000u - min64(P.tokens, 1000u)) / HS_RATE);
            if (active >= HS_MAX_ACTIVE)
                evict_stalled_handshake(now);
        }
        timeout = wake == UINT64_MAX ? -1 : wake <= now ? 0 : (int)min64(wake - now, 60000);

        if (poll(pfd, (nfds_t)(n + 2), timeout) < 0 && errno != EINTR)
            fatal("poll_failed", strerror(errno));
        now = clock_ms();
        tokens_refill(now);

        if (pfd[0].revents & POLLIN) {
            char b[16];
            while (read(P.sig_pipe[0], b, sizeof b) > 0)
                P.shutdown_req = 1;
            if (P.shutdown_req)
                log_kv(LOG_INFO, "signal", "detail", "graceful shutdown", LOG_END);
        }
        if (P.listen_fd >= 0 && (pfd[1].revents & POLLIN))
            on_accept(now);
        for (size_t i = 0; i < n; i++) {
            struct pconn *pc = P.conns[i];
            short re = pfd[i + 2].revents;
            if (re == 0)
                continue;
            if (pc->connecting) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(pc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) {
                    conn_log(LOG_WARN, pc, "dial_failed", strerror(err));
                    pc->why = "dial failed";
                }
                pc->connecting = 0;
            } else if (pc->polled_in && (re & (POLLIN | POLLHUP | POLLERR))) {
                if (needs_token(pc)) { /* [HS-13] a token per handshake, or not read now */
                    if (!token_available(active))
                        continue;
                    P.tokens -= 1000u;
                    pc->hs_token = 1;
                    pc->hs_ms = now;
                    active++;
                }
                if ((rc = conn_read_fd(&pc->c, pc->fd, P.rbuf, sizeof P.rbuf, now)) < 0)
                    pc->why = rc == -1 ? "remote closed" : "read failed";
            } else if (re & (POLLERR | POLLHUP | POLLNVAL)) {
                pc->why = "socket error";
            }
            conn_flush(pc);
        }
        for (size_t i = 0; i < P.n; i++) {
            struct pconn *pc = P.conns[i];
            if (parley_conn_deadline(&pc->c) <= now) {
                parley_conn_tick(&pc->c, now);
                conn_flush(pc);
            }
        }
        for (size_t i = P.n; i-- > 0;) {
            if (conn_done(P.conns[i])) { /* CLOSING flushed first (a REFUSE, owed answers) */
                conn_close(P.conns[i], now);
                P.conns[i] = P.conns[--P.n];
            }
        }
    }
    free(pfd);
}

/* ---- flags and main ------------------------------------------------------------------ */

static void usage(void)
{
    puts("usage: parley-peer [flags]\n"
         "  --tcp HOST:PORT       listen here (default 127.0.0.1:7400; port 0: any free port)\n"
         "  --key FILE            Ed25519 identity: 128 hex chars (libsodium 64-byte secret\n"
         "                        key) or 64 raw bytes; created (mode 0600) when missing;\n"
         "                        without it a fresh identity is used\n"
         "  --data DIR            state directory (state.json), created when missing\n"
         "  --bootstrap HOST:PORT dial this peer and keep the connection (repeatable)\n"
         "  --admin-key HEX|FILE  the admin's Ed25519 public key (64 hex), or a file holding\n"
         "                        it, or a key file as --key writes\n"
         "  --keylog FILE         append session keys (spec 3.3) to FILE\n"
         "  --max-conns N         connections at most (default 1024)\n"
         "  --log-level LEVEL     debug, info, warn or error (default info)\n"
         "  --version, --help");
}

int main(int argc, char **argv)
{
    const char *tcp = "127.0.0.1:7400", *key_file = NULL, *admin = NULL, *keylog = NULL, *msg;
    const struct {
        const char *flag, **value;
    } strings[] = {{"--tcp", &tcp},
                   {"--key", &key_file},
                   {"--data", &P.data_dir},
                   {"--admin-key", &admin},
                   {"--keylog", &keylog}};
    uint8_t sk[64], admin_pk[32];
    unsigned long v;
    struct sigaction sa = {0};
    struct rlimit rl;
    char detail[128], addr[300], idhex[65];
    int rc;

    prog_name = "parley-peer";
    P.max_conns = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0;
        while (k < sizeof strings / sizeof strings[0] && !flag_is(a, strings[k].flag))
            k++;
        if (k < sizeof strings / sizeof strings[0]) {
            *strings[k].value = flag_value(argc, argv, &i, strings[k].flag);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("parley-peer %s (Parley spec %s)\n", CMD_VERSION, PARLEY_SPEC_VERSION);
            return 0;
        } else if (flag_is(a, "--bootstrap")) {
            struct bootstrap *b = &P.boot[P.n_boot];
            const char *s = flag_value(argc, argv, &i, "--bootstrap");
            if (P.n_boot == MAX_BOOTSTRAP)
                usage_error("--bootstrap", "too many");
            if (strlen(s) >= sizeof b->spec ||
                hostport_split(s, b->host, sizeof b->host, b->port, sizeof b->port) != 0 ||
                strcmp(b->port, "0") == 0)
                usage_error("--bootstrap", "expected HOST:PORT");
            (void)snprintf(b->spec, sizeof b->spec, "%s", s); /* fits: length checked above */
            b->backoff_ms = BACKOFF_MIN_MS;
            P.n_boot++;
        } else if (flag_is(a, "--max-conns")) {
            if (parse_uint(flag_value(argc, argv, &i, "--max-conns"), 1, 1000000, &v) != 0)
                usage_error("--max-conns", "expected a number in 1..1000000");
            P.max_conns = v;
        } else if (flag_is(a, "--log-level")) {
            if (log_level_parse(flag_value(argc, argv, &i, "--log-level"), &log_min_level))
                usage_error("--log-level", "expected debug, info, warn or error");
        } else {
            usage_error(a, "unknown flag");
        }
    }

    if (sodium_init() < 0)
        fatal("sodium_init_failed", "libsodium");
    (void)signal(SIGPIPE, SIG_IGN); /* cannot fail for a valid signal */
    if (pipe(P.sig_pipe) != 0 || fd_nonblock(P.sig_pipe[0]) || fd_nonblock(P.sig_pipe[1]))
        fatal("pipe_failed", strerror(errno));
    sa.sa_handler = on_signal; /* SIGTERM, SIGINT: the same graceful shutdown as SHUTDOWN */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* many connections need many descriptors */
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    if (admin && admin_key_parse(admin, admin_pk, &msg) != 0)
        usage_error("--admin-key", msg);
    if (!key_file) {
        uint8_t pk[32];
        crypto_sign_keypair(pk, sk);
        log_kv(LOG_WARN, "key", "detail", "no --key: a fresh identity for this run", LOG_END);
    } else if ((rc = key_load_or_create(key_file, sk, &msg)) < 0) {
        usage_error("--key", msg);
    } else if (rc == 1) {
        log_kv(LOG_INFO, "key_created", "detail", key_file, LOG_END);
    }
    if (P.data_dir && mkdir(P.data_dir, 0700) != 0 && errno != EEXIST)
        usage_error("--data", strerror(errno));
    if (keylog) {
        int fd = open(keylog, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd < 0 || !(P.keylog = fdopen(fd, "a")))
            usage_error("--keylog", strerror(errno));
    }
    state_load();

    P.listen_fd = -1;
    if (parley_node_init(&P.node, sk, clock_ms()) != 0)
        fatal("node_init_failed", "out of memory");
    sodium_memzero(sk, sizeof sk);
    if (admin) { /* [ADMIN-1] the only key PEERS, STATS and SHUTDOWN are accepted from */
        memcpy(P.node.admin_pk, admin_pk, sizeof admin_pk);
        P.node.has_admin = 1;
    }
    P.node.listen_port = listen_open(tcp);
    P.node.ops = (struct parley_node_ops){.peers = ops_peers,
                                          .peers_size = ops_peers_size,
                                          .shutdown = ops_shutdown,
                                          .keylog = ops_keylog,
                                          .opened = ops_opened,
                                          .log = ops_log};
    if (parley_node_sign(&P.node) != 0)
        fatal("node_sign_failed", "identity payload");
    P.tokens = HS_BURST_MILLI;
    P.tokens_ms = clock_ms();

    hex_encode(idhex, P.node.identity_pk, 32);
    (void)snprintf(addr, sizeof addr, "%s", tcp); /* fits: listen_open checked its parts */
    *strrchr(addr, ':') = '\0';
    (void)snprintf(detail, sizeof detail, "%u", P.node.listen_port);
    log_kv(LOG_ALWAYS, "listening", "addr", addr, "port", detail, "id", idhex, "admin",
           admin ? "set" : "none", LOG_END);

    run();

    for (size_t i = 0; i < P.n; i++)
        conn_close(P.conns[i], clock_ms());
    P.n = 0;
    if ((rc = state_save(clock_ms())) != 0) /* [ADMIN-4] exit 0 only once state is saved */
        log_kv(LOG_ERROR, "state_save_failed", "detail", strerror(errno), LOG_END);
    else if (P.data_dir)
        log_kv(LOG_INFO, "state_saved", "detail", P.data_dir, LOG_END);
    if (P.keylog)
        (void)fclose(P.keylog); /* flushed after every line already */
    parley_node_free(&P.node);
    free(P.conns);
    log_kv(LOG_INFO, "exit", "detail", "shutdown complete", LOG_END);
    return rc == 0 ? 0 : 1;
}
