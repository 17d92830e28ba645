/*
 * fuzz_session_check.h - the invariants of a receive session (spec/04-frames.md §4.3..§4.5)
 * that must hold after every frame, shared by fuzz_session and fuzz_conn.
 *
 *  - reserved bytes are the sum of the totals of the messages in progress and never above
 *    reassembly_budget ([FRAG-4]); each in progress got <= cap <= total <= max_message
 *    ([FRAG-3], [LIMIT-4]);
 *  - a message in progress is unique per (tag, RESPONSE bit), is never at the same time
 *    being discarded, and is a request of theirs still outstanding or a response to a
 *    request of ours;
 *  - the tag sets are strictly ascending (the binary search needs it); the remote never has
 *    more than max_tags requests outstanding ([TAG-7]);
 *  - nothing is held between feeds once released.
 */
#ifndef PARLEY_FUZZ_SESSION_CHECK_H
#define PARLEY_FUZZ_SESSION_CHECK_H

#include "codec.h"
#include "fuzz_common.h"

static inline int fuzz_tagset_has(const struct parley_tagset *t, uint16_t tag)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->tags[i] == tag)
            return 1;
    return 0;
}

static inline void fuzz_check_tagset(const struct parley_tagset *t)
{
    FUZZ_CHECK(t->n <= t->cap);
    for (size_t i = 1; i < t->n; i++)
        FUZZ_CHECK(t->tags[i - 1] < t->tags[i]);
}

static inline void fuzz_check_session(const struct parley_session *s)
{
    uint64_t sum = 0;

    fuzz_check_tagset(&s->ours);
    fuzz_check_tagset(&s->theirs);
    fuzz_check_tagset(&s->discarding[0]);
    fuzz_check_tagset(&s->discarding[1]);
    FUZZ_CHECK(s->theirs.n <= s->limits.max_tags); /* [TAG-7] */
    FUZZ_CHECK(s->n_inflight <= s->cap_inflight);
    for (size_t i = 0; i < s->n_inflight; i++) {
        const struct parley_inflight *in = &s->inflight[i];
        FUZZ_CHECK(in->response <= 1);
        FUZZ_CHECK(in->got <= in->total && in->got <= in->cap && in->cap <= in->total);
        FUZZ_CHECK(in->total <= s->limits.max_message); /* [FRAG-3] */
        FUZZ_CHECK(in->cap == 0 || in->buf != NULL);
        FUZZ_CHECK((in->flags & PARLEY_FLAG_MORE) && !(in->flags & PARLEY_FLAG_ABORT));
        FUZZ_CHECK(in->tag != 0); /* [TAG-3] */
        FUZZ_CHECK(!fuzz_tagset_has(&s->discarding[in->response], in->tag));
        if (in->response)
            FUZZ_CHECK(fuzz_tagset_has(&s->ours, in->tag)); /* [TAG-6] only ours start */
        else
            FUZZ_CHECK(fuzz_tagset_has(&s->theirs, in->tag)); /* outstanding from frame 1 */
        for (size_t j = i + 1; j < s->n_inflight; j++)
            FUZZ_CHECK(s->inflight[j].tag != in->tag || s->inflight[j].response != in->response);
        sum += in->total;
    }
    FUZZ_CHECK(s->reserved == sum);
    FUZZ_CHECK(s->reserved <= s->limits.reassembly_budget); /* [FRAG-4] */
}

#endif
