/*
 * frame.c - spec/04-frames.md: the frame header, record plaintext splitting, and the
 * receive state machine of §4.5 (tags, fragments, limits, decompression).
 *
 * 0        1        2                 4                                   8
 * +--------+--------+-----------------+-----------------------------------+---------+
 * | opcode | flags  | tag             | length                            | payload |
 * | u8     | u8     | u16             | u32                               | ...     |
 * +--------+--------+-----------------+-----------------------------------+---------+
 * flags: 0x01 RESPONSE, 0x02 MORE, 0x04 ABORT, 0x08 COMPRESSED, 0xF0 reserved.
 *
 * first fragment payload:  | total u32 | data ... |     later fragments: | data ... |
 *
 * The session is the only code here that allocates, and only once traffic needs it: tag
 * sets (sorted u16 arrays, grown to the tags in use), one entry per message in progress,
 * reassembly buffers (grown up to each message's total; the totals are bounded by
 * reassembly_budget) and one decompressed message at a time (bounded by max_message).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST /* z_stream.next_in is const: zlib does not write its input */
#include <zlib.h>

#include "codec.h"
#include "cursor.h"

/* ---- Header -------------------------------------------------------------------------- */

/* The 8 header bytes are taken with one bounds check: this runs for every frame. */
static int read_header(struct parley_rd *r, struct parley_frame_header *h)
{
    const uint8_t *p;

    if (rd_bytes(r, PARLEY_FRAME_HEADER_LEN, &p) != 0)
        return PARLEY_E_TRUNCATED;
    h->opcode = p[0];
    h->flags = p[1];
    h->tag = be16_at(p + 2);
    h->length = be32_at(p + 4);
    return 0;
}

static void write_header(uint8_t *p, const struct parley_frame_header *h)
{
    p[0] = h->opcode;
    p[1] = h->flags;
    put_be16(p + 2, h->tag);
    put_be32(p + 4, h->length);
}

int parley_frame_header_decode(const uint8_t *buf, size_t len, struct parley_frame_header *h)
{
    struct parley_rd r;

    rd_init(&r, buf, len);
    if (read_header(&r, h) != 0)
        return PARLEY_E_TRUNCATED;
    return PARLEY_FRAME_HEADER_LEN;
}

int parley_frame_header_encode(uint8_t *out, size_t outlen, const struct parley_frame_header *h)
{
    if (outlen < PARLEY_FRAME_HEADER_LEN)
        return PARLEY_E_NOROOM;
    write_header(out, h);
    return PARLEY_FRAME_HEADER_LEN;
}

int parley_frame_header_check(const struct parley_frame_header *h, int compression)
{
    unsigned response = h->flags & PARLEY_FLAG_RESPONSE, more = h->flags & PARLEY_FLAG_MORE;
    unsigned abort_ = h->flags & PARLEY_FLAG_ABORT, compressed = h->flags & PARLEY_FLAG_COMPRESSED;

    /* The order is §4.1's, then [TAG-3]; the first failing check decides ([FRAME-9]). */
    if (h->length > PARLEY_FRAME_MAX_PAYLOAD) /* [FRAME-2] */
        return PARLEY_E_FRAME_TOO_LARGE;
    if (h->flags & PARLEY_FLAG_RESERVED) /* [FRAME-3] */
        return PARLEY_E_BAD_FLAGS;
    if (abort_ && (more || compressed)) /* [FRAME-4] */
        return PARLEY_E_BAD_FLAGS;
    if (response && h->opcode > PARLEY_OP_NACK) /* §4.1: RESPONSE only with ACK or NACK */
        return PARLEY_E_BAD_FLAGS;
    if (!response && h->opcode <= PARLEY_OP_NACK) /* [FRAME-5] */
        return PARLEY_E_BAD_FLAGS;
    if (compressed && !compression) /* [FRAME-6] */
        return PARLEY_E_BAD_FLAGS;
    if (abort_ && h->length != 0) /* [FRAME-4] an ABORT frame is empty */
        return PARLEY_E_MALFORMED;
    if (h->opcode > PARLEY_OP_LAST_ASSIGNED) /* [FRAME-7], [MSG-1] */
        return PARLEY_E_UNKNOWN_OPCODE;
    if (more && h->tag == 0) /* [TAG-3], after [FRAME-7] as §4.1 lists them */
        return PARLEY_E_BAD_FRAGMENT;
    return 0;
}

int parley_frame_encode(uint8_t *out, size_t outlen, const struct parley_frame_header *h,
                        const uint8_t *payload)
{
    size_t n = PARLEY_FRAME_HEADER_LEN + (size_t)h->length;

    if (outlen < n || n > INT_MAX)
        return PARLEY_E_NOROOM;
    write_header(out, h);
    if (h->length > 0)
        memcpy(out + PARLEY_FRAME_HEADER_LEN, payload, h->length);
    return (int)n;
}

/* ---- Record plaintext ---------------------------------------------------------------- */

int parley_plaintext_next(struct parley_rd *r, struct parley_frame *f)
{
    struct parley_rd t = *r;

    if (rd_left(&t) == 0)
        return 0;
    if (read_header(&t, &f->h) != 0) /* [FRAME-1], [REC-5] a partial header */
        return PARLEY_E_FRAME_OVERRUN;
    if (rd_bytes(&t, f->h.length, &f->payload) != 0) /* [FRAME-1], [REC-5] */
        return PARLEY_E_FRAME_OVERRUN;
    *r = t;
    return 1;
}

/* The frames' lengths alone decide: a scan of the length fields, run on every record. */
int parley_plaintext_check(const uint8_t *buf, size_t len)
{
    size_t off = 0;
    int n = 0;

    while (off < len) {
        size_t left = len - off, flen;
        if (left < PARLEY_FRAME_HEADER_LEN) /* [FRAME-1], [REC-5] a partial header */
            return PARLEY_E_FRAME_OVERRUN;
        flen = be32_at(buf + off + 4);
        if (flen > left - PARLEY_FRAME_HEADER_LEN) /* [FRAME-1], [REC-5] */
            return PARLEY_E_FRAME_OVERRUN;
        off += PARLEY_FRAME_HEADER_LEN + flen;
        n++;
    }
    return n;
}

/* ---- Decompression ------------------------------------------------------------------- */

int parley_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
    z_stream z;
    uint8_t scratch[1024];
    size_t total = 0;
    int zrc, rc = 0;

    *outlen = 0;
    if (len > UINT_MAX)
        return PARLEY_E_MESSAGE_TOO_LARGE;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return PARLEY_E_NOMEM;
    z.next_in = in;
    z.avail_in = (uInt)len;
    do {
        struct parley_wr w;
        size_t before;

        /* Past cap (or when only measuring), inflate into scratch to see if more comes. */
        if (out != NULL && total < cap)
            wr_init(&w, out, cap);
        else
            wr_init(&w, scratch, sizeof scratch);
        w.len = w.buf == out ? total : 0;
        before = wr_room(&w) > UINT_MAX ? UINT_MAX : wr_room(&w);
        z.next_out = w.buf + w.len;
        z.avail_out = (uInt)before;
        zrc = inflate(&z, Z_NO_FLUSH);
        total += before - z.avail_out;
        if (total > cap) { /* [OPT-6] stop at max_message */
            rc = PARLEY_E_MESSAGE_TOO_LARGE;
            break;
        }
    } while (zrc == Z_OK);
    if (rc == 0 && (zrc != Z_STREAM_END || z.avail_in != 0)) /* [OPT-6] */
        rc = zrc == Z_MEM_ERROR ? PARLEY_E_NOMEM : PARLEY_E_DECOMPRESSION_FAILED;
    inflateEnd(&z);
    if (rc == 0)
        *outlen = total;
    return rc;
}

/* ---- Tag sets ------------------------------------------------------------------------ */

/* The index where tag is, or would be inserted. */
static size_t tagset_find(const struct parley_tagset *t, uint16_t tag)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->tags[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int tagset_has(const struct parley_tagset *t, uint16_t tag)
{
    size_t i = tagset_find(t, tag);
    return i < t->n && t->tags[i] == tag;
}

static int tagset_add(struct parley_tagset *t, uint16_t tag)
{
    size_t i = tagset_find(t, tag);

    if (i < t->n && t->tags[i] == tag)
        return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap == 0 ? 16 : 2 * t->cap;
        uint16_t *tags = realloc(t->tags, cap * sizeof *tags);
        if (tags == NULL)
            return PARLEY_E_NOMEM;
        t->tags = tags;
        t->cap = cap;
    }
    memmove(&t->tags[i + 1], &t->tags[i], (t->n - i) * sizeof *t->tags);
    t->tags[i] = tag;
    t->n++;
    return 0;
}

/* Returns 1 when the tag was in the set. */
static int tagset_del(struct parley_tagset *t, uint16_t tag)
{
    size_t i = tagset_find(t, tag);

    if (i == t->n || t->tags[i] != tag)
        return 0;
    memmove(&t->tags[i], &t->tags[i + 1], (t->n - i - 1) * sizeof *t->tags);
    t->n--;
    return 1;
}

/* ---- Messages in progress ------------------------------------------------------------ */

static struct parley_inflight *inflight_find(struct parley_session *s, uint16_t tag,
                                             unsigned response)
{
    for (size_t i = 0; i < s->n_inflight; i++)
        if (s->inflight[i].tag == tag && s->inflight[i].response == response)
            return &s->inflight[i];
    return NULL;
}

static struct parley_inflight *inflight_add(struct parley_session *s, uint16_t tag,
                                            unsigned response)
{
    struct parley_inflight *in;

    if (s->n_inflight == s->cap_inflight) {
        size_t cap = s->cap_inflight == 0 ? 4 : 2 * s->cap_inflight;
        in = realloc(s->inflight, cap * sizeof *in);
        if (in == NULL)
            return NULL;
        s->inflight = in;
        s->cap_inflight = cap;
    }
    in = &s->inflight[s->n_inflight++];
    memset(in, 0, sizeof *in);
    in->tag = tag;
    in->response = (uint8_t)response;
    return in;
}

/* Frees the message and releases its reservation ([FRAG-8]). */
static void inflight_drop(struct parley_session *s, struct parley_inflight *in)
{
    free(in->buf);
    s->reserved -= in->total;
    *in = s->inflight[--s->n_inflight];
}

/* [FRAG-3]: drop what arrives on (tag, response) until MORE clear or ABORT. A tag set,
 * not an inflight entry: a peer can make up to 2 x 65535 of these, 2 bytes each. */
static void discard_start(struct parley_session *s, struct parley_inflight *in, uint16_t tag,
                          unsigned response)
{
    if (in != NULL)
        inflight_drop(s, in);
    /* Out of memory, later fragments are judged as new messages: nothing worse. */
    (void)tagset_add(&s->discarding[response], tag);
}

static int append(struct parley_inflight *in, const uint8_t *data, size_t n)
{
    struct parley_wr w;

    if (n > in->cap - in->got) {
        size_t cap = in->cap == 0 ? 1024 : 2 * (size_t)in->cap;
        uint8_t *buf;
        while (cap < in->got + n)
            cap *= 2;
        if (cap > in->total)
            cap = in->total;
        buf = realloc(in->buf, cap);
        if (buf == NULL)
            return PARLEY_E_NOMEM;
        in->buf = buf;
        in->cap = (uint32_t)cap;
    }
    wr_init(&w, in->buf, in->cap);
    w.len = in->got;
    if (wr_bytes(&w, data, n) != 0) /* cannot happen: callers check n against the total */
        return PARLEY_E_INTERNAL;
    in->got = (uint32_t)w.len;
    return 0;
}

/* ---- Events -------------------------------------------------------------------------- */

static int ev_set(struct parley_event *ev, enum parley_event_kind kind, int err)
{
    ev->kind = kind;
    ev->err = err;
    return kind;
}

static int ev_nack(struct parley_event *ev, uint8_t req_opcode, int err)
{
    if (err == PARLEY_E_NOMEM) /* our own resource limit, not the request's fault */
        err = PARLEY_E_BUSY;
    memset(&ev->msg, 0, sizeof ev->msg);
    ev->opcode = req_opcode;
    return ev_set(ev, PARLEY_EV_NACK, err);
}

static int ev_ignored(struct parley_event *ev, int err)
{
    memset(&ev->msg, 0, sizeof ev->msg);
    return ev_set(ev, PARLEY_EV_IGNORED, err);
}

/* ---- The receive state machine, §4.5 ------------------------------------------------- */

void parley_session_init(struct parley_session *s, const struct parley_limits *limits,
                         int compression, int admin)
{
    memset(s, 0, sizeof *s);
    s->limits = *limits;
    s->remote.max_tags = PARLEY_MIN_MAX_TAGS; /* the floors, until the handshake tells */
    s->remote.max_message = PARLEY_MIN_MAX_MESSAGE;
    s->remote.reassembly_budget = PARLEY_MIN_MAX_MESSAGE;
    s->compression = compression;
    s->admin = admin;
}

void parley_session_free(struct parley_session *s)
{
    for (size_t i = 0; i < s->n_inflight; i++)
        free(s->inflight[i].buf); /* the reservations go with the memset below */
    free(s->inflight);
    free(s->ours.tags);
    free(s->theirs.tags);
    free(s->discarding[0].tags);
    free(s->discarding[1].tags);
    free(s->held);
    memset(s, 0, sizeof *s);
}

void parley_session_release(struct parley_session *s)
{
    free(s->held);
    s->held = NULL;
}

int parley_session_expect(struct parley_session *s, uint16_t tag)
{
    if (tag == 0 || tagset_has(&s->ours, tag) || s->bye_sent) /* [TAG-1], [BYE-3] */
        return PARLEY_E_STATE;
    if (s->ours.n >= s->remote.max_tags) /* [LIMIT-2] */
        return PARLEY_E_TOO_MANY_TAGS;
    return tagset_add(&s->ours, tag);
}

void parley_session_set_remote_limits(struct parley_session *s, const struct parley_limits *l)
{
    s->remote = *l;
}

int parley_session_check_send(const struct parley_session *s, size_t len)
{
    if (len > s->remote.max_message) /* [LIMIT-2] */
        return PARLEY_E_MESSAGE_TOO_LARGE;
    return 0;
}

void parley_session_bye_sent(struct parley_session *s)
{
    s->bye_sent = 1;
}

void parley_session_shutting_down(struct parley_session *s)
{
    s->shutting_down = 1;
}

int parley_session_answered(struct parley_session *s, uint16_t tag)
{
    if (tag == 0 || !tagset_del(&s->theirs, tag)) /* [TAG-2] exactly once */
        return PARLEY_E_STATE;
    return 0;
}

void parley_session_set_compression(struct parley_session *s, int setting)
{
    s->compression = setting;
}

/* Step 6: a whole message. `owned` is the reassembly buffer holding payload, or NULL when
 * payload points into the caller's frame; the event's message may point into either. */
static int complete(struct parley_session *s, struct parley_event *ev, uint8_t *owned,
                    const uint8_t *payload, size_t len)
{
    static const uint8_t empty[1];
    unsigned response = ev->flags & PARLEY_FLAG_RESPONSE;
    int rc = 0;

    s->held = owned;
    if (payload == NULL)
        payload = empty;
    if (ev->flags & PARLEY_FLAG_COMPRESSED) { /* [OPT-4], [OPT-6] */
        size_t n = 0;
        uint8_t *out = NULL;
        if (s->compression != PARLEY_SETTING_ZLIB)
            rc = PARLEY_E_DECOMPRESSION_FAILED; /* only zlib is implemented ([OPT-2]) */
        if (rc == 0)
            rc = parley_inflate(payload, len, NULL, s->limits.max_message, &n);
        if (rc == 0 && (out = malloc(n > 0 ? n : 1)) == NULL)
            rc = PARLEY_E_NOMEM;
        if (rc == 0)
            rc = parley_inflate(payload, len, out, n, &n);
        free(s->held);
        s->held = out;
        payload = out;
        len = n;
    }
    if (rc == 0)
        rc = parley_msg_decode(ev->opcode, payload, len, &ev->msg);
    if (rc == 0 && !response)
        rc = parley_msg_check_admin(&ev->msg, ev->tag, s->admin); /* [ADMIN-2], [ADMIN-1] */
    if (rc == 0 && !response && s->shutting_down)
        rc = PARLEY_E_SHUTTING_DOWN; /* [ADMIN-5] */

    if (response) {
        (void)tagset_del(&s->ours, ev->tag); /* answered, or failed locally ([TAG-6]) */
        if (rc != 0) /* [TAG-6], [CONV-1], [ACK-2] an invalid response is discarded */
            return ev_ignored(ev, rc);
        if (ev->msg.opcode == PARLEY_OP_ACK &&
            ev->msg.req_opcode == PARLEY_OP_SET_CONNECTION_OPT &&
            ev->msg.option == PARLEY_OPT_COMPRESSION) /* [OPT-3] in force once acknowledged */
            s->compression = ev->msg.setting;
        return ev_set(ev, PARLEY_EV_RESPONSE, 0);
    }
    if (rc != 0) {
        (void)tagset_del(&s->theirs, ev->tag); /* the NACK answers it ([MSG-2]) */
        return ev_nack(ev, ev->opcode, rc);
    }
    return ev_set(ev, PARLEY_EV_MESSAGE, 0); /* outstanding until parley_session_answered */
}

/* A message in progress or starting fails: answer it (or drop a response) and discard the
 * rest of it ([FRAG-3]) when more fragments follow. */
static int fail(struct parley_session *s, struct parley_event *ev, struct parley_inflight *in,
                const struct parley_frame *f, uint8_t opcode, int err)
{
    uint16_t tag = f->h.tag;
    unsigned response = f->h.flags & PARLEY_FLAG_RESPONSE;

    if (f->h.flags & PARLEY_FLAG_MORE)
        discard_start(s, in, tag, response);
    else if (in != NULL)
        inflight_drop(s, in);
    if (response) {
        (void)tagset_del(&s->ours, tag); /* [TAG-6] the request completes as failed */
        return ev_ignored(ev, err);
    }
    return ev_nack(ev, opcode, err);
}

/* Step 4: the next fragment of the message in progress ([FRAG-5], [FRAG-6]). */
static int next_fragment(struct parley_session *s, struct parley_event *ev,
                         struct parley_inflight *in, const struct parley_frame *f)
{
    unsigned more = f->h.flags & PARLEY_FLAG_MORE;
    int rc = 0;
    uint8_t *buf;
    size_t got;

    if (f->h.opcode != in->opcode ||
        (f->h.flags & PARLEY_FLAG_COMPRESSED) != (in->flags & PARLEY_FLAG_COMPRESSED))
        rc = PARLEY_E_BAD_FRAGMENT; /* [FRAG-6] */
    else if (f->h.length > in->total - in->got) /* [FRAG-5] more data than the total */
        rc = PARLEY_E_LENGTH_MISMATCH; /* NOLINT(bugprone-branch-clone): kept apart from the
                                        * next [FRAG-5] case so each check cites its rule */
    else if (!more && f->h.length != in->total - in->got) /* [FRAG-5] last one short */
        rc = PARLEY_E_LENGTH_MISMATCH;
    else
        rc = append(in, f->payload, f->h.length);
    if (rc != 0) {
        uint8_t opcode = in->opcode;
        if (!in->response)
            (void)tagset_del(&s->theirs, in->tag); /* the NACK answers it */
        return fail(s, ev, in, f, opcode, rc);
    }
    if (more)
        return ev_set(ev, PARLEY_EV_PARTIAL, 0);

    /* [FRAG-8] processed when the last fragment arrived; the reservation ends here. */
    ev->opcode = in->opcode;
    ev->flags = in->flags;
    buf = in->buf;
    got = in->got;
    in->buf = NULL;
    inflight_drop(s, in);
    return complete(s, ev, buf, buf, got);
}

/* Step 5: a frame that starts a message. */
static int start(struct parley_session *s, struct parley_event *ev, const struct parley_frame *f)
{
    uint16_t tag = f->h.tag;
    unsigned response = f->h.flags & PARLEY_FLAG_RESPONSE, more = f->h.flags & PARLEY_FLAG_MORE;
    struct parley_inflight *in;
    struct parley_rd r;
    const uint8_t *data;
    uint32_t total;
    size_t n;
    int rc = 0;

    if (response && !tagset_has(&s->ours, tag)) { /* [TAG-6] not ours: drop all of it */
        if (more)
            discard_start(s, NULL, tag, response);
        return ev_ignored(ev, 0);
    }
    if (!response && tag != 0) {
        if (tagset_has(&s->theirs, tag)) /* [TAG-5] the earlier one stays outstanding */
            rc = PARLEY_E_TAG_IN_USE;
        else if (s->theirs.n >= s->limits.max_tags) /* [TAG-7] */
            rc = PARLEY_E_TOO_MANY_TAGS;
        if (rc != 0)
            return fail(s, ev, NULL, f, f->h.opcode, rc);
    }
    ev->opcode = f->h.opcode;
    ev->flags = f->h.flags;
    if (!more) {
        if (!response && tag != 0 && (rc = tagset_add(&s->theirs, tag)) != 0)
            return ev_nack(ev, f->h.opcode, rc);
        return complete(s, ev, NULL, f->payload, f->h.length);
    }

    rd_init(&r, f->payload, f->h.length);
    if (rd_u32(&r, &total) != 0) /* [FRAG-2] */
        rc = PARLEY_E_MALFORMED;
    else if (rd_left(&r) > total) /* [FRAG-2], [FRAG-5] the first fragment exceeds total */
        rc = PARLEY_E_LENGTH_MISMATCH;
    else if (total > s->limits.max_message) /* [FRAG-3] */
        rc = PARLEY_E_MESSAGE_TOO_LARGE;
    else if (total > s->limits.reassembly_budget - s->reserved) /* [FRAG-4] */
        rc = PARLEY_E_BUDGET_EXCEEDED;
    else if ((in = inflight_add(s, tag, response)) == NULL)
        rc = PARLEY_E_NOMEM;
    if (rc != 0)
        return fail(s, ev, NULL, f, f->h.opcode, rc);

    in->opcode = f->h.opcode;
    in->flags = f->h.flags;
    in->total = total;
    s->reserved += total;
    n = rd_left(&r);
    (void)rd_bytes(&r, n, &data);
    if ((rc = append(in, data, n)) != 0 ||
        (!response && (rc = tagset_add(&s->theirs, tag)) != 0)) {
        inflight_drop(s, in);
        return fail(s, ev, NULL, f, f->h.opcode, rc);
    }
    return ev_set(ev, PARLEY_EV_PARTIAL, 0); /* outstanding from its first frame */
}

int parley_session_feed(struct parley_session *s, const uint8_t *frame, size_t len,
                        struct parley_event *ev)
{
    struct parley_rd r;
    struct parley_frame f;

    memset(&f, 0, sizeof f);
    rd_init(&r, frame, len);
    if (s->closed == 0 && (parley_plaintext_next(&r, &f) != 1 || rd_left(&r) != 0))
        s->closed = PARLEY_E_FRAME_OVERRUN; /* [FRAME-1], [REC-5] not exactly one frame */
    return parley_session_frame(s, &f, ev); /* a closed session answers CLOSE */
}

int parley_session_frame(struct parley_session *s, const struct parley_frame *frame,
                         struct parley_event *ev)
{
    struct parley_frame f = *frame;
    struct parley_inflight *in;
    unsigned response, more;
    int rc;

    memset(ev, 0, sizeof *ev);
    free(s->held); /* the previous event's message is no longer needed */
    s->held = NULL;
    if (s->closed != 0)
        return ev_set(ev, PARLEY_EV_CLOSE, s->closed);
    ev->tag = f.h.tag;
    response = f.h.flags & PARLEY_FLAG_RESPONSE; /* 0 or 1 */
    more = f.h.flags & PARLEY_FLAG_MORE;

    /* 1. A message being discarded ([FRAG-3]): dropped unread, whatever its header. */
    if (tagset_has(&s->discarding[response], f.h.tag)) {
        if (!more || (f.h.flags & PARLEY_FLAG_ABORT))
            (void)tagset_del(&s->discarding[response], f.h.tag);
        return ev_ignored(ev, 0);
    }

    /* 2. Header checks; they touch no message in progress. */
    rc = parley_frame_header_check(&f.h, s->compression != PARLEY_SETTING_NONE);
    in = inflight_find(s, f.h.tag, response);
    if (rc != 0) {
        if (more && f.h.tag != 0 && in == NULL) /* §4.5 rule 2: answered once ([TAG-2]) */
            discard_start(s, NULL, f.h.tag, response);
        if (response) /* [TAG-6] never answered, and touches nothing */
            return ev_ignored(ev, rc);
        return ev_nack(ev, f.h.opcode, rc); /* [FRAME-8] on its tag, with its opcode */
    }

    /* 3. ABORT ([FRAG-7]); the requester may reuse the tag ([FRAG-11]). */
    if (f.h.flags & PARLEY_FLAG_ABORT) {
        if (in != NULL) {
            if (!response)
                (void)tagset_del(&s->theirs, f.h.tag);
            inflight_drop(s, in);
        }
        return ev_ignored(ev, 0);
    }

    /* 4. The next fragment of a message in progress ([FRAG-1]). */
    if (in != NULL)
        return next_fragment(s, ev, in, &f);

    /* 5. A new message. */
    return start(s, ev, &f);
}
