/*
 * parley.c - the client CLI: ping, peers, stats, shutdown and send-raw against a running
 * peer, for people (one line per answer) and scripts (--json: one JSON object per line).
 *
 * It runs the same connection core as the peer, as initiator, under a tiny blocking poll
 * loop; answers arrive through parley_node_ops.response.
 *
 * Exit status: 0 ok; 1 the peer answered NACK, refused (preface REFUSE) or closed;
 * 2 usage; 3 no connection, or no answer within --timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"
#include "conn.h"

enum { EXIT_OK = 0, EXIT_PEER = 1, EXIT_USAGE = 2, EXIT_NET = 3 };
enum command { CMD_PING, CMD_PEERS, CMD_STATS, CMD_SHUTDOWN, CMD_SEND_RAW, CMD_KEYGEN };

static struct {
    struct parley_node node;
    struct parley_conn c;
    int fd, json, verbose, opened, failed;
    unsigned long timeout_ms;
    enum command cmd;
    const char *target;
    size_t pending;          /* answers still awaited */
    uint8_t awaiting[65536]; /* by tag */
    uint64_t ping_sent_us;   /* ping: the time the current PING left */
    unsigned long ping_seq;
    double rtt_min, rtt_max, rtt_sum;
    unsigned long answered;
    uint8_t rbuf[65536];
} C;

static uint64_t clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- output: "event key=value ..." lines, or one JSON object per line ---------------- */

static int out_first; /* no separator before the next field */

static void out_begin(const char *event)
{
    printf(C.json ? "{\"event\":\"%s\"" : "%s", event);
    out_first = 0;
}

/* One field; a string is quoted (and escaped) in JSON, and in text when it has spaces. */
static void out_field(const char *k, int is_str, const char *fmt, ...)
{
    char v[2048];
    va_list ap;
    int quote;

    va_start(ap, fmt);
    (void)vsnprintf(v, sizeof v, fmt, ap); /* fits: texts <= TEXT_MAX, hex <= 1027 chars */
    va_end(ap);
    quote = is_str && (C.json || v[0] == '\0' || strpbrk(v, " \"\\") != NULL);
    printf(C.json ? "%s\"%s\":" : "%s%s=", out_first ? "" : C.json ? "," : " ", k);
    out_first = 0;
    if (!quote) {
        fputs(v, stdout);
        return;
    }
    putchar('"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar('\\');
        if ((unsigned char)*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void out_hex(const char *k, const uint8_t *p, size_t len)
{
    char hex[2 * 512 + 1];
    size_t n = len < 512 ? len : 512; /* an opaque body is shown in part */
    hex_encode(hex, p, n);
    /* cppcheck-suppress knownConditionTrueFalse ; wrong: an answer's opaque data can be
     * longer than 512 bytes (up to max_message), and then n < len */
    out_field(k, 1, "%s%s", hex, n < len ? "..." : "");
}

static void out_op(const char *k, uint8_t op)
{
    if (opcode_name(op))
        out_field(k, 1, "%s", opcode_name(op));
    else
        out_field(k, 0, "%u", op);
}

/* Ends the line: `close` in JSON; NULL when a list already ended the text lines. */
static void out_end(const char *close)
{
    if (close)
        puts(C.json ? close : "");
    (void)fflush(stdout); /* the exit status reports the answer, not the terminal */
}

/* The PEERS list: a JSON array, or one indented line per entry ([ADMIN-3]). */
static void out_peers(const struct parley_list *l)
{
    struct parley_rd it;
    struct parley_peer p;
    char addr[64];

    printf(C.json ? ",\"peers\":[" : "\n");
    rd_init(&it, l->bytes, l->len);
    for (int i = 0; parley_peers_next(&it, &p) == 1; i++) {
        if (!inet_ntop(p.family == 4 ? AF_INET : AF_INET6, p.address, addr, sizeof addr))
            (void)snprintf(addr, sizeof addr, "?");
        printf(C.json ? "%s{" : "%s  ", C.json && i ? "," : "");
        out_first = 1;
        out_hex("id", p.node_id, PARLEY_NODE_ID_LEN);
        out_field("family", 0, "%u", p.family);
        out_field("address", 1, "%s", addr);
        out_field("port", 0, "%u", p.port);
        out_field("direction", 1, p.flags & PARLEY_PEER_OUTBOUND ? "outbound" : "inbound");
        printf(C.json ? "}" : "\n");
    }
    out_end(C.json ? "]}" : NULL);
}

/* The STATS list: a JSON object of counters, or one indented line per counter. */
static void out_stats(const struct parley_list *l)
{
    uint16_t id;
    uint64_t v;
    char unknown[16];

    printf(C.json ? ",\"counters\":{" : "\n");
    for (size_t i = 0; parley_stats_get(l, i, &id, &v) == 0; i++) {
        const char *name = stat_name(id);
        if (!name) { /* [ADMIN-6] an id we do not know is shown, not refused */
            (void)snprintf(unknown, sizeof unknown, "id_%u", id); /* "id_65535" fits */
            name = unknown;
        }
        printf(C.json ? "%s\"%s\":%llu" : "%s  %s=%llu\n", C.json && i ? "," : "", name,
               (unsigned long long)v);
    }
    out_end(C.json ? "}}" : NULL);
}

/* One answer, decoded: tag, opcode, flags, and the message's fields. */
static void print_answer(const struct parley_event *ev)
{
    static const char *const flag_names[] = {"RESPONSE", "MORE", "ABORT", "COMPRESSED"};
    const struct parley_msg *m = &ev->msg;
    const char *code = parley_wire_code_name(m->code);
    char flags[64] = "";

    for (int b = 0; b < 4; b++)
        if (ev->flags & (1u << b))
            (void)snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%s%s",
                     flags[0] ? "|" : "", flag_names[b]);
    out_begin("answer");
    out_field("tag", 0, "%u", ev->tag);
    out_op("opcode", ev->opcode);
    out_field("flags", 1, "%s", flags[0] ? flags : "none");
    if (ev->kind != PARLEY_EV_RESPONSE) { /* [TAG-6] invalid: the request failed */
        out_field("invalid", 1, "%s", parley_err_name(ev->err));
        out_end("}");
        return;
    }
    out_op("req_opcode", m->req_opcode);
    if (m->opcode == PARLEY_OP_NACK) { /* [NACK-1], [NACK-2] codes not in the registry */
        if (C.json)
            out_field("code", 0, "%u", m->code);
        out_field(C.json ? "code_name" : "code", 1, C.json ? "%s" : "%s(%u)", code ? code : "?",
                  m->code);
        out_field("text", 1, "%.*s", (int)m->text_len, (const char *)m->text);
    } else if (m->req_opcode == PARLEY_OP_PEERS || m->req_opcode == PARLEY_OP_STATS) {
        out_field("count", 0, "%u", m->list.count);
        (m->req_opcode == PARLEY_OP_PEERS ? out_peers : out_stats)(&m->list);
        return;
    } else if (m->req_opcode == PARLEY_OP_SET_CONNECTION_OPT) {
        out_field("option", 0, "%u", m->option);
        out_field("setting", 0, "%u", m->setting);
    } else if (m->data_len > 0 || m->req_opcode == PARLEY_OP_PING) {
        out_hex("data", m->data, m->data_len);
    }
    out_end("}");
}

/* ---- the core's hooks ---------------------------------------------------------------- */

static void on_response(void *ctx, struct parley_conn *c, const struct parley_event *ev)
{
    (void)ctx;
    (void)c;
    if (!C.awaiting[ev->tag])
        return; /* not asked for by the user: the answer to our goodbye BYE */
    C.awaiting[ev->tag] = 0;
    C.pending--;
    if (ev->kind != PARLEY_EV_RESPONSE || ev->msg.opcode == PARLEY_OP_NACK)
        C.failed = 1;
    if (C.cmd == CMD_PING && ev->kind == PARLEY_EV_RESPONSE && ev->msg.opcode == PARLEY_OP_ACK &&
        ev->msg.req_opcode == PARLEY_OP_PING) { /* [PING-1] the data comes back */
        double rtt = (double)(clock_us() - C.ping_sent_us) / 1000.0;
        C.rtt_min = C.answered == 0 || rtt < C.rtt_min ? rtt : C.rtt_min;
        C.rtt_max = rtt > C.rtt_max ? rtt : C.rtt_max;
        C.rtt_sum += rtt;
        C.answered++;
        out_begin("ping");
        out_field("from", 1, "%s", C.target);
        out_field("seq", 0, "%lu", C.ping_seq);
        out_field("tag", 0, "%u", ev->tag);
        out_field("rtt_ms", 0, "%.3f", rtt);
        out_end("}");
        return;
    }
    print_answer(ev);
}

static void on_opened(void *ctx, struct parley_conn *c)
{
    (void)ctx;
    (void)c;
    C.opened = 1;
}

static void on_log(void *ctx, struct parley_conn *c, const char *event, const char *detail)
{
    (void)ctx;
    (void)c;
    if (C.verbose)
        log_kv(LOG_INFO, event, "peer", C.target, "detail", detail, LOG_END);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void flush(void)
{
    if (conn_write_fd(&C.c, C.fd) != 0)
        parley_conn_eof(&C.c); /* the socket broke */
}

/* One round: write, wait for the socket or a deadline, read, tick. */
static void pump(uint64_t deadline_ms)
{
    const uint8_t *out;
    struct pollfd p = {.fd = C.fd};
    uint64_t now = clock_ms(), wake = parley_conn_deadline(&C.c);

    flush();
    wake = wake < deadline_ms ? wake : deadline_ms;
    p.events = (short)((parley_conn_wants_input(&C.c) ? POLLIN : 0) |
                       (parley_conn_output(&C.c, &out) > 0 ? POLLOUT : 0));
    if (poll(&p, 1, wake <= now ? 0 : (int)(wake - now)) < 0 && errno != EINTR)
        parley_conn_eof(&C.c);
    now = clock_ms();
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
        (void)conn_read_fd(&C.c, C.fd, C.rbuf, sizeof C.rbuf, now);
    if (parley_conn_deadline(&C.c) <= now)
        parley_conn_tick(&C.c, now);
    flush();
}

/* Pumps until *flag becomes 0 (or nonzero when want is 1). Returns 0, EXIT_PEER when the
 * connection closed first, EXIT_NET when the timeout came first. */
static int wait_until(const size_t *pending, const int *flag)
{
    uint64_t deadline = clock_ms() + C.timeout_ms;

    for (;;) {
        if ((pending && *pending == 0) || (flag && *flag))
            return 0;
        if (C.c.state == PARLEY_CONN_CLOSED || C.c.state == PARLEY_CONN_CLOSING)
            return EXIT_PEER;
        if (clock_ms() >= deadline)
            return EXIT_NET;
        pump(deadline);
    }
}

/* Says why the connection ended early, and returns the exit status. */
static int report_failure(int rc)
{
    struct parley_preface ans;
    int reason = C.c.close_reason;

    if (rc == EXIT_NET) {
        fprintf(stderr, "parley: %s: no answer within %lu ms\n", C.target, C.timeout_ms);
        return EXIT_NET;
    }
    if (reason == PARLEY_E_NO_COMMON_MAJOR &&
        parley_answer_decode(C.c.answer, C.c.answer_len, &ans) > 0) { /* [PRE-6] */
        fprintf(stderr, "parley: %s: refused, the peer speaks majors", C.target);
        for (int i = 0; i < ans.count; i++)
            fprintf(stderr, "%s%u", i ? "," : " ", ans.majors[i]);
        fputc('\n', stderr);
    } else {
        fprintf(stderr, "parley: %s: connection closed (%s)\n", C.target,
                reason ? parley_err_name(reason) : "by the peer");
    }
    return EXIT_PEER;
}

/* Connects to HOST:PORT, trying each address within the timeout. Exits 3 on failure. */
static int dial(const char *target)
{
    char host[256], port[8];
    struct addrinfo hints = {0}, *res, *ai;
    int rc, pending, fd = -1, err = ECONNREFUSED;

    if (hostport_split(target, host, sizeof host, port, sizeof port) != 0)
        usage_error(target, "expected HOST:PORT");
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        fprintf(stderr, "parley: %s: %s\n", target, gai_strerror(rc));
        exit(EXIT_NET);
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        struct pollfd p = {.events = POLLOUT};
        socklen_t len = sizeof err;
        if ((p.fd = tcp_connect_start(ai, &pending)) < 0) {
            err = errno;
            continue;
        }
        if (pending && poll(&p, 1, (int)C.timeout_ms) <= 0)
            err = ETIMEDOUT;
        else if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            fd = p.fd;
        if (fd < 0)
            close(p.fd);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "parley: %s: %s\n", target, strerror(err));
        exit(EXIT_NET);
    }
    return fd;
}

/* send-raw: each argument one whole frame in hex; the non-zero tags of requests in them
 * are the answers to wait for ([TAG-2]). */
static size_t frames_parse(char **hex, int n, uint8_t *buf, size_t cap)
{
    size_t len = 0;

    for (int i = 0; i < n; i++) {
        size_t hlen = strlen(hex[i]);
        struct parley_frame_header h;
        if (hlen % 2 != 0 || hlen / 2 > cap - len || hex_decode(buf + len, hlen / 2, hex[i], hlen))
            usage_error("send-raw", "each frame is an even number of hex digits");
        if (parley_frame_header_decode(buf + len, hlen / 2, &h) != 8 || h.length != hlen / 2 - 8)
            usage_error("send-raw", "each HEX must be one whole frame (8-byte header + length)");
        if (!(h.flags & PARLEY_FLAG_RESPONSE) && h.tag != 0 && !C.awaiting[h.tag]) {
            C.awaiting[h.tag] = 1;
            C.pending++;
        }
        if ((h.flags & PARLEY_FLAG_ABORT) && C.awaiting[h.tag]) { /* [FRAG-7] unanswered */
            C.awaiting[h.tag] = 0;
            C.pending--;
        }
        len += hlen / 2;
    }
    return len;
}

/* Sends one request and waits for its answer. Returns 0 or an exit status. */
static int request(uint8_t opcode, const uint8_t *payload, size_t len)
{
    int tag = parley_conn_request(&C.c, opcode, payload, len, 1);
    if (tag < 0) {
        fprintf(stderr, "parley: %s: cannot send: %s\n", C.target, parley_err_name(tag));
        return EXIT_PEER;
    }
    C.awaiting[tag] = 1;
    C.pending = 1;
    C.ping_sent_us = clock_us();
    return wait_until(&C.pending, NULL);
}

static int cmd_ping(unsigned long count)
{
    uint8_t data[8];
    int rc = 0;

    for (C.ping_seq = 1; C.ping_seq <= count && rc == 0; C.ping_seq++) {
        for (int i = 0; i < 8; i++)
            data[i] = (uint8_t)(C.ping_seq >> (56 - 8 * i));
        rc = request(PARLEY_OP_PING, data, sizeof data);
    }
    out_begin("summary");
    out_field("from", 1, "%s", C.target);
    out_field("sent", 0, "%lu", C.ping_seq - 1);
    out_field("answered", 0, "%lu", C.answered);
    out_field("rtt_min_ms", 0, "%.3f", C.answered ? C.rtt_min : 0.0);
    out_field("rtt_avg_ms", 0, "%.3f", C.answered ? C.rtt_sum / (double)C.answered : 0.0);
    out_field("rtt_max_ms", 0, "%.3f", C.rtt_max);
    out_end("}");
    return rc;
}

static int cmd_keygen(const char *path)
{
    uint8_t sk[64];
    char hex[65];
    const char *msg;
    int rc = key_load_or_create(path, sk, &msg);

    if (rc < 0) {
        fprintf(stderr, "parley: keygen: %s: %s\n", path, msg);
        return EXIT_USAGE;
    }
    hex_encode(hex, sk + 32, 32);
    sodium_memzero(sk, sizeof sk);
    out_begin("key");
    out_field("file", 1, "%s", path);
    out_field("status", 1, rc == 1 ? "created" : "exists");
    out_field("node_id", 1, "%s", hex);
    out_end("}");
    return EXIT_OK;
}

static void usage(void)
{
    puts("usage: parley [--key FILE] [--json] [--timeout MS] [--verbose] <command> ...\n"
         "  ping HOST:PORT [--count N]   PING, print each round trip and a summary\n"
         "  peers HOST:PORT              PEERS (admin): the peer's connections\n"
         "  stats HOST:PORT              STATS (admin): the peer's counters\n"
         "  shutdown HOST:PORT           SHUTDOWN (admin): graceful stop\n"
         "  send-raw HOST:PORT HEX...    send whole frames (header + payload, hex) inside the\n"
         "                               session; print every answer decoded\n"
         "  keygen FILE                  create a key file (when missing), print its node id\n"
         "--key FILE: the identity (a key file as parley-peer --key writes); without it a\n"
         "fresh one, so admin commands are answered NACK UNAUTHORIZED. --timeout: per\n"
         "answer, default 5000 ms. Exit: 0 ok, 1 NACK/refused/closed, 2 usage, 3 no\n"
         "connection or timeout.");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        enum command cmd;
        uint8_t opcode;
    } commands[] = {
        {"ping", CMD_PING, PARLEY_OP_PING},    {"peers", CMD_PEERS, PARLEY_OP_PEERS},
        {"stats", CMD_STATS, PARLEY_OP_STATS}, {"shutdown", CMD_SHUTDOWN, PARLEY_OP_SHUTDOWN},
        {"send-raw", CMD_SEND_RAW, 0},         {"keygen", CMD_KEYGEN, 0}};
    const char *key_file = NULL, *msg;
    char *pos[4096];
    int npos = 0, rc;
    size_t k = 0, frames_len = 0;
    unsigned long count = 0;
    uint8_t sk[64];
    static uint8_t frames[1 << 20];

    C.timeout_ms = 5000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("parley %s (Parley spec %s)\n", CMD_VERSION, PARLEY_SPEC_VERSION);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            C.json = 1;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            C.verbose = 1;
        } else if (flag_is(a, "--key")) {
            key_file = flag_value(argc, argv, &i, "--key");
        } else if (flag_is(a, "--timeout")) {
            if (parse_uint(flag_value(argc, argv, &i, "--timeout"), 1, 3600000, &C.timeout_ms))
                usage_error("--timeout", "expected milliseconds, 1..3600000");
        } else if (flag_is(a, "--count")) {
            if (parse_uint(flag_value(argc, argv, &i, "--count"), 1, 1000000, &count))
                usage_error("--count", "expected 1..1000000");
        } else if (a[0] == '-' && a[1] != '\0') {
            usage_error(a, "unknown flag");
        } else if (npos < (int)(sizeof pos / sizeof pos[0])) {
            pos[npos++] = argv[i];
        }
    }
    if (npos < 2)
        usage_error(npos ? pos[0] : "parley", "expected a command and HOST:PORT");
    while (k < sizeof commands / sizeof commands[0] && strcmp(pos[0], commands[k].name) != 0)
        k++;
    if (k == sizeof commands / sizeof commands[0])
        usage_error(pos[0], "unknown command");
    C.cmd = commands[k].cmd;
    C.target = pos[1];
    if ((C.cmd == CMD_SEND_RAW) != (npos > 2) || (C.cmd != CMD_PING && count != 0))
        usage_error(pos[0],
                    C.cmd == CMD_SEND_RAW ? "expected HOST:PORT HEX..." : "unexpected arguments");
    if (sodium_init() < 0)
        return EXIT_NET;
    if (C.cmd == CMD_KEYGEN)
        return cmd_keygen(C.target);
    if (C.cmd == CMD_SEND_RAW)
        frames_len = frames_parse(pos + 2, npos - 2, frames, sizeof frames);
    if (!key_file) {
        uint8_t pk[32];
        crypto_sign_keypair(pk, sk); /* a fresh identity: not the admin ([ADMIN-1]) */
    } else if (key_load(key_file, sk, &msg) != 0) {
        usage_error("--key", msg);
    }

    C.fd = dial(C.target);
    if (parley_node_init(&C.node, sk, clock_ms()) != 0)
        return EXIT_NET;
    sodium_memzero(sk, sizeof sk);
    C.node.ops =
        (struct parley_node_ops){.response = on_response, .opened = on_opened, .log = on_log};
    parley_conn_init(&C.c, &C.node, 1, clock_ms());
    rc = wait_until(NULL, &C.opened);
    if (rc == 0 && C.cmd == CMD_PING)
        rc = cmd_ping(count ? count : 1);
    else if (rc == 0 && C.cmd == CMD_SEND_RAW)
        rc = parley_conn_send_frames(&C.c, frames, frames_len) < 0 ? EXIT_USAGE
                                                                   : wait_until(&C.pending, NULL);
    else if (rc == 0)
        rc = request(commands[k].opcode, NULL, 0); /* admin requests: empty ([ADMIN-2]) */
    if (rc != 0 && rc != EXIT_USAGE)
        rc = report_failure(rc);
    else if (rc == 0 && C.failed)
        rc = EXIT_PEER;                  /* a NACK or an invalid answer */
    if (C.c.state == PARLEY_CONN_OPEN) { /* a polite goodbye, briefly */
        uint64_t end = clock_ms() + 500;
        (void)parley_conn_bye(&C.c, 0, "done", clock_ms());
        while (C.c.state != PARLEY_CONN_CLOSED && clock_ms() < end)
            pump(end);
    }
    parley_conn_free(&C.c);
    parley_node_free(&C.node);
    close(C.fd);
    return rc;
}
