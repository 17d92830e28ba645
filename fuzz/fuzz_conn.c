/*
 * fuzz_conn.c - attacks the connection state machine (ref/src/conn.c) with a whole random
 * conversation: preface, handshake, then records carrying frames and messages, mixed with
 * what the local side does (requests, BYE, raw frames, ticks of the clock, partial writes,
 * EOF, the node shutting down).
 *
 * Why: conn.c is where every chapter meets one peer's input: answering, fragmenting,
 * compressing, back pressure, BYE and timeouts, buffers that exist only while they hold
 * bytes. The harness plays the remote: unless byte 0 says "raw", it writes the preface and
 * the handshake messages itself (in the fuzzing build's form: the AEAD takes any tag), so
 * the fuzzer spends its time inside the session. Checks:
 *  - everything the connection sends after the handshake is records that authenticate
 *    with libsodium under the key the key log gave (so [KEYLOG-1] is honest) and
 *    consecutive nonces ([REC-1], [REC-6]); each holds whole frames ([REC-5]) of at most
 *    FRAME_MAX_PAYLOAD ([FRAME-2]: a sender never sends bigger), none with reserved bits;
 *  - a mirror receive session (the remote's, with the limits the harness advertised) takes
 *    those frames: our requests break no header, fragment, tag or limit rule ([LIMIT-2],
 *    [TAG-1], [FRAG-2]..[FRAG-6]), our responses are valid ([TAG-6]) and compressed ones
 *    inflate, also when the harness reuses a tag before the whole response arrived: the
 *    messages of one (tag, RESPONSE) never interleave ([TAG-5]; fuzz/regressions/conn/
 *    tag-reuse-interleaves-two-fragmented-acks);
 *  - after every step: the state, the close reason (a §6.2 reason, 0 or NOMEM), no input
 *    buffered once closed, nothing sent once closed, and the session invariants of
 *    fuzz_session_check.h; API errors are the documented ones.
 *
 * Input: byte 0: bit 0 we are the initiator, bit 1 the remote is the admin, bit 2 our
 * node advertises the floors (else the defaults), bit 3 raw (no scripted handshake), bit 4
 * PEERS lists 450 entries (a fragmented ACK); byte 1: bits 0-1 the remote's limits (floors,
 * defaults, maximal, raw: u16 + u32 + u32 follow); u8 length + bytes of extension TLVs;
 * then operations, each a u8 code and its arguments (see `step`).
 */
#include <zlib.h>

#include "conn.h"
#include "fuzz_common.h"
#include "fuzz_session_check.h"

#define T0 1000000u
#define PT_MAX (PARLEY_RECORD_MAX - PARLEY_AEAD_TAG_LEN)

static struct parley_node nodes[2];
static uint8_t remote_e_sk[32], remote_e_pk[32], remote_s_sk[32], remote_s_pk[32];
static const uint8_t admin_id[32] = {
    0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD,
    0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD, 0xAD};

/* The remote, as the harness plays it. */
static struct {
    struct parley_conn c;
    struct parley_node *node;
    uint64_t now;
    int big_peers, opened, shutdowns, keylogs;
    int have_key, raw_sent, records_started;
    uint8_t send_key[32], ie[32]; /* our sending key and the initiator's ephemeral key */
    int check_ie;
    uint64_t send_n;
    size_t taken, skip; /* output bytes taken so far; the handshake bytes among them */
    uint8_t *rx;        /* taken, not yet a whole record */
    size_t rx_len;
    struct parley_session mirror;
    /* Tags on which the harness has a request in progress (its last frame had MORE). */
    uint8_t requesting[65536 / 8];
    uint8_t pending[PT_MAX];
    size_t pending_len;
} H;

static uint8_t buf[2 + PARLEY_RECORD_MAX + 64];

/* ---- Node hooks ---------------------------------------------------------------------- */

static const uint8_t peer_entry[40] = {0xaa, [32] = 4, 10, 0, 0, 1, 0x1c, 0xe8, 1};

static size_t peers_len(void)
{
    return 2 + (H.big_peers ? 450u : 1u) * sizeof peer_entry;
}

static int on_peers(void *ctx, uint8_t *out, size_t cap)
{
    size_t n = H.big_peers ? 450 : 1;

    (void)ctx;
    if (cap < peers_len())
        return PARLEY_E_NOROOM;
    out[0] = (uint8_t)(n >> 8), out[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        memcpy(out + 2 + i * sizeof peer_entry, peer_entry, sizeof peer_entry);
    return (int)peers_len();
}

static size_t on_peers_size(void *ctx)
{
    (void)ctx;
    return peers_len();
}

static void on_shutdown(void *ctx, struct parley_conn *from)
{
    (void)ctx;
    FUZZ_CHECK(from == &H.c);
    H.shutdowns++;
}

/* [KEYLOG-1]: "PARLEY_I2R <ie> <c1>\nPARLEY_R2I <ie> <c2>\n", before the first record. */
static void on_keylog(void *ctx, const char *lines)
{
    const char *line = lines + (H.c.initiator ? 0 : PARLEY_KEYLOG_LINES_LEN / 2);
    uint8_t ie[32];

    (void)ctx;
    H.keylogs++;
    FUZZ_CHECK(strlen(lines) == PARLEY_KEYLOG_LINES_LEN);
    FUZZ_CHECK(strncmp(line, H.c.initiator ? "PARLEY_I2R " : "PARLEY_R2I ", 11) == 0);
    FUZZ_CHECK(sodium_hex2bin(ie, 32, line + 11, 64, NULL, NULL, NULL) == 0);
    FUZZ_CHECK(sodium_hex2bin(H.send_key, 32, line + 76, 64, NULL, NULL, NULL) == 0);
    FUZZ_CHECK(!H.check_ie || memcmp(ie, H.ie, 32) == 0);
    H.have_key = 1;
    H.send_n = 0;
}

static void on_opened(void *ctx, struct parley_conn *c)
{
    (void)ctx;
    FUZZ_CHECK(c == &H.c && c->state == PARLEY_CONN_OPEN && H.keylogs == 1);
    H.opened++;
    /* The mirror holds the limits the remote advertised: in raw mode the input wrote the
     * identity payload itself, and the connection read them from it. */
    H.mirror.limits = c->session.remote;
}

/* The message must be readable during the call: touch every byte of it. */
static void on_response(void *ctx, struct parley_conn *c, const struct parley_event *ev)
{
    volatile uint8_t sum = 0;

    (void)ctx;
    FUZZ_CHECK(c == &H.c);
    FUZZ_CHECK(ev->kind == PARLEY_EV_RESPONSE || ev->kind == PARLEY_EV_IGNORED);
    for (size_t i = 0; i < ev->msg.data_len; i++)
        sum = (uint8_t)(sum + ev->msg.data[i]);
    for (size_t i = 0; i < ev->msg.text_len; i++)
        sum = (uint8_t)(sum + ev->msg.text[i]);
    for (size_t i = 0; i < ev->msg.list.len; i++)
        sum = (uint8_t)(sum + ev->msg.list.bytes[i]);
    (void)sum;
}

static void on_log(void *ctx, struct parley_conn *c, const char *event, const char *detail)
{
    (void)ctx;
    (void)c;
    FUZZ_CHECK(strlen(event) > 0 && strlen(detail) < 256);
}

static void setup(void)
{
    static int done;
    uint8_t pk[32], sk[64], seed[32] = {0x5e};

    if (done)
        return;
    done = 1;
    parley_fuzz_cheap_dh = 1; /* X25519 costs most of a conversation; keys do not matter here */
    crypto_sign_seed_keypair(pk, sk, seed);
    for (int i = 0; i < 2; i++) {
        struct parley_node *n = &nodes[i];
        fuzz_rng_reset(99);
        FUZZ_CHECK(parley_node_init(n, sk, T0) == 0);
        if (i == 1) { /* the floors of spec §2.2: limits are hit sooner */
            n->limits = (struct parley_limits){256, 1048576u, 2097152u};
            FUZZ_CHECK(parley_node_sign(n) == 0);
        }
        n->has_admin = 1;
        memcpy(n->admin_pk, admin_id, 32);
        n->ops = (struct parley_node_ops){.peers = on_peers,
                                          .peers_size = on_peers_size,
                                          .shutdown = on_shutdown,
                                          .keylog = on_keylog,
                                          .opened = on_opened,
                                          .response = on_response,
                                          .log = on_log};
    }
    memset(remote_e_sk, 0x11, 32);
    memset(remote_s_sk, 0x22, 32);
    crypto_scalarmult_base(remote_e_pk, remote_e_sk);
    crypto_scalarmult_base(remote_s_pk, remote_s_sk);
}

/* ---- What the connection sends ------------------------------------------------------- */

static void mirror_frame(const uint8_t *frame, size_t len)
{
    struct parley_event ev;
    int kind = parley_session_feed(&H.mirror, frame, len, &ev), err = ev.err;

    if (kind == PARLEY_EV_MESSAGE && ev.tag != 0)
        (void)parley_session_answered(&H.mirror, ev.tag);
    fuzz_check_session(&H.mirror);
    if (H.raw_sent) /* frames sent as given: anything goes */
        return;
    FUZZ_CHECK(kind != PARLEY_EV_CLOSE);
    if (kind == PARLEY_EV_NACK) /* a request of ours whose payload the caller chose */
        FUZZ_CHECK(err == PARLEY_E_MALFORMED || err == PARLEY_E_BAD_UTF8 ||
                   err == PARLEY_E_UNSUPPORTED || err == PARLEY_E_NOT_IMPLEMENTED);
    if (kind == PARLEY_EV_IGNORED) /* [TAG-6] our responses are valid */
        FUZZ_CHECK(err == 0);
}

static void check_records(void)
{
    while (H.rx_len >= 2) {
        size_t clen = (size_t)H.rx[0] << 8 | H.rx[1], ptlen;
        uint8_t nonce[12] = {0};
        unsigned long long m = 0;
        struct parley_rd r;
        struct parley_frame f;

        if (H.rx_len < 2 + clen)
            return;
        FUZZ_CHECK(H.have_key);
        FUZZ_CHECK(clen >= PARLEY_RECORD_MIN); /* [REC-2] */
        for (int i = 0; i < 8; i++)
            nonce[4 + i] = (uint8_t)(H.send_n >> (8 * i));
        FUZZ_CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(buf, &m, NULL, H.rx + 2, clen, NULL, 0,
                                                             nonce, H.send_key) == 0);
        H.send_n++;
        ptlen = (size_t)m;
        FUZZ_CHECK(parley_plaintext_check(buf, ptlen) >= 1); /* [REC-5] */
        rd_init(&r, buf, ptlen);
        while (parley_plaintext_next(&r, &f) == 1) {
            if (!H.raw_sent) {
                FUZZ_CHECK(f.h.length <= PARLEY_FRAME_MAX_PAYLOAD); /* [FRAME-2] */
                FUZZ_CHECK((f.h.flags & (PARLEY_FLAG_RESERVED | PARLEY_FLAG_ABORT)) == 0);
            }
            mirror_frame(f.payload - PARLEY_FRAME_HEADER_LEN, PARLEY_FRAME_HEADER_LEN + f.h.length);
        }
        memmove(H.rx, H.rx + 2 + clen, H.rx_len - 2 - clen);
        H.rx_len -= 2 + clen;
    }
}

/* Takes part (share/255, or all) of what the connection has to send. */
static void drain(uint8_t share)
{
    const uint8_t *p;
    size_t n, k;

    if (!H.records_started && H.c.rec.send.has_key) {
        /* Sealing happens only in parley_conn_output: what waits now is handshake. */
        H.skip = H.taken + (H.c.out_len - H.c.out_off);
        H.records_started = 1;
    }
    n = parley_conn_output(&H.c, &p);
    FUZZ_CHECK(n == 0 || p != NULL);
    if (H.c.state == PARLEY_CONN_CLOSED)
        FUZZ_CHECK(n == 0);
    k = share == 0xFF ? n : n * share / 255;
    if (k > 0) {
        size_t drop = H.skip > H.taken ? H.skip - H.taken : 0;
        if (drop > k)
            drop = k;
        if (H.records_started && k > drop) {
            H.rx = realloc(H.rx, H.rx_len + k - drop);
            FUZZ_CHECK(H.rx != NULL);
            memcpy(H.rx + H.rx_len, p + drop, k - drop);
            H.rx_len += k - drop;
        }
        H.taken += k;
    }
    parley_conn_written(&H.c, k);
    check_records();
}

/* ---- What the harness sends ---------------------------------------------------------- */

/* was_active: the connection was reading when this input came (a connection closed by
 * EOF or a timer keeps its partial unit until parley_conn_free: harmless). */
static void check_conn(int rc, int was_active)
{
    struct parley_conn *c = &H.c;

    FUZZ_CHECK(c->state >= PARLEY_CONN_PREFACE && c->state <= PARLEY_CONN_CLOSED);
    if (c->state == PARLEY_CONN_CLOSED || c->state == PARLEY_CONN_CLOSING) {
        FUZZ_CHECK(rc == c->close_reason);
        FUZZ_CHECK(!was_active || (c->in == NULL && c->in_len == 0)); /* nothing more read */
    } else {
        FUZZ_CHECK(rc == 0);
    }
    FUZZ_CHECK(c->close_reason == 0 || parley_err_is_close(c->close_reason) ||
               c->close_reason == PARLEY_E_NOMEM);
    FUZZ_CHECK((c->hs != NULL) == (c->state == PARLEY_CONN_HANDSHAKE));
    if (c->state == PARLEY_CONN_OPEN || c->state == PARLEY_CONN_CLOSING)
        fuzz_check_session(&c->session);
    FUZZ_CHECK(H.opened <= 1 && H.keylogs <= 1);
}

static void input(const uint8_t *p, size_t n, size_t split)
{
    int rc;

    if (split > n)
        split = n;
    for (int half = 0; half < 2; half++) {
        int was_active = H.c.state <= PARLEY_CONN_OPEN;
        rc = half == 0 ? parley_conn_input(&H.c, p, split, H.now)
                       : parley_conn_input(&H.c, p + split, n - split, H.now);
        check_conn(rc, was_active);
    }
}

/* Requests in frames we send: the mirror expects the connection's answers to them. */
static void expect_answers(const uint8_t *pt, size_t len)
{
    struct parley_rd r;
    struct parley_frame f;

    rd_init(&r, pt, len);
    while (parley_plaintext_next(&r, &f) == 1) {
        uint16_t tag = f.h.tag;
        uint8_t bit = (uint8_t)(1u << (tag & 7));
        int more = (f.h.flags & PARLEY_FLAG_MORE) && !(f.h.flags & PARLEY_FLAG_ABORT);
        if ((f.h.flags & PARLEY_FLAG_RESPONSE) || tag == 0)
            continue;
        /* A request starts on this tag. Reused before its response fully arrived ([TAG-1]
         * broken by the harness), the tag stays expected once: the response that completes
         * first frees it and a later one on it matches nothing, which is valid. */
        if (!(H.requesting[tag >> 3] & bit))
            (void)parley_session_expect(&H.mirror, tag);
        if (more)
            H.requesting[tag >> 3] |= bit;
        else
            H.requesting[tag >> 3] &= (uint8_t)~bit;
    }
}

/* A record of the fuzzing build: length, plaintext, 16 bytes the AEAD ignores. */
static void send_record(const uint8_t *pt, size_t len, size_t split)
{
    if (len > PT_MAX)
        len = PT_MAX;
    buf[0] = (uint8_t)((len + 16) >> 8), buf[1] = (uint8_t)(len + 16);
    if (len > 0)
        memcpy(buf + 2, pt, len);
    memset(buf + 2 + len, 0x16, 16);
    expect_answers(pt, len);
    input(buf, 2 + len + 16, split);
}

static void flush(size_t split)
{
    if (H.pending_len == 0)
        return;
    send_record(H.pending, H.pending_len, split);
    H.pending_len = 0;
}

/* The identity payload the remote sends (signature unchecked in the fuzzing build). */
static size_t remote_payload(uint8_t *out, size_t cap, struct fuzz_in *in, uint8_t flags,
                             uint8_t lsel)
{
    struct parley_identity id;
    size_t got;
    int n;

    memset(&id, 0, sizeof id);
    memset(id.identity_key, 0xBB, 32);
    if (flags & 2)
        memcpy(id.identity_key, admin_id, 32);
    switch (lsel & 3) {
    case 0:
        id.max_tags = 256, id.max_message = 1048576u, id.reassembly_budget = 1048576u;
        break;
    case 1:
        id.max_tags = 1024, id.max_message = 16777216u, id.reassembly_budget = 33554432u;
        break;
    case 2:
        id.max_tags = 65535, id.max_message = UINT32_MAX, id.reassembly_budget = UINT32_MAX;
        break;
    default:
        id.max_tags = fi_u16(in);
        id.max_message = fi_u32(in);
        id.reassembly_budget = fi_u32(in);
        break;
    }
    id.capabilities = 0xF;
    id.listen_port = 7400;
    id.ext = fi_bytes(in, fi_u8(in), &got);
    id.ext_len = got;
    n = parley_identity_encode(&id, out, cap);
    FUZZ_CHECK(n > 0);
    /* The mirror: the remote's receiving side, bound by the limits it advertised. */
    parley_session_init(&H.mirror,
                        &(struct parley_limits){id.max_tags, id.max_message, id.reassembly_budget},
                        PARLEY_SETTING_ZLIB, 1);
    parley_session_set_remote_limits(&H.mirror,
                                     &(struct parley_limits){65535, UINT32_MAX, UINT32_MAX});
    return (size_t)n;
}

/* Preface and handshake as the remote, in the fuzzing build's form. */
static void script(size_t plen, const uint8_t *payload)
{
    static const uint8_t hello[9] = {'P', 'A', 'R', 'L', 'E', 'Y', 1, 1, 1};
    static const uint8_t accept[8] = {'P', 'A', 'R', 'L', 'E', 'Y', 2, 1};
    uint8_t msg[2 + 96 + 2048];
    const uint8_t *p;
    size_t n, mlen;

    if (H.c.initiator) {
        n = parley_conn_output(&H.c, &p); /* HELLO [PRE-1] */
        FUZZ_CHECK(n == sizeof hello && memcmp(p, hello, n) == 0);
        parley_conn_written(&H.c, n);
        input(accept, sizeof accept, sizeof accept);
        n = parley_conn_output(&H.c, &p); /* message 1: e */
        FUZZ_CHECK(n == 2 + 32);
        memcpy(H.ie, p + 2, 32);
        parley_conn_written(&H.c, n);
        mlen = 32 + 48 + plen + 16;
        msg[0] = (uint8_t)(mlen >> 8), msg[1] = (uint8_t)mlen;
        memcpy(msg + 2, remote_e_pk, 32);
        memcpy(msg + 34, remote_s_pk, 32);
        memset(msg + 66, 0, 16);
        memcpy(msg + 82, payload, plen);
        memset(msg + 82 + plen, 0, 16);
    } else {
        input(hello, sizeof hello, 4);
        n = parley_conn_output(&H.c, &p); /* ACCEPT [PRE-4] */
        FUZZ_CHECK(n == sizeof accept && memcmp(p, accept, n) == 0);
        parley_conn_written(&H.c, n);
        msg[0] = 0, msg[1] = 32;
        memcpy(msg + 2, remote_e_pk, 32);
        memcpy(H.ie, remote_e_pk, 32);
        input(msg, 34, 34);
        n = parley_conn_output(&H.c, &p); /* message 2 */
        FUZZ_CHECK(n == 2 + 96 + H.node->payload_len);
        parley_conn_written(&H.c, n);
        mlen = 48 + plen + 16;
        msg[0] = (uint8_t)(mlen >> 8), msg[1] = (uint8_t)mlen;
        memcpy(msg + 2, remote_s_pk, 32);
        memset(msg + 34, 0, 16);
        memcpy(msg + 50, payload, plen);
        memset(msg + 50 + plen, 0, 16);
    }
    H.check_ie = 1;
    input(msg, 2 + mlen, 2 + mlen / 2);
    if (H.c.state == PARLEY_CONN_OPEN)
        FUZZ_CHECK(H.opened == 1 && H.have_key);
    drain(0xFF); /* message 3 from an initiator: handshake bytes, skipped */
}

/* Payload bytes: u8 n, then n % 128 (at most 64) bytes of the input repeated to len
 * (compressible, and cheap to make big); with bit 7 of n, pseudo-random bytes instead
 * (incompressible: conn.c then sends the message as it is). Made by whole periods and
 * memcpy, the random ones by libsodium: payloads reach megabytes, and byte by byte under
 * the sanitizers this was most of the target's time. */
static uint8_t *fill(struct fuzz_in *in, size_t len)
{
    uint8_t *p = malloc(len + 1), n = fi_u8(in), seed[randombytes_SEEDBYTES] = {0};
    size_t got, period, done;
    const uint8_t *src = fi_bytes(in, n & 0x80 ? 0 : (n & 0x7F) % 65, &got);

    FUZZ_CHECK(p != NULL);
    if (n & 0x80) {
        memcpy(seed, &len, sizeof len);
        randombytes_buf_deterministic(p, len, seed);
        return p;
    }
    /* p[i] = src[i % got] + (i / got) % 3, or i: one period, then copies of what is made */
    period = got > 0 ? 3 * got : 256;
    for (done = 0; done < len && done < period; done++)
        p[done] = got > 0 ? (uint8_t)(src[done % got] + (done / got) % 3) : (uint8_t)done;
    while (done < len) { /* done is a multiple of the period here */
        size_t k = done < len - done ? done : len - done;
        memcpy(p + done, p, k);
        done += k;
    }
    return p;
}

static void step(struct fuzz_in *in)
{
    uint8_t op = fi_u8(in) % 11, b;
    size_t n, got;
    const uint8_t *p;
    uint8_t *q;
    int rc;

    switch (op) {
    case 0: { /* a frame into the record being built */
        uint8_t hdr[8];
        struct parley_frame_header h;
        h.opcode = fi_u8(in);
        h.flags = fi_u8(in);
        b = fi_u8(in);
        h.tag = b & 0x80 ? fi_u16(in) : (uint16_t)(b & 7); /* small tags meet often */
        p = fi_bytes(in, fi_u16(in), &got);
        h.length = (uint32_t)got;
        if (PARLEY_FRAME_HEADER_LEN + got > PT_MAX)
            break;
        if (H.pending_len + PARLEY_FRAME_HEADER_LEN + got > PT_MAX)
            flush(SIZE_MAX);
        (void)parley_frame_header_encode(hdr, sizeof hdr, &h);
        memcpy(H.pending + H.pending_len, hdr, sizeof hdr);
        if (got > 0)
            memcpy(H.pending + H.pending_len + 8, p, got);
        H.pending_len += 8 + got;
        break;
    }
    case 1: /* send it, in two pieces */
        flush(fi_u8(in));
        break;
    case 2: /* a record holding any bytes */
        p = fi_bytes(in, fi_u16(in), &got);
        send_record(p, got, fi_u8(in));
        break;
    case 3: /* raw bytes: a broken record, garbage, a second preface */
        p = fi_bytes(in, fi_u16(in) % 512, &got);
        input(p, got, got);
        break;
    case 4:
        drain(fi_u8(in));
        break;
    case 5: /* time passes: up to ~17 minutes */
        H.now += (uint64_t)fi_u16(in) * 16;
        rc = parley_conn_tick(&H.c, H.now);
        FUZZ_CHECK(rc == (H.c.state == PARLEY_CONN_CLOSED || H.c.state == PARLEY_CONN_CLOSING
                              ? H.c.close_reason
                              : 0));
        FUZZ_CHECK(parley_conn_deadline(&H.c) > H.now || H.c.state == PARLEY_CONN_CLOSED ||
                   H.c.state == PARLEY_CONN_CLOSING);
        break;
    case 6: { /* a request of ours; large ones are fragmented, maybe compressed */
        uint8_t opcode = (uint8_t)(2 + fi_u8(in) % 16), want = fi_u8(in) & 1;
        n = (size_t)fi_u16(in) * (1 + (fi_u8(in) & 3));
        q = fill(in, n);
        rc = parley_conn_request(&H.c, opcode, q, n, want);
        free(q);
        FUZZ_CHECK(rc >= 0 || rc == PARLEY_E_STATE || rc == PARLEY_E_TOO_MANY_TAGS ||
                   rc == PARLEY_E_MESSAGE_TOO_LARGE || rc == PARLEY_E_NOMEM);
        FUZZ_CHECK(rc <= 0 || !want || fuzz_tagset_has(&H.c.session.ours, (uint16_t)rc));
        break;
    }
    case 7:
        rc = parley_conn_bye(&H.c, fi_u16(in), "fuzz", H.now);
        FUZZ_CHECK(rc == 0 || rc == PARLEY_E_STATE || rc == PARLEY_E_NOMEM);
        break;
    case 8: /* send-raw: frames as given */
        p = fi_bytes(in, fi_u16(in), &got);
        rc = parley_conn_send_frames(&H.c, p, got);
        FUZZ_CHECK(rc == 0 || rc == PARLEY_E_STATE || rc == PARLEY_E_FRAME_OVERRUN ||
                   rc == PARLEY_E_NOMEM);
        if (rc == 0 && got > 0)
            H.raw_sent = 1;
        break;
    case 9:
        parley_conn_eof(&H.c);
        FUZZ_CHECK(H.c.state == PARLEY_CONN_CLOSED);
        break;
    default:
        H.node->shutting_down = 1;
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t payload[PARLEY_IDENTITY_FIXED_LEN + 256], flags, lsel;
    struct fuzz_in in;
    size_t plen;
    int steps = 0;

    fuzz_init();
    setup();
    fi_init(&in, data, size);
    flags = fi_u8(&in);
    lsel = fi_u8(&in);

    free(H.rx);
    memset(&H, 0, sizeof H);
    H.node = &nodes[(flags >> 2) & 1];
    memset(H.node->stats, 0, sizeof H.node->stats);
    H.node->shutting_down = 0;
    H.big_peers = (flags >> 4) & 1;
    H.now = T0;
    fuzz_rng_reset(7);
    plen = remote_payload(payload, sizeof payload, &in, flags, lsel);
    FUZZ_CHECK(parley_conn_init(&H.c, H.node, flags & 1, T0) == 0);
    if (!(flags & 8))
        script(plen, payload);

    while (fi_left(&in) > 0 && steps++ < 512)
        step(&in);
    flush(SIZE_MAX);
    drain(0xFF);
    drain(0xFF); /* once more: bulk messages go a round at a time */
    parley_conn_free(&H.c);
    parley_session_free(&H.mirror);
    free(H.rx);
    H.rx = NULL;
    return 0;
}
