/*
 * conn.c - one Parley connection (conn.h), either role: preface (spec/01), handshake (02),
 * records (03), frames, tags and fragments (04), messages (05). No I/O and no clock:
 * bytes and `now` go in, bytes and deadlines come out.
 *
 *   PREFACE --HELLO/ACCEPT--> HANDSHAKE --message 3--> OPEN --BYE--> CLOSING --> CLOSED
 *   bad input, timeout: CLOSED at once, nothing more sent (REFUSE alone is flushed first)
 *
 * Input arrives in units: a preface (read field by field), a handshake message or a
 * record (both u16 length + bytes). Whole units are read straight from the caller's
 * buffer; a partial one is copied to c->in, sized exactly for it, and freed once used.
 *
 * Output: frames of at most FRAME_MAX_PAYLOAD go to the control queue (ctl), which is
 * sealed first, packed into records of up to RECORD_FILL plaintext bytes ([REC-7]).
 * Larger messages wait in the bulk list and give one fragment each per round, only once
 * ctl is empty, so a control frame never waits behind fragments ([FRAG-10], [PING-3]),
 * except one on the (tag, RESPONSE bit) of a bulk message: it waits behind that message
 * and follows its last fragment. The messages of one (tag, RESPONSE bit) go out one after
 * the other, never interleaved (spec §4.3, §4.5 rule 4), and the remote's request stays
 * outstanding until the last fragment of its answer is queued ([TAG-5], [TAG-7]).
 * Every buffer exists only while it holds bytes ([LIMIT-4]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "conn.h"
#include "cursor.h"

#define SCRATCH_LEN (65536u + 64u)
#define RECORD_PT_MAX (PARLEY_RECORD_MAX - PARLEY_AEAD_TAG_LEN)
/* Sealed fragments allowed to wait for the socket: the rest of WRITE_HIGH stays free for
 * control frames, and two peers sending large messages to each other keep reading. */
#define BULK_AHEAD (PARLEY_CONN_WRITE_HIGH / 4)
#define BYE_REASON_IDLE 2

/* A message waiting in the bulk list: fragmented when longer than FRAME_MAX_PAYLOAD. */
struct parley_outmsg {
    struct parley_outmsg *next;
    size_t len, off; /* payload bytes; bytes already queued */
    uint16_t tag;
    uint8_t opcode, flags;
    int answers;    /* it answers the remote's request on tag ([TAG-2]) */
    uint8_t *after; /* whole frames on the same (tag, RESPONSE bit), sent after it */
    size_t after_len, after_cap;
    uint8_t data[];
};

static const char *const op_names[] = {
    "ACK",   "NACK",  "PING",     "SET_CONNECTION_OPT", "SHOUT", "SPEAK",
    "WHISPER", "FIND_NODE", "FIND_VALUE", "STORE", "BYE",   "PEERS",
    "SHUTDOWN", "STATS", "LOCK",  "UNLOCK",             "PATCH", "RELAY"};

/* ---- The node ------------------------------------------------------------------------ */

int parley_node_init(struct parley_node *node, const uint8_t identity_sk[64], uint64_t now_ms)
{
    memset(node, 0, sizeof *node);
    if (sodium_init() < 0)
        return PARLEY_E_INTERNAL;
    memcpy(node->identity_sk, identity_sk, sizeof node->identity_sk);
    crypto_sign_ed25519_sk_to_pk(node->identity_pk, identity_sk);
    randombytes_buf(node->static_sk, sizeof node->static_sk); /* a fresh Noise static key */
    crypto_scalarmult_base(node->static_pk, node->static_sk);
    node->limits.max_tags = PARLEY_DEFAULT_MAX_TAGS;
    node->limits.max_message = PARLEY_DEFAULT_MAX_MESSAGE;
    node->limits.reassembly_budget = PARLEY_DEFAULT_REASSEMBLY_BUDGET;
    node->majors[0] = PARLEY_PROTOCOL_MAJOR;
    node->n_majors = 1;
    node->started_ms = now_ms;
    if ((node->scratch = malloc(SCRATCH_LEN)) == NULL)
        return PARLEY_E_NOMEM;
    return parley_node_sign(node);
}

int parley_node_sign(struct parley_node *node)
{
    struct parley_identity id;
    int n;

    memset(&id, 0, sizeof id);
    id.minor = PARLEY_PROTOCOL_MINOR;
    id.capabilities = node->capabilities;
    id.max_tags = node->limits.max_tags;
    id.max_message = node->limits.max_message;
    id.reassembly_budget = node->limits.reassembly_budget;
    id.listen_port = node->listen_port;
    if ((n = parley_identity_sign(&id, node->identity_sk, node->static_pk)) != 0)
        return n;
    if ((n = parley_identity_encode(&id, node->payload, sizeof node->payload)) < 0)
        return n;
    node->payload_len = (size_t)n;
    return 0;
}

void parley_node_free(struct parley_node *node)
{
    if (node->scratch != NULL) {
        sodium_memzero(node->scratch, SCRATCH_LEN); /* the last plaintext */
        free(node->scratch);
    }
    sodium_memzero(node, sizeof *node);
}

/* ---- Small helpers ------------------------------------------------------------------- */

static uint64_t elapsed(uint64_t since, uint64_t now)
{
    return now > since ? now - since : 0; /* a clock that went back: no time passed */
}

static int active(const struct parley_conn *c)
{
    return c->state == PARLEY_CONN_PREFACE || c->state == PARLEY_CONN_HANDSHAKE ||
           c->state == PARLEY_CONN_OPEN;
}

static size_t pending(const struct parley_conn *c)
{
    return c->out_len - c->out_off;
}

static void note(struct parley_conn *c, const char *event, const char *detail)
{
    if (c->node->ops.log != NULL)
        c->node->ops.log(c->node->ops.ctx, c, event, detail);
}

/* Room for n more bytes after len in *buf, doubling its capacity as needed. */
static int grow(uint8_t **buf, size_t *cap, size_t len, size_t n)
{
    size_t want = *cap > 0 ? *cap : 256;
    uint8_t *p;

    if (n <= *cap - len)
        return 0;
    while (want - len < n)
        want *= 2;
    if ((p = realloc(*buf, want)) == NULL)
        return PARLEY_E_NOMEM;
    *buf = p;
    *cap = want;
    return 0;
}

static int out_reserve(struct parley_conn *c, size_t n)
{
    if (n > c->out_cap - c->out_len && c->out_off > 0) { /* drop what was written first */
        memmove(c->out, c->out + c->out_off, pending(c));
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    return grow(&c->out, &c->out_cap, c->out_len, n);
}

static int out_append(struct parley_conn *c, const uint8_t *p, size_t n)
{
    if (out_reserve(c, n) != 0)
        return PARLEY_E_NOMEM;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Drops the first n bytes of a buffer; an empty buffer is freed ([LIMIT-4]). */
static void drop(uint8_t **buf, size_t *len, size_t *cap, size_t n)
{
    if (n < *len) {
        memmove(*buf, *buf + n, *len - n);
        *len -= n;
        return;
    }
    free(*buf);
    *buf = NULL;
    *len = *cap = 0;
}

/* Appends to the partial unit in c->in, with room for `reserve` bytes: exactly the unit. */
static int in_append(struct parley_conn *c, const uint8_t *p, size_t n, size_t reserve)
{
    uint8_t *b;

    if (reserve < n)
        reserve = n;
    if (reserve > c->in_cap - c->in_len) {
        if ((b = realloc(c->in, c->in_len + reserve)) == NULL)
            return PARLEY_E_NOMEM;
        c->in = b;
        c->in_cap = c->in_len + reserve;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    return 0;
}

/* Frees a message of the bulk list and the frames waiting behind it. */
static void bulk_free(struct parley_conn *c, struct parley_outmsg *m)
{
    c->waiting_len -= m->after_len;
    free(m->after);
    free(m);
}

/* ---- Closing ------------------------------------------------------------------------- */

/* Frees the handshake, the session and the output, and wipes the keys ([REC-8]). */
static void release(struct parley_conn *c)
{
    if (c->hs != NULL) {
        parley_hs_wipe(c->hs);
        free(c->hs);
        c->hs = NULL;
    }
    if (c->rec.send.has_key) /* it was an authenticated connection until now */
        c->node->stats[PARLEY_STAT_CONNS_OPEN]--;
    parley_records_wipe(&c->rec);
    parley_session_free(&c->session);
    while (c->bulk != NULL) {
        struct parley_outmsg *m = c->bulk;
        c->bulk = m->next;
        bulk_free(c, m);
    }
    free(c->ctl);
    free(c->out);
    c->ctl = c->out = NULL;
    c->ctl_len = c->ctl_cap = c->out_off = c->out_len = c->out_cap = 0;
}

/* Closes now: nothing more is sent ([PRE-2], [HS-4], [REC-3]). Returns the close reason. */
static int close_now(struct parley_conn *c, int reason)
{
    if (c->state == PARLEY_CONN_CLOSED)
        return c->close_reason;
    if (c->state < PARLEY_CONN_OPEN)
        c->node->stats[PARLEY_STAT_HANDSHAKES_FAILED]++;
    if (c->close_reason == 0)
        c->close_reason = reason;
    release(c);
    c->state = PARLEY_CONN_CLOSED;
    note(c, "close", c->close_reason != 0 ? parley_err_name(c->close_reason) : "clean");
    return c->close_reason;
}

/* CLOSING becomes CLOSED once everything queued is written ([BYE-1]). */
static void maybe_closed(struct parley_conn *c)
{
    if (c->state == PARLEY_CONN_CLOSING && pending(c) == 0 && c->ctl_len == 0 && c->bulk == NULL)
        close_now(c, c->close_reason);
}

/* Sends what is queued, then closes; BYE_TIMEOUT bounds the wait ([BYE-3]). */
static void enter_closing(struct parley_conn *c, int reason, uint64_t now)
{
    if (c->state < PARLEY_CONN_OPEN)
        c->node->stats[PARLEY_STAT_HANDSHAKES_FAILED]++;
    if (c->close_reason == 0)
        c->close_reason = reason;
    c->state = PARLEY_CONN_CLOSING;
    if (c->bye_sent_ms == 0)
        c->bye_sent_ms = now > 0 ? now : 1; /* 0 means "no BYE" */
    maybe_closed(c);
}

/* ---- Queueing output ----------------------------------------------------------------- */

/* Appends one frame to a buffer of whole frames: ctl, or the frames waiting behind a bulk
 * message. */
static int frame_append(uint8_t **buf, size_t *len, size_t *cap,
                        const struct parley_frame_header *h, const uint8_t *payload)
{
    int n;

    if (grow(buf, cap, *len, PARLEY_FRAME_HEADER_LEN + (size_t)h->length) != 0)
        return PARLEY_E_NOMEM;
    if ((n = parley_frame_encode(*buf + *len, *cap - *len, h, payload)) < 0)
        return n;
    *len += (size_t)n;
    return 0;
}

static int queue_frame(struct parley_conn *c, uint8_t opcode, uint8_t flags, uint16_t tag,
                       const uint8_t *payload, size_t len)
{
    struct parley_frame_header h = {opcode, flags, tag, (uint32_t)len};
    int rc = frame_append(&c->ctl, &c->ctl_len, &c->ctl_cap, &h, payload);

    if (rc == 0)
        c->node->stats[PARLEY_STAT_FRAMES_OUT]++;
    return rc;
}

/* A frame that waits for the last fragment of bulk message m, on its (tag, RESPONSE bit).
 * Its bytes count against WRITE_HIGH ([LIMIT-4]): a remote that keeps reusing the tag of a
 * large answer and does not read stops being read. */
static int queue_after(struct parley_conn *c, struct parley_outmsg *m, uint8_t opcode,
                       uint8_t flags, uint16_t tag, const uint8_t *payload, size_t len)
{
    struct parley_frame_header h = {opcode, flags, tag, (uint32_t)len};
    size_t before = m->after_len;
    int rc = frame_append(&m->after, &m->after_len, &m->after_cap, &h, payload);

    c->waiting_len += m->after_len - before;
    return rc;
}

static int queue_bulk(struct parley_conn *c, uint8_t opcode, uint8_t flags, uint16_t tag,
                      const uint8_t *payload, size_t len)
{
    struct parley_outmsg *m = malloc(sizeof *m + len), **tail = &c->bulk;

    if (m == NULL)
        return PARLEY_E_NOMEM;
    memset(m, 0, sizeof *m);
    m->len = len;
    m->tag = tag;
    m->opcode = opcode;
    m->flags = flags;
    memcpy(m->data, payload, len);
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = m;
    return 0;
}

/* Whether m is a message on (tag, RESPONSE bit of flags): the pair that identifies a
 * message in progress (spec §4.3). */
static int bulk_on(const struct parley_outmsg *m, uint16_t tag, uint8_t flags)
{
    return m->tag == tag && (m->flags & PARLEY_FLAG_RESPONSE) == (flags & PARLEY_FLAG_RESPONSE);
}

/* The message of the bulk list queued last on (tag, RESPONSE bit of flags), or NULL. */
static struct parley_outmsg *bulk_last_on(struct parley_conn *c, uint16_t tag, uint8_t flags)
{
    struct parley_outmsg *m, *last = NULL;

    for (m = c->bulk; m != NULL; m = m->next)
        if (bulk_on(m, tag, flags))
            last = m;
    return last;
}

/* zlib ([OPT-2]) at its fastest level. *z stays NULL when compressing does not make the
 * message smaller: then it goes as it is (a SHOULD, [OPT-5], that gains nothing). */
static int compress_msg(const uint8_t *in, size_t len, uint8_t **z, size_t *zlen)
{
    uLongf n = compressBound((uLong)len);
    uint8_t *buf;

    *z = NULL;
    if ((buf = malloc(n)) == NULL)
        return PARLEY_E_NOMEM;
    if (compress2(buf, &n, in, (uLong)len, Z_BEST_SPEED) != Z_OK || n >= len) {
        free(buf);
        return 0;
    }
    *z = buf;
    *zlen = n;
    return 0;
}

/* Queues one message: a frame in ctl when it fits, else a bulk message sent in fragments.
 * `last` puts it behind every bulk message too (BYE: no request after it, [BYE-3]). A frame
 * on the (tag, RESPONSE bit) of a bulk message waits behind it: between that message's
 * fragments it would be taken for the next one (spec §4.5 rule 4). For a response only a
 * remote that reuses a tag too early ([TAG-1]) meets this: its NACK TAG_IN_USE ([TAG-5])
 * follows the answer still being sent on that tag. */
static int queue_msg(struct parley_conn *c, uint8_t opcode, uint8_t flags, uint16_t tag,
                     const uint8_t *payload, size_t len, int last)
{
    struct parley_outmsg *m;
    uint8_t *z = NULL;
    size_t zlen = 0;
    int rc;

    if (c->session.compression == PARLEY_SETTING_ZLIB && len >= PARLEY_COMPRESS_THRESHOLD) {
        if ((rc = compress_msg(payload, len, &z, &zlen)) != 0) /* [OPT-5] */
            return rc;
        if (z != NULL) {
            payload = z;
            len = zlen;
            flags |= PARLEY_FLAG_COMPRESSED; /* [OPT-4] on every fragment */
        }
    }
    if (len > PARLEY_FRAME_MAX_PAYLOAD || (last && c->bulk != NULL))
        rc = queue_bulk(c, opcode, flags, tag, payload, len);
    else if ((m = bulk_last_on(c, tag, flags)) != NULL)
        rc = queue_after(c, m, opcode, flags, tag, payload, len);
    else
        rc = queue_frame(c, opcode, flags, tag, payload, len);
    free(z);
    return rc;
}

/* Why a request failed, by wire code: the text of its NACK ([NACK-1]). */
static const char *const nack_why[PARLEY_WIRE_LAST + 1] = {
    [PARLEY_WIRE_MALFORMED] = "payload does not match its layout",
    [PARLEY_WIRE_NOT_IMPLEMENTED] = "not implemented (draft chapter)",
    [PARLEY_WIRE_UNSUPPORTED] = "option or setting not supported (zlib is)",
    [PARLEY_WIRE_BAD_FLAGS] = "reserved or forbidden flag bits",
    [PARLEY_WIRE_FRAME_TOO_LARGE] = "frame payload over 16384 bytes",
    [PARLEY_WIRE_MESSAGE_TOO_LARGE] = "message over our max_message",
    [PARLEY_WIRE_BUDGET_EXCEEDED] = "reassembly budget exhausted",
    [PARLEY_WIRE_TOO_MANY_TAGS] = "max_tags requests outstanding",
    [PARLEY_WIRE_TAG_IN_USE] = "tag still in use by an unanswered request",
    [PARLEY_WIRE_BAD_FRAGMENT] = "fragment differs from its message, or MORE on tag 0",
    [PARLEY_WIRE_LENGTH_MISMATCH] = "fragments disagree with the total",
    [PARLEY_WIRE_BAD_UTF8] = "text is not valid UTF-8",
    [PARLEY_WIRE_UNAUTHORIZED] = "admin operation from a non-admin key",
    [PARLEY_WIRE_DECOMPRESSION_FAILED] = "payload does not decompress",
    [PARLEY_WIRE_SHUTTING_DOWN] = "peer is shutting down",
    [PARLEY_WIRE_BUSY] = "peer is busy, retry later",
    [PARLEY_WIRE_INTERNAL] = "internal error",
};

static void nack_text(char *out, size_t cap, uint8_t op, uint16_t code)
{
    const char *why = nack_why[code];

    if (code == PARLEY_WIRE_UNKNOWN_OPCODE) { /* [FRAME-7] the text names the opcode */
        (void)snprintf(out, cap, "unknown opcode %u", op);
        return;
    }
    if (code == PARLEY_WIRE_MALFORMED && op == PARLEY_OP_PING)
        why = "data over 64 bytes, or a bad first fragment";
    else if (code == PARLEY_WIRE_MALFORMED && op >= PARLEY_OP_PEERS && op <= PARLEY_OP_STATS)
        why = "needs an empty payload and a non-zero tag";
    /* A text longer than cap is cut: it is for people, and all of it is ASCII. */
    if (op <= PARLEY_OP_LAST_ASSIGNED)
        (void)snprintf(out, cap, "%s: %s", op_names[op], why);
    else
        (void)snprintf(out, cap, "opcode %u: %s", op, why);
}

/* [NACK-1], [FRAME-8]: on the request's tag, its opcode, a code and a readable text. */
static int queue_nack(struct parley_conn *c, uint16_t tag, uint8_t req_opcode, int err)
{
    char text[96];
    uint8_t p[5 + sizeof text];
    struct parley_msg m;
    int n;

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_NACK;
    m.req_opcode = req_opcode;
    m.code = parley_err_wire_code(err);
    if (m.code == 0) /* a local error: the request failed for our own reasons */
        m.code = PARLEY_WIRE_INTERNAL;
    nack_text(text, sizeof text, req_opcode, m.code);
    m.text = (const uint8_t *)text;
    m.text_len = strlen(text);
    if ((n = parley_msg_encode(p, sizeof p, &m)) < 0)
        return n;
    c->node->stats[PARLEY_STAT_NACKS_SENT]++;
    return queue_msg(c, PARLEY_OP_NACK, PARLEY_FLAG_RESPONSE, tag, p, (size_t)n, 0);
}

/* An ACK: req_opcode, then the body ([ACK-1]). */
static int queue_ack(struct parley_conn *c, uint16_t tag, uint8_t req_opcode, const uint8_t *body,
                     size_t len)
{
    uint8_t p[1 + PARLEY_PING_MAX];

    if (len > PARLEY_PING_MAX)
        return PARLEY_E_STATE;
    p[0] = req_opcode;
    if (len > 0)
        memcpy(p + 1, body, len);
    return queue_msg(c, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, tag, p, 1 + len, 0);
}

/* ---- Sealing ------------------------------------------------------------------------- */

/* The whole frames at the front of buf that one record carries: as many as fit in
 * RECORD_FILL bytes, and at least one ([REC-7]). */
static size_t pack(const uint8_t *buf, size_t len)
{
    size_t n = 0;

    while (len - n >= PARLEY_FRAME_HEADER_LEN) { /* ctl holds whole frames only */
        size_t f = PARLEY_FRAME_HEADER_LEN + (size_t)be32_at(buf + n + 4);
        if (f > len - n || (n > 0 && n + f > PARLEY_CONN_RECORD_FILL))
            break;
        n += f;
    }
    return n;
}

/* Seals the control queue into records while fewer than WRITE_HIGH bytes wait ([LIMIT-4]). */
static int seal_ctl(struct parley_conn *c)
{
    size_t off = 0;
    int rc = 0;

    while (off < c->ctl_len && pending(c) < PARLEY_CONN_WRITE_HIGH) {
        size_t n = pack(c->ctl + off, c->ctl_len - off);
        int k;
        if (out_reserve(c, 2 + n + PARLEY_AEAD_TAG_LEN) != 0) {
            rc = PARLEY_E_NOMEM;
            break;
        }
        /* [REC-1]; [REC-6] STATE when the nonces are spent: the connection closes first. */
        k = parley_record_seal(&c->rec.send, c->ctl + off, n, c->out + c->out_len,
                               c->out_cap - c->out_len);
        if (k < 0) {
            rc = k;
            break;
        }
        c->out_len += (size_t)k;
        off += n;
    }
    drop(&c->ctl, &c->ctl_len, &c->ctl_cap, off);
    return rc;
}

/* The next frame of bulk message m into ctl: a first fragment states the total ([FRAG-2]),
 * every fragment but the last has MORE; a short message goes as one frame. */
static int bulk_fragment(struct parley_conn *c, struct parley_outmsg *m)
{
    struct parley_frame_header h = {m->opcode, m->flags, m->tag, 0};
    size_t head = m->off == 0 && m->len > PARLEY_FRAME_MAX_PAYLOAD ? 4 : 0;
    size_t n = m->len - m->off;
    struct parley_wr w;

    if (n > PARLEY_FRAME_MAX_PAYLOAD - head)
        n = PARLEY_FRAME_MAX_PAYLOAD - head;
    if (m->off + n < m->len)
        h.flags |= PARLEY_FLAG_MORE;
    h.length = (uint32_t)(head + n);
    if (grow(&c->ctl, &c->ctl_cap, c->ctl_len, PARLEY_FRAME_HEADER_LEN + head + n) != 0)
        return PARLEY_E_NOMEM;
    wr_init(&w, c->ctl + c->ctl_len, c->ctl_cap - c->ctl_len);
    w.len = (size_t)parley_frame_header_encode(w.buf, w.cap, &h);
    if (head > 0)
        (void)wr_u32(&w, (uint32_t)m->len);
    (void)wr_bytes(&w, m->data + m->off, n);
    c->ctl_len += w.len;
    m->off += n;
    c->node->stats[PARLEY_STAT_FRAMES_OUT]++;
    return 0;
}

/* 1 when a message queued before m on m's (tag, RESPONSE bit) is still in the bulk list:
 * m starts only after that one's last fragment, so the two never interleave. */
static int bulk_waits(const struct parley_conn *c, const struct parley_outmsg *m)
{
    const struct parley_outmsg *p;

    for (p = c->bulk; p != m; p = p->next)
        if (bulk_on(p, m->tag, m->flags))
            return 1;
    return 0;
}

/* m's last fragment is in ctl: the frames that waited for it follow it, and an answer
 * answers the remote's request now ([TAG-2]): until here its tag was outstanding, so a
 * request reusing it got TAG_IN_USE ([TAG-5]) and it counted against max_tags ([TAG-7]). */
static int bulk_finish(struct parley_conn *c, struct parley_outmsg *m)
{
    if (m->after_len > 0) {
        if (grow(&c->ctl, &c->ctl_cap, c->ctl_len, m->after_len) != 0)
            return PARLEY_E_NOMEM;
        memcpy(c->ctl + c->ctl_len, m->after, m->after_len);
        c->ctl_len += m->after_len;
        c->node->stats[PARLEY_STAT_FRAMES_OUT] +=
            (uint64_t)parley_plaintext_check(m->after, m->after_len);
    }
    if (m->answers)
        (void)parley_session_answered(&c->session, m->tag);
    return 0;
}

/* One round: a frame of each bulk message in turn ([FRAG-10]). Messages start in the order
 * they were queued, only while the remote's reassembly budget has room for their total
 * ([FRAG-4]), and only after the message before them on their (tag, RESPONSE bit).
 * Returns the frames queued. */
static int bulk_round(struct parley_conn *c)
{
    struct parley_outmsg **link = &c->bulk, *m;
    uint64_t reserved = 0, budget = c->session.remote.reassembly_budget;
    int blocked = 0, n = 0, rc;

    for (m = c->bulk; m != NULL; m = m->next)
        if (m->off > 0)
            reserved += m->len;
    while ((m = *link) != NULL) {
        int fragmented = m->len > PARLEY_FRAME_MAX_PAYLOAD;
        if (m->off == 0) {
            if (blocked || (fragmented && reserved + m->len > budget) || bulk_waits(c, m)) {
                blocked = 1;
                link = &m->next;
                continue;
            }
            if (fragmented)
                reserved += m->len;
        }
        if ((rc = bulk_fragment(c, m)) != 0)
            return rc;
        n++;
        if (m->off < m->len) {
            link = &m->next;
            continue;
        }
        if (fragmented)
            reserved -= m->len;
        if ((rc = bulk_finish(c, m)) != 0)
            return rc;
        *link = m->next;
        bulk_free(c, m);
    }
    return n;
}

/* ---- Requests ------------------------------------------------------------------------ */

/* A tag that none of our outstanding requests has, recorded as outstanding ([TAG-1]). */
static int take_tag(struct parley_conn *c, uint16_t *tag)
{
    if (c->session.ours.n >= c->session.remote.max_tags) /* [LIMIT-2] */
        return PARLEY_E_TOO_MANY_TAGS;
    for (uint32_t i = 0; i < 65535; i++) {
        int rc;
        c->next_tag = (uint16_t)(c->next_tag % 65535 + 1);
        if ((rc = parley_session_expect(&c->session, c->next_tag)) != PARLEY_E_STATE) {
            *tag = c->next_tag;
            return rc;
        }
    }
    return PARLEY_E_TOO_MANY_TAGS;
}

static int send_bye(struct parley_conn *c, uint16_t reason, const char *text, int want_answer,
                    uint64_t now)
{
    uint8_t p[4 + PARLEY_TEXT_MAX];
    struct parley_msg m;
    uint16_t tag = 0;
    int n, rc;

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_BYE;
    m.reason = reason;
    m.text = (const uint8_t *)text;
    m.text_len = text != NULL ? strlen(text) : 0;
    if ((n = parley_msg_encode(p, sizeof p, &m)) < 0)
        return n;
    if (want_answer && take_tag(c, &tag) != 0)
        tag = 0; /* no tag free: a BYE that nobody answers */
    if ((rc = queue_msg(c, PARLEY_OP_BYE, 0, tag, p, (size_t)n, 1)) != 0) {
        close_now(c, rc);
        return rc;
    }
    parley_session_bye_sent(&c->session); /* [BYE-3] no request after it */
    c->bye_sent_ms = now > 0 ? now : 1;
    if (tag == 0)
        enter_closing(c, 0, now); /* no answer will come: send, then close */
    return 0;
}

int parley_conn_request(struct parley_conn *c, uint8_t opcode, const uint8_t *payload,
                        size_t len, int want_answer)
{
    uint16_t tag = 0;
    int rc;

    if (c->state != PARLEY_CONN_OPEN || c->bye_sent_ms != 0) /* [BYE-1], [BYE-3] */
        return PARLEY_E_STATE;
    if ((rc = parley_session_check_send(&c->session, len)) != 0) /* [LIMIT-2] */
        return rc;
    if (!want_answer && len > PARLEY_FRAME_MAX_PAYLOAD) /* [TAG-3] a tag-0 message is one frame */
        return PARLEY_E_MESSAGE_TOO_LARGE;
    if (want_answer && (rc = take_tag(c, &tag)) != 0)
        return rc;
    if ((rc = queue_msg(c, opcode, 0, tag, payload, len, 0)) != 0) {
        if (tag != 0) /* the tag stays taken: only closing frees it */
            close_now(c, rc);
        return rc;
    }
    return tag;
}

int parley_conn_send_frames(struct parley_conn *c, const uint8_t *frames, size_t len)
{
    struct parley_rd r;
    struct parley_frame f;
    int n;

    if (c->state != PARLEY_CONN_OPEN)
        return PARLEY_E_STATE;
    if ((n = parley_plaintext_check(frames, len)) < 0)
        return PARLEY_E_FRAME_OVERRUN;
    rd_init(&r, frames, len);
    while (parley_plaintext_next(&r, &f) == 1)
        if (f.h.length > RECORD_PT_MAX - PARLEY_FRAME_HEADER_LEN) /* not in one record */
            return PARLEY_E_FRAME_OVERRUN;
    if (grow(&c->ctl, &c->ctl_cap, c->ctl_len, len) != 0)
        return PARLEY_E_NOMEM;
    rd_init(&r, frames, len);
    while (parley_plaintext_next(&r, &f) == 1)
        if (!(f.h.flags & (PARLEY_FLAG_RESPONSE | PARLEY_FLAG_ABORT)) && f.h.tag != 0)
            (void)parley_session_expect(&c->session, f.h.tag); /* sent as given, even if wrong */
    if (len > 0)
        memcpy(c->ctl + c->ctl_len, frames, len);
    c->ctl_len += len;
    c->node->stats[PARLEY_STAT_FRAMES_OUT] += (uint64_t)n;
    return 0;
}

int parley_conn_bye(struct parley_conn *c, uint16_t reason, const char *text, uint64_t now_ms)
{
    if (c->state != PARLEY_CONN_OPEN || c->bye_sent_ms != 0)
        return PARLEY_E_STATE;
    return send_bye(c, reason, text, 1, now_ms);
}

/* ---- Answering requests -------------------------------------------------------------- */

static int ack_peers(struct parley_conn *c, uint16_t tag)
{
    const struct parley_node_ops *ops = &c->node->ops;
    uint8_t small[1024], *p = small;
    size_t cap = sizeof small;
    int n, rc;

    if (ops->peers == NULL)
        return queue_nack(c, tag, PARLEY_OP_PEERS, PARLEY_E_INTERNAL);
    n = ops->peers(ops->ctx, p + 1, cap - 1);
    if (n == PARLEY_E_NOROOM && ops->peers_size != NULL) {
        cap = 1 + ops->peers_size(ops->ctx);
        if ((p = malloc(cap)) == NULL)
            return queue_nack(c, tag, PARLEY_OP_PEERS, PARLEY_E_BUSY);
        n = ops->peers(ops->ctx, p + 1, cap - 1);
    }
    if (n < 0 || parley_session_check_send(&c->session, 1 + (size_t)n) != 0) /* [LIMIT-2] */
        rc = queue_nack(c, tag, PARLEY_OP_PEERS, PARLEY_E_INTERNAL);
    else {
        p[0] = PARLEY_OP_PEERS;
        rc = queue_msg(c, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, tag, p, 1 + (size_t)n, 0);
    }
    if (p != small)
        free(p);
    return rc;
}

/* [ADMIN-6] counters 1..10, each once; uptime from the node's start. */
static int ack_stats(struct parley_conn *c, uint16_t tag, uint64_t now)
{
    uint8_t p[1 + 2 + PARLEY_STAT_MAX_ID * PARLEY_STAT_ENTRY_LEN];
    const struct parley_node *node = c->node;
    struct parley_wr w;

    wr_init(&w, p, sizeof p);
    (void)wr_u8(&w, PARLEY_OP_STATS);
    (void)wr_u16(&w, PARLEY_STAT_MAX_ID);
    for (uint16_t id = 1; id <= PARLEY_STAT_MAX_ID; id++) {
        uint64_t v = id == PARLEY_STAT_UPTIME ? elapsed(node->started_ms, now) / 1000u
                                              : node->stats[id];
        w.len += (size_t)parley_stat_encode(w.buf + w.len, wr_room(&w), id, v);
    }
    return queue_msg(c, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, tag, p, w.len, 0);
}

static int on_option(struct parley_conn *c, const struct parley_event *ev)
{
    uint8_t body[2] = {ev->msg.option, ev->msg.setting};
    int rc;

    if (ev->msg.setting != PARLEY_SETTING_ZLIB) /* [OPT-1], [OPT-2]: zlib only */
        return queue_nack(c, ev->tag, PARLEY_OP_SET_CONNECTION_OPT, PARLEY_E_UNSUPPORTED);
    if (ev->tag == 0) /* [TAG-3] never ACKed, so never in force ([OPT-3]) */
        return 0;
    if ((rc = queue_ack(c, ev->tag, PARLEY_OP_SET_CONNECTION_OPT, body, sizeof body)) != 0)
        return rc;
    if (ev->msg.option == PARLEY_OPT_COMPRESSION) /* [OPT-3] in force both ways after the ACK */
        parley_session_set_compression(&c->session, PARLEY_SETTING_ZLIB);
    return 0;
}

/* [BYE-1] after the remote's BYE we start no new request: unstarted ones are dropped, also
 * those waiting behind a request being sent on their tag. */
static void drop_unstarted_requests(struct parley_conn *c)
{
    struct parley_outmsg **link = &c->bulk, *m;

    while ((m = *link) != NULL) {
        if (m->flags & PARLEY_FLAG_RESPONSE) {
            link = &m->next;
        } else if (m->off == 0) {
            *link = m->next;
            bulk_free(c, m);
        } else {
            c->waiting_len -= m->after_len;
            m->after_len = 0;
            link = &m->next;
        }
    }
}

/* [TAG-2] The answer to the remote's request on tag is queued. One that went to the bulk
 * list answers the request when its last fragment is queued (bulk_finish); until then the
 * tag stays outstanding ([TAG-5], [TAG-7]). A bulk message on (tag, RESPONSE) can only be
 * this answer: an earlier one would have kept the tag outstanding. */
static void answer_queued(struct parley_conn *c, uint16_t tag)
{
    struct parley_outmsg *m = bulk_last_on(c, tag, PARLEY_FLAG_RESPONSE);

    if (m != NULL)
        m->answers = 1;
    else
        (void)parley_session_answered(&c->session, tag);
}

/* A valid, complete request (the session already applied §4.5 and the admin rules). */
static int on_message(struct parley_conn *c, const struct parley_event *ev, uint64_t now)
{
    const struct parley_node_ops *ops = &c->node->ops;
    uint16_t tag = ev->tag;
    int rc = 0;

    switch (ev->opcode) {
    case PARLEY_OP_PING: /* [PING-1] the data echoed; [TAG-3] tag 0 gets nothing */
        if (tag != 0)
            rc = queue_ack(c, tag, PARLEY_OP_PING, ev->msg.data, ev->msg.data_len);
        break;
    case PARLEY_OP_SET_CONNECTION_OPT:
        rc = on_option(c, ev);
        break;
    case PARLEY_OP_BYE: /* [BYE-1] answer it, send what is owed, close */
        if (tag != 0)
            rc = queue_ack(c, tag, PARLEY_OP_BYE, NULL, 0);
        break;
    case PARLEY_OP_PEERS: /* [ADMIN-3] */
        rc = ack_peers(c, tag);
        break;
    case PARLEY_OP_STATS:
        rc = ack_stats(c, tag, now);
        break;
    case PARLEY_OP_SHUTDOWN: /* [ADMIN-4] the ACK first, then the node stops */
        rc = queue_ack(c, tag, PARLEY_OP_SHUTDOWN, NULL, 0);
        break;
    default: /* cannot happen: the decoder answers every other opcode */
        rc = queue_nack(c, tag, ev->opcode, PARLEY_E_NOT_IMPLEMENTED);
        break;
    }
    if (tag != 0)
        answer_queued(c, tag); /* [TAG-2] exactly once */
    if (rc != 0)
        return rc;
    if (ev->opcode == PARLEY_OP_BYE) {
        drop_unstarted_requests(c);
        enter_closing(c, 0, now);
    } else if (ev->opcode == PARLEY_OP_SHUTDOWN) {
        c->node->shutting_down = 1; /* [ADMIN-5] */
        if (ops->shutdown != NULL)
            ops->shutdown(ops->ctx, c);
    }
    return 0;
}

/* A response to one of our requests, or the failure of one ([TAG-6]). */
static void on_response(struct parley_conn *c, const struct parley_event *ev, uint64_t now)
{
    const struct parley_node_ops *ops = &c->node->ops;

    if (ops->response != NULL)
        ops->response(ops->ctx, c, ev);
    /* [BYE-3] our BYE is answered: close once what is queued is sent */
    if (c->state == PARLEY_CONN_OPEN && c->bye_sent_ms != 0 && ev->kind == PARLEY_EV_RESPONSE &&
        ev->msg.req_opcode == PARLEY_OP_BYE)
        enter_closing(c, 0, now);
}

static int on_frame(struct parley_conn *c, const struct parley_frame *frame, uint64_t now)
{
    struct parley_event ev;
    size_t ours = c->session.ours.n;
    int rc = 0;

    if (c->node->shutting_down) /* [ADMIN-5] kept in step with the node */
        parley_session_shutting_down(&c->session);
    c->node->stats[PARLEY_STAT_FRAMES_IN]++;
    switch (parley_session_frame(&c->session, frame, &ev)) {
    case PARLEY_EV_MESSAGE:
        rc = on_message(c, &ev, now);
        break;
    case PARLEY_EV_RESPONSE:
        on_response(c, &ev, now);
        break;
    case PARLEY_EV_NACK: /* [FRAME-8], [ERR-2]: answered, and the connection goes on */
        rc = queue_nack(c, ev.tag, ev.opcode, ev.err);
        break;
    case PARLEY_EV_IGNORED:
        if (c->session.ours.n < ours) /* [TAG-6] an invalid response: our request failed */
            on_response(c, &ev, now);
        break;
    case PARLEY_EV_PARTIAL:
        break;
    default: /* CLOSE */
        return close_now(c, ev.err);
    }
    parley_session_release(&c->session);
    return rc != 0 ? close_now(c, rc) : 0;
}

/* ---- Input: preface, handshake, records ---------------------------------------------- */

static int hs_done(struct parley_conn *c)
{
    struct parley_node *node = c->node;
    char lines[PARLEY_KEYLOG_LINES_LEN + 1];
    int rc;

    if ((rc = parley_records_init(&c->rec, c->hs)) != 0)
        return close_now(c, rc);
    if (node->ops.keylog != NULL &&
        parley_keylog_lines(lines, sizeof lines, c->hs->initiator_ephemeral, &c->rec) > 0)
        node->ops.keylog(node->ops.ctx, lines); /* [KEYLOG-1] before the first record */
    sodium_memzero(lines, sizeof lines);
    c->remote = c->hs->remote;
    c->remote.ext = NULL; /* it pointed into the handshake state, freed now */
    c->remote.ext_len = 0;
    parley_hs_wipe(c->hs);
    free(c->hs);
    c->hs = NULL;
    c->remote_is_admin = node->has_admin && sodium_memcmp(c->remote.identity_key, node->admin_pk,
                                                          PARLEY_KEY_LEN) == 0; /* [ADMIN-1] */
    parley_session_init(&c->session, &node->limits, PARLEY_SETTING_NONE, c->remote_is_admin);
    parley_session_set_remote_limits(&c->session, /* [LIMIT-2] what we may send */
                                     &(struct parley_limits){c->remote.max_tags,
                                                             c->remote.max_message,
                                                             c->remote.reassembly_budget});
    c->state = PARLEY_CONN_OPEN;
    node->stats[PARLEY_STAT_HANDSHAKES_OK]++;
    node->stats[PARLEY_STAT_CONNS_OPEN]++;
    note(c, "open", c->initiator ? "outbound" : "inbound");
    if (node->ops.opened != NULL)
        node->ops.opened(node->ops.ctx, c);
    return 0;
}

/* Writes our handshake messages while it is our turn; opens the connection when done. */
static int hs_pump(struct parley_conn *c)
{
    while (parley_hs_next(c->hs) == PARLEY_HS_WRITE) {
        int n = parley_hs_write(c->hs, c->node->scratch, SCRATCH_LEN);
        if (n < 0)
            return close_now(c, n);
        if (out_append(c, c->node->scratch, (size_t)n) != 0)
            return close_now(c, PARLEY_E_NOMEM);
    }
    return parley_hs_next(c->hs) == PARLEY_HS_DONE ? hs_done(c) : 0;
}

/* The handshake state lives from the preface's end to the handshake's. */
static int hs_start(struct parley_conn *c)
{
    uint8_t prologue[2 * PARLEY_PREFACE_MAX_LEN];
    int rc;

    if ((c->hs = malloc(sizeof *c->hs)) == NULL)
        return close_now(c, PARLEY_E_NOMEM);
    memcpy(prologue, c->hello, c->hello_len); /* [PRE-8], [HS-2] HELLO || ACCEPT, as sent */
    memcpy(prologue + c->hello_len, c->answer, c->answer_len);
    rc = parley_hs_init(c->hs, c->initiator, prologue, c->hello_len + c->answer_len,
                        c->node->static_sk, c->node->payload, c->node->payload_len);
    if (rc != 0)
        return close_now(c, rc);
    c->state = PARLEY_CONN_HANDSHAKE;
    return hs_pump(c);
}

/* The responder's preface. Returns the bytes used, 0 for more, or a close reason. */
static int read_hello(struct parley_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    struct parley_node *node = c->node;
    struct parley_negotiation n;
    int rc = parley_preface_negotiate(node->majors, node->n_majors, buf, len, &n);

    if (rc == PARLEY_E_TRUNCATED) /* [PRE-7] nothing before a whole HELLO; [PRE-9] */
        return 0;
    if (n.answer_len == 0) /* [PRE-2] not a Parley peer: close, send nothing */
        return close_now(c, rc);
    memcpy(c->answer, n.answer, n.answer_len);
    c->answer_len = n.answer_len;
    if (out_append(c, n.answer, n.answer_len) != 0) /* [PRE-4] ACCEPT, or REFUSE */
        return close_now(c, PARLEY_E_NOMEM);
    if (rc < 0) { /* [PRE-3], [PRE-5] REFUSE listing our majors, then close; no crypto */
        enter_closing(c, rc, now);
        return rc;
    }
    memcpy(c->hello, buf, n.hello_len);
    c->hello_len = n.hello_len;
    if ((rc = hs_start(c)) < 0)
        return rc;
    return (int)n.hello_len;
}

/* The initiator reads ACCEPT or REFUSE ([PRE-6]). */
static int read_answer(struct parley_conn *c, const uint8_t *buf, size_t len)
{
    struct parley_preface hello, answer;
    int n = parley_answer_decode(buf, len, &answer), rc;

    if (n == PARLEY_E_TRUNCATED)
        return 0;
    if (n < 0)
        return close_now(c, n);
    memcpy(c->answer, buf, (size_t)n); /* kept: a REFUSE lists the majors to report */
    c->answer_len = (size_t)n;
    (void)parley_hello_decode(c->hello, c->hello_len, &hello);
    if ((rc = parley_answer_check(&hello, &answer)) < 0) /* [PRE-6] */
        return close_now(c, rc);
    if ((rc = hs_start(c)) < 0)
        return rc;
    return n;
}

static int read_handshake(struct parley_conn *c, const uint8_t *buf, size_t len)
{
    int n = parley_hs_read(c->hs, buf, len), rc;

    if (n == PARLEY_E_TRUNCATED)
        return 0;
    /* [HS-1]..[HS-8]; [HS-10] after message 2 the responder takes message 3 and nothing
     * else (a record there fails the length check or the decryption). */
    if (n < 0)
        return close_now(c, n);
    if ((rc = hs_pump(c)) < 0)
        return rc;
    return n;
}

static int read_record(struct parley_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    uint8_t *pt = c->node->scratch;
    struct parley_rd r;
    struct parley_frame f;
    size_t ptlen = 0;
    int n = parley_record_open(&c->rec.recv, buf, len, pt, SCRATCH_LEN, &ptlen);

    if (n == PARLEY_E_TRUNCATED)
        return 0;
    if (n < 0) /* [REC-2], [REC-3]: close without sending anything more */
        return close_now(c, n);
    /* [REC-4] the record authenticated; [REC-5] whole frames, before any frame acts */
    if (parley_plaintext_check(pt, ptlen) < 0)
        return close_now(c, PARLEY_E_FRAME_OVERRUN);
    rd_init(&r, pt, ptlen);
    while (c->state == PARLEY_CONN_OPEN && parley_plaintext_next(&r, &f) == 1) {
        int rc = on_frame(c, &f, now);
        if (rc < 0)
            return rc;
    }
    return n;
}

/* Reads whole units from buf while the connection is open to input. Returns the bytes
 * used; a partial unit is left. */
static size_t process(struct parley_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    size_t off = 0;

    while (off < len && active(c)) {
        int n;
        if (c->state == PARLEY_CONN_PREFACE)
            n = c->initiator ? read_answer(c, buf + off, len - off)
                             : read_hello(c, buf + off, len - off, now);
        else if (c->state == PARLEY_CONN_HANDSHAKE)
            n = read_handshake(c, buf + off, len - off);
        else
            n = read_record(c, buf + off, len - off, now);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    return off;
}

/* The bytes the unit begun in c->in still lacks. */
static size_t in_missing(const struct parley_conn *c)
{
    size_t unit;

    if (c->state == PARLEY_CONN_PREFACE) /* field by field ([PRE-9]) */
        return 1;
    if (c->in_len < 2)
        return 2 - c->in_len;
    unit = 2 + ((size_t)c->in[0] << 8 | c->in[1]); /* handshake message or record */
    return unit > c->in_len ? unit - c->in_len : 1;
}

/* ---- The API ------------------------------------------------------------------------- */

int parley_conn_init(struct parley_conn *c, struct parley_node *node, int initiator,
                     uint64_t now_ms)
{
    struct parley_preface hello;
    int n;

    memset(c, 0, sizeof *c);
    c->node = node;
    c->initiator = initiator != 0;
    c->state = PARLEY_CONN_PREFACE;
    c->started_ms = c->last_rx_ms = now_ms;
    if (!c->initiator)
        return 0;
    memset(&hello, 0, sizeof hello);
    hello.kind = PARLEY_PREFACE_HELLO;
    hello.count = (uint8_t)(node->n_majors <= PARLEY_MAX_MAJORS ? node->n_majors : 0);
    memcpy(hello.majors, node->majors, hello.count);
    /* [PRE-1] HELLO first, every major we speak, strictly descending */
    if ((n = parley_preface_encode(c->hello, sizeof c->hello, &hello)) < 0)
        return close_now(c, n);
    c->hello_len = (size_t)n;
    if (out_append(c, c->hello, c->hello_len) != 0)
        return close_now(c, PARLEY_E_NOMEM);
    return 0;
}

void parley_conn_free(struct parley_conn *c)
{
    release(c);
    free(c->in);
    sodium_memzero(c, sizeof *c);
}

int parley_conn_input(struct parley_conn *c, const uint8_t *in, size_t len, uint64_t now_ms)
{
    size_t n;

    if (!active(c)) /* CLOSING or CLOSED: nothing more is read */
        return c->close_reason;
    c->last_rx_ms = now_ms; /* [LIMIT-5] */
    c->node->stats[PARLEY_STAT_BYTES_IN] += len;
    /* First the unit begun earlier, taking only the bytes it lacks. */
    while (len > 0 && c->in_len > 0 && active(c)) {
        size_t missing = in_missing(c), take = missing < len ? missing : len;
        if (in_append(c, in, take, missing) != 0) {
            close_now(c, PARLEY_E_NOMEM);
            break;
        }
        in += take;
        len -= take;
        n = process(c, c->in, c->in_len, now_ms);
        if (active(c))
            drop(&c->in, &c->in_len, &c->in_cap, n);
    }
    /* Then whole units straight from the caller's buffer; a partial one is kept. */
    if (len > 0 && active(c)) {
        n = process(c, in, len, now_ms);
        if (active(c) && n < len && in_append(c, in + n, len - n, 0) != 0)
            close_now(c, PARLEY_E_NOMEM);
    }
    if (active(c))
        return 0;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    return c->close_reason;
}

void parley_conn_eof(struct parley_conn *c)
{
    close_now(c, c->close_reason);
}

int parley_conn_wants_input(const struct parley_conn *c)
{
    /* [LIMIT-4] a peer that does not read what we owe it stops being read */
    return active(c) && pending(c) + c->ctl_len + c->waiting_len < PARLEY_CONN_WRITE_HIGH;
}

size_t parley_conn_output(struct parley_conn *c, const uint8_t **out)
{
    if ((c->state == PARLEY_CONN_OPEN || c->state == PARLEY_CONN_CLOSING) && c->rec.send.has_key) {
        int rc = seal_ctl(c);
        /* [FRAG-10] a round of fragments only once every control frame is sealed */
        while (rc == 0 && c->bulk != NULL && c->ctl_len == 0 && pending(c) < BULK_AHEAD &&
               (rc = bulk_round(c)) > 0)
            rc = seal_ctl(c);
        if (rc < 0)
            close_now(c, rc);
    }
    maybe_closed(c);
    *out = c->out != NULL ? c->out + c->out_off : NULL;
    return pending(c);
}

void parley_conn_written(struct parley_conn *c, size_t n)
{
    if (n > pending(c))
        n = pending(c);
    c->out_off += n;
    c->node->stats[PARLEY_STAT_BYTES_OUT] += n;
    if (c->out_off == c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_off = c->out_len = c->out_cap = 0;
    }
    maybe_closed(c);
}

uint64_t parley_conn_deadline(const struct parley_conn *c)
{
    if (c->state == PARLEY_CONN_CLOSED)
        return UINT64_MAX;
    if (c->state < PARLEY_CONN_OPEN) /* [PRE-7], [HS-11] */
        return c->started_ms + PARLEY_HANDSHAKE_TIMEOUT_MS;
    if (c->bye_sent_ms != 0) /* [BYE-3]: after our BYE, and while CLOSING */
        return c->bye_sent_ms + PARLEY_BYE_TIMEOUT_MS;
    return c->last_rx_ms + PARLEY_IDLE_TIMEOUT_MS; /* [LIMIT-5] */
}

int parley_conn_tick(struct parley_conn *c, uint64_t now_ms)
{
    if (c->state == PARLEY_CONN_CLOSED)
        return c->close_reason;
    if (c->state < PARLEY_CONN_OPEN) {
        if (parley_hs_check_deadline(c->started_ms, now_ms) != 0) /* [PRE-7], [HS-11] */
            close_now(c, PARLEY_E_TIMEOUT);
    } else if (c->bye_sent_ms != 0) {
        if (elapsed(c->bye_sent_ms, now_ms) >= PARLEY_BYE_TIMEOUT_MS) /* [BYE-3] */
            close_now(c, c->close_reason);
    } else if (elapsed(c->last_rx_ms, now_ms) >= PARLEY_IDLE_TIMEOUT_MS) {
        c->close_reason = PARLEY_E_TIMEOUT; /* [LIMIT-5] BYE IDLE, then close */
        if (send_bye(c, BYE_REASON_IDLE, "idle", 0, now_ms) != 0)
            close_now(c, PARLEY_E_TIMEOUT);
    }
    return active(c) ? 0 : c->close_reason;
}
