/*
 * preface.c - spec/01-preface.md: HELLO, ACCEPT, REFUSE and the responder's negotiation.
 *
 * HELLO (kind 1) and REFUSE (kind 3):
 * 0                 6        7        8
 * +-----------------+--------+--------+---------------------+
 * | magic "PARLEY"  | kind   | count  | majors[count] (u8)  |
 * +-----------------+--------+--------+---------------------+
 * ACCEPT (kind 2):
 * 0                 6        7        8
 * +-----------------+--------+--------+
 * | magic "PARLEY"  | kind=2 | major  |
 * +-----------------+--------+--------+
 * count 1..16; majors 1..255, strictly descending.
 *
 * The decoders read one field at a time and stop at the first byte that cannot be part of
 * a valid preface ([PRE-9]); until then, a short buffer is TRUNCATED, so a stream reader
 * calls them again as bytes arrive.
 */
#include <string.h>

#include "codec.h"
#include "cursor.h"

/* count 1..16, majors 1..255 strictly descending ([PRE-1]). */
static int majors_valid(const uint8_t *majors, size_t count)
{
    if (count < 1 || count > PARLEY_MAX_MAJORS)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (majors[i] == 0 || (i > 0 && majors[i] >= majors[i - 1]))
            return 0;
    return 1;
}

/* Reads count and majors, checking each byte as it arrives. */
static int read_majors(struct parley_rd *r, struct parley_preface *out)
{
    if (rd_u8(r, &out->count) != 0)
        return PARLEY_E_TRUNCATED;
    if (out->count < 1 || out->count > PARLEY_MAX_MAJORS) /* [PRE-3] */
        return PARLEY_E_PREFACE_MALFORMED;
    for (size_t i = 0; i < out->count; i++) {
        if (rd_u8(r, &out->majors[i]) != 0)
            return PARLEY_E_TRUNCATED;
        if (out->majors[i] == 0) /* [PRE-3] */
            return PARLEY_E_PREFACE_MALFORMED;
        if (i > 0 && out->majors[i] >= out->majors[i - 1]) /* [PRE-3] strictly descending */
            return PARLEY_E_PREFACE_MALFORMED;
    }
    return 0;
}

/* Reads magic and kind; `answer` selects which kinds are valid. */
static int read_preface(const uint8_t *buf, size_t len, int answer, struct parley_preface *out)
{
    struct parley_rd r;
    uint8_t b;
    int rc;

    memset(out, 0, sizeof *out);
    rd_init(&r, buf, len);
    for (size_t i = 0; i < PARLEY_MAGIC_LEN; i++) {
        if (rd_u8(&r, &b) != 0)
            return PARLEY_E_TRUNCATED;
        if (b != (uint8_t)PARLEY_MAGIC[i]) /* [PRE-2], [PRE-9]: fail at the first wrong byte */
            return PARLEY_E_PREFACE_BAD_MAGIC;
    }
    if (rd_u8(&r, &out->kind) != 0)
        return PARLEY_E_TRUNCATED;
    switch (out->kind) {
    case PARLEY_PREFACE_HELLO:
        if (answer) /* [PRE-6] */
            return PARLEY_E_PREFACE_MALFORMED;
        rc = read_majors(&r, out);
        break;
    case PARLEY_PREFACE_REFUSE:
        if (!answer) /* [PRE-3] */
            return PARLEY_E_PREFACE_MALFORMED;
        rc = read_majors(&r, out);
        break;
    case PARLEY_PREFACE_ACCEPT:
        if (!answer) /* [PRE-3] */
            return PARLEY_E_PREFACE_MALFORMED;
        /* Any major decodes; whether it was offered is parley_answer_check's question. */
        rc = rd_u8(&r, &out->major) != 0 ? PARLEY_E_TRUNCATED : 0;
        break;
    default: /* [PRE-3], [PRE-6] */
        return PARLEY_E_PREFACE_MALFORMED;
    }
    if (rc != 0)
        return rc;
    return (int)r.pos;
}

int parley_hello_decode(const uint8_t *buf, size_t len, struct parley_preface *out)
{
    return read_preface(buf, len, 0, out);
}

int parley_answer_decode(const uint8_t *buf, size_t len, struct parley_preface *out)
{
    return read_preface(buf, len, 1, out);
}

int parley_answer_check(const struct parley_preface *hello, const struct parley_preface *answer)
{
    switch (answer->kind) {
    case PARLEY_PREFACE_ACCEPT:
        for (size_t i = 0; i < hello->count && i < PARLEY_MAX_MAJORS; i++)
            if (answer->major != 0 && hello->majors[i] == answer->major)
                return answer->major;
        return PARLEY_E_PREFACE_BAD_CHOICE; /* [PRE-6] */
    case PARLEY_PREFACE_REFUSE:
        return PARLEY_E_NO_COMMON_MAJOR; /* [PRE-6] */
    default:
        return PARLEY_E_PREFACE_MALFORMED;
    }
}

int parley_preface_encode(uint8_t *out, size_t outlen, const struct parley_preface *p)
{
    struct parley_wr w;

    wr_init(&w, out, outlen);
    switch (p->kind) {
    case PARLEY_PREFACE_HELLO:
    case PARLEY_PREFACE_REFUSE:
        if (!majors_valid(p->majors, p->count)) /* [PRE-1], [PRE-5] */
            return PARLEY_E_STATE;
        if (wr_bytes(&w, PARLEY_MAGIC, PARLEY_MAGIC_LEN) != 0 || wr_u8(&w, p->kind) != 0 ||
            wr_u8(&w, p->count) != 0 || wr_bytes(&w, p->majors, p->count) != 0)
            return PARLEY_E_NOROOM;
        break;
    case PARLEY_PREFACE_ACCEPT:
        if (p->major == 0)
            return PARLEY_E_STATE;
        if (wr_bytes(&w, PARLEY_MAGIC, PARLEY_MAGIC_LEN) != 0 || wr_u8(&w, p->kind) != 0 ||
            wr_u8(&w, p->major) != 0)
            return PARLEY_E_NOROOM;
        break;
    default:
        return PARLEY_E_STATE;
    }
    return (int)w.len;
}

int parley_preface_negotiate(const uint8_t *ours, size_t count, const uint8_t *buf, size_t len,
                             struct parley_negotiation *n)
{
    struct parley_preface hello, reply;
    int rc;

    memset(n, 0, sizeof *n);
    memset(&reply, 0, sizeof reply);
    if (!majors_valid(ours, count))
        return n->result = PARLEY_E_STATE;
    rc = parley_hello_decode(buf, len, &hello);
    if (rc == PARLEY_E_TRUNCATED || rc == PARLEY_E_PREFACE_BAD_MAGIC)
        return n->result = rc; /* [PRE-7] nothing before a whole HELLO; [PRE-2] nothing at all */

    if (rc >= 0) {
        n->hello_len = (size_t)rc;
        /* ours is descending, so the first of ours the HELLO offers is the highest. */
        for (size_t i = 0; i < count && reply.kind == 0; i++)
            for (size_t j = 0; j < hello.count; j++)
                if (hello.majors[j] == ours[i]) { /* [PRE-4] */
                    reply.kind = PARLEY_PREFACE_ACCEPT;
                    reply.major = ours[i];
                    break;
                }
    }
    if (reply.kind == 0) { /* [PRE-3] malformed or [PRE-5] no common major: REFUSE */
        reply.kind = PARLEY_PREFACE_REFUSE;
        reply.count = (uint8_t)count;
        memcpy(reply.majors, ours, count);
        rc = rc < 0 ? rc : PARLEY_E_NO_COMMON_MAJOR;
    } else {
        rc = reply.major;
    }
    n->answer_len = (size_t)parley_preface_encode(n->answer, sizeof n->answer, &reply);
    return n->result = rc;
}
