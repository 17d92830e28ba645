/*
 * fuzz_session.c - attacks the receive state machine (spec/04-frames.md §4.5):
 * parley_session_feed with tags, fragments, reassembly, ABORT, discarding, limits,
 * compression and the answered/expect bookkeeping around it.
 *
 * Why: this is where a peer keeps state on behalf of the remote (reassembly buffers,
 * reservations, tag sets), so a slip here is a memory-safety bug or a budget bypass that a
 * single authenticated peer can trigger, and [FRAME-9] requires every conforming peer to
 * give the same answer to the same frames. Checks after every frame:
 *  - exactly one event per frame, and the right kind for its direction: a response frame is
 *    never answered (no NACK, [TAG-6]); a NACK carries a NACK-class code and the frame's tag
 *    ([FRAME-8]); whole frames never close the session;
 *  - the session invariants of fuzz_session_check.h (reserved <= budget, sums, tag sets);
 *  - differential: a model here follows each fragmented message from its PARTIAL events,
 *    and the session's reassembly buffer must hold exactly the data the model saw, with
 *    the total the first fragment stated;
 *  - round trip: a completed message's decoded fields re-encode to exactly the payload the
 *    model reassembled (after an independent zlib inflate when COMPRESSED).
 *
 * Input: byte 0 = bits 0-1 compression in force (none, zlib, gzip, zlib), bit 2 the remote
 * is admin, bit 3 we are shutting down, bit 4 answer each request at once, bit 5 release
 * after each event, bits 6-7 limits (floors, vector, raw from the input, tiny); [raw
 * limits: u16 max_tags, u32 max_message, u32 budget]; u8 n (low 4 bits) and n u16 tags of
 * our outstanding requests; then frames, as in a record plaintext.
 */
#include <zlib.h>

#include "codec.h"
#include "fuzz_common.h"
#include "fuzz_session_check.h"

struct model {
    uint16_t tag;
    uint8_t response;
    uint32_t total;
    uint8_t *data;
    size_t len;
};

static struct model *models;
static size_t n_models, cap_models;

static struct model *model_find(uint16_t tag, unsigned response)
{
    for (size_t i = 0; i < n_models; i++)
        if (models[i].tag == tag && models[i].response == response)
            return &models[i];
    return NULL;
}

static void model_drop(struct model *m)
{
    free(m->data);
    *m = models[--n_models];
}

static void model_append(struct model *m, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    m->data = realloc(m->data, m->len + n);
    FUZZ_CHECK(m->data != NULL);
    memcpy(m->data + m->len, p, n);
    m->len += n;
}

static const struct parley_inflight *inflight_of(const struct parley_session *s, uint16_t tag,
                                                 unsigned response)
{
    for (size_t i = 0; i < s->n_inflight; i++)
        if (s->inflight[i].tag == tag && s->inflight[i].response == response)
            return &s->inflight[i];
    return NULL;
}

/* The session's messages in progress are exactly the model's, byte for byte. */
static void model_sync(const struct parley_session *s)
{
    for (size_t i = 0; i < n_models;)
        if (inflight_of(s, models[i].tag, models[i].response) == NULL)
            model_drop(&models[i]); /* aborted, failed or discarded */
        else
            i++;
    FUZZ_CHECK(n_models == s->n_inflight);
    for (size_t i = 0; i < s->n_inflight; i++) {
        const struct parley_inflight *in = &s->inflight[i];
        const struct model *m = model_find(in->tag, in->response);
        FUZZ_CHECK(m != NULL);
        FUZZ_CHECK(m->total == in->total && m->len == in->got);
        FUZZ_CHECK(m->len == 0 || memcmp(m->data, in->buf, m->len) == 0);
    }
}

/* A complete message: its fields re-encode to the payload (inflated when compressed). */
static void check_complete(const struct parley_event *ev, const uint8_t *payload, size_t len)
{
    uint8_t *expect = NULL, *enc;
    size_t n = len;
    int k;

    if (ev->flags & PARLEY_FLAG_COMPRESSED) {
        /* Room for every encoding of these fields: more output is a mismatch anyway. */
        uLongf dlen;
        uLong slen = (uLong)len;
        dlen = (uLongf)(ev->msg.data_len + ev->msg.text_len + ev->msg.list.len + 64);
        expect = malloc(dlen);
        FUZZ_CHECK(expect != NULL);
        FUZZ_CHECK(uncompress2(expect, &dlen, payload, &slen) == Z_OK && slen == len);
        payload = expect;
        n = dlen;
    }
    enc = malloc(n + 1);
    FUZZ_CHECK(enc != NULL);
    k = parley_msg_encode(enc, n + 1, &ev->msg);
    FUZZ_CHECK(k == (int)n);
    FUZZ_CHECK(n == 0 || memcmp(enc, payload, n) == 0);
    free(enc);
    free(expect);
}

static void check_event(struct parley_session *s, const struct parley_frame *f, int kind,
                        const struct parley_event *ev, struct model *m)
{
    unsigned response = f->h.flags & PARLEY_FLAG_RESPONSE;

    FUZZ_CHECK(kind == (int)ev->kind);
    FUZZ_CHECK(kind >= PARLEY_EV_MESSAGE && kind <= PARLEY_EV_IGNORED); /* never CLOSE */
    FUZZ_CHECK(ev->tag == f->h.tag);
    FUZZ_CHECK(!response || (kind != PARLEY_EV_MESSAGE && kind != PARLEY_EV_NACK)); /* [TAG-6] */
    FUZZ_CHECK(response || kind != PARLEY_EV_RESPONSE);
    switch (kind) {
    case PARLEY_EV_NACK: /* [FRAME-8] */
        FUZZ_CHECK(fuzz_is_nack_err(ev->err) && parley_err_wire_code(ev->err) != 0);
        break;
    case PARLEY_EV_IGNORED:
        FUZZ_CHECK(ev->err == 0 || fuzz_is_nack_err(ev->err));
        break;
    case PARLEY_EV_PARTIAL:
        FUZZ_CHECK(f->h.flags & PARLEY_FLAG_MORE);
        FUZZ_CHECK(inflight_of(s, f->h.tag, response) != NULL);
        if (m == NULL) { /* a first fragment: total, then data ([FRAG-2]) */
            FUZZ_CHECK(f->h.length >= 4);
            if (n_models == cap_models) {
                cap_models = cap_models ? 2 * cap_models : 64;
                models = realloc(models, cap_models * sizeof *models);
                FUZZ_CHECK(models != NULL);
            }
            m = &models[n_models++];
            memset(m, 0, sizeof *m);
            m->tag = f->h.tag;
            m->response = (uint8_t)response;
            m->total = (uint32_t)f->payload[0] << 24 | (uint32_t)f->payload[1] << 16 |
                       (uint32_t)f->payload[2] << 8 | f->payload[3];
            model_append(m, f->payload + 4, f->h.length - 4);
        } else {
            model_append(m, f->payload, f->h.length);
        }
        break;
    case PARLEY_EV_MESSAGE:
    case PARLEY_EV_RESPONSE:
        FUZZ_CHECK(ev->msg.opcode == ev->opcode);
        if (kind == PARLEY_EV_MESSAGE) {
            FUZZ_CHECK(ev->opcode == PARLEY_OP_PING || ev->opcode == PARLEY_OP_SET_CONNECTION_OPT ||
                       (ev->opcode >= PARLEY_OP_BYE && ev->opcode <= PARLEY_OP_STATS));
            FUZZ_CHECK(ev->tag == 0 || fuzz_tagset_has(&s->theirs, ev->tag)); /* outstanding */
            FUZZ_CHECK(!s->shutting_down);                                    /* [ADMIN-5] */
        } else {
            FUZZ_CHECK(ev->opcode <= PARLEY_OP_NACK);
            FUZZ_CHECK(!fuzz_tagset_has(&s->ours, ev->tag)); /* the tag is freed */
        }
        if (m != NULL) { /* the last fragment ([FRAG-8]): the model's data and this one */
            model_append(m, f->payload, f->h.length);
            FUZZ_CHECK(m->len == m->total); /* [FRAG-5] */
            check_complete(ev, m->data, m->len);
            model_drop(m);
        } else {
            FUZZ_CHECK(ev->flags == f->h.flags);
            check_complete(ev, f->payload, f->h.length);
        }
        break;
    default:
        FUZZ_CHECK(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int settings[4] = {PARLEY_SETTING_NONE, PARLEY_SETTING_ZLIB, PARLEY_SETTING_GZIP,
                                    PARLEY_SETTING_ZLIB};
    struct parley_session s;
    struct parley_limits lim;
    struct parley_event ev;
    struct parley_frame f;
    struct parley_rd r;
    struct fuzz_in in;
    const uint8_t *frames;
    size_t len;
    uint8_t flags, nout;
    int rc;

    fuzz_init();
    fi_init(&in, data, size);
    flags = fi_u8(&in);
    switch (flags >> 6) {
    case 0: /* the floors of spec §2.2 */
        lim = (struct parley_limits){256, 1048576u, 2097152u};
        break;
    case 1: /* the session vectors' */
        lim = (struct parley_limits){256, 1048576u, 1048576u};
        break;
    case 2: /* raw, kept to a few MiB so that a run stays fast */
        lim.max_tags = fi_u16(&in);
        lim.max_message = fi_u32(&in) & 0x3FFFFFu;
        lim.reassembly_budget = fi_u32(&in) & 0x7FFFFFu;
        break;
    default: /* tiny: the limits are hit within a few frames */
        lim = (struct parley_limits){3, 100, 150};
        break;
    }
    parley_session_init(&s, &lim, settings[flags & 3], (flags >> 2) & 1);
    if (flags & 8)
        parley_session_shutting_down(&s);
    nout = fi_u8(&in) & 15;
    for (unsigned i = 0; i < nout; i++) {
        uint16_t tag = fi_u16(&in);
        rc = parley_session_expect(&s, tag);
        FUZZ_CHECK(rc == 0 ||
                   (rc == PARLEY_E_STATE && (tag == 0 || fuzz_tagset_has(&s.ours, tag))));
    }
    frames = fi_bytes(&in, fi_left(&in), &len);

    rd_init(&r, frames, len);
    while ((rc = parley_plaintext_next(&r, &f)) == 1) {
        size_t at = (size_t)(f.payload - frames) - PARLEY_FRAME_HEADER_LEN;
        struct model *m = model_find(f.h.tag, f.h.flags & PARLEY_FLAG_RESPONSE);
        int kind = parley_session_feed(&s, frames + at, r.pos - at, &ev);

        check_event(&s, &f, kind, &ev, m);
        if (kind == PARLEY_EV_MESSAGE && ev.tag != 0 && (flags & 16))
            FUZZ_CHECK(parley_session_answered(&s, ev.tag) == 0); /* [TAG-2] once */
        if (flags & 32) {
            parley_session_release(&s);
            FUZZ_CHECK(s.held == NULL);
        }
        model_sync(&s);
        fuzz_check_session(&s);
    }
    /* What is left is not a whole frame: [REC-5], [FRAME-1] close, and closed stays. */
    if (rc < 0) {
        FUZZ_CHECK(parley_session_feed(&s, frames + r.pos, len - r.pos, &ev) == PARLEY_EV_CLOSE);
        FUZZ_CHECK(ev.err == PARLEY_E_FRAME_OVERRUN);
        FUZZ_CHECK(parley_session_feed(&s, frames, 0, &ev) == PARLEY_EV_CLOSE);
    }
    parley_session_free(&s);
    while (n_models > 0)
        model_drop(&models[0]);
    return 0;
}
