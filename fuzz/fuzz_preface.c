/*
 * fuzz_preface.c - attacks the clear-text preface (spec/01-preface.md): the HELLO and
 * answer decoders, parley_answer_check, parley_preface_encode and the responder's
 * negotiation parley_preface_negotiate.
 *
 * Why: these are the only bytes a peer parses before any authentication, from anyone who
 * can open a TCP connection, and the bytes it answers become the Noise prologue ([PRE-8]):
 * a wrong answer is a downgrade. Checks:
 *  - round trip: a decoded preface encodes to exactly the bytes it was decoded from;
 *  - [PRE-9] field by field: over every prefix of the input, once a decoder's verdict is
 *    not TRUNCATED it never changes as more bytes arrive, and BAD_MAGIC comes at the first
 *    byte that differs from "PARLEY";
 *  - differential: the verdicts and the exact answer bytes of the negotiation equal a
 *    model written here from the field table and [PRE-2]..[PRE-6];
 *  - the initiator's verdict on an answer ([PRE-6]) against the same model.
 *
 * Input: byte 0 = how many of our majors (low 4 bits + 1; bit 4: take them raw, possibly
 * invalid), bytes 1..2 a bitmap-seed for our majors, then the preface bytes.
 */
#include "codec.h"
#include "fuzz_common.h"

static const uint8_t magic[6] = {'P', 'A', 'R', 'L', 'E', 'Y'};

/* The model of a responder's HELLO decode (or an initiator's answer decode). Returns the
 * length, TRUNCATED, BAD_MAGIC or PREFACE_MALFORMED; fills kind/count/majors/major. */
static int model_decode(const uint8_t *b, size_t len, int answer, struct parley_preface *p)
{
    size_t i;

    memset(p, 0, sizeof *p);
    for (i = 0; i < 6; i++) {
        if (i >= len)
            return PARLEY_E_TRUNCATED;
        if (b[i] != magic[i])
            return PARLEY_E_PREFACE_BAD_MAGIC;
    }
    if (len < 7)
        return PARLEY_E_TRUNCATED;
    p->kind = b[6];
    if (answer ? (p->kind != 2 && p->kind != 3) : p->kind != 1)
        return PARLEY_E_PREFACE_MALFORMED;
    if (len < 8)
        return PARLEY_E_TRUNCATED;
    if (p->kind == 2) {
        p->major = b[7];
        return 8;
    }
    p->count = b[7];
    if (p->count < 1 || p->count > 16)
        return PARLEY_E_PREFACE_MALFORMED;
    for (i = 0; i < p->count; i++) {
        if (8 + i >= len)
            return PARLEY_E_TRUNCATED;
        p->majors[i] = b[8 + i];
        if (p->majors[i] == 0 || (i > 0 && p->majors[i] >= p->majors[i - 1]))
            return PARLEY_E_PREFACE_MALFORMED;
    }
    return (int)(8 + p->count);
}

static int valid_list(const uint8_t *m, size_t n)
{
    if (n < 1 || n > 16)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] == 0 || (i > 0 && m[i] >= m[i - 1]))
            return 0;
    return 1;
}

static void check_same_preface(const struct parley_preface *a, const struct parley_preface *b)
{
    FUZZ_CHECK(a->kind == b->kind && a->major == b->major && a->count == b->count);
    FUZZ_CHECK(memcmp(a->majors, b->majors, a->count <= 16 ? a->count : 16) == 0);
}

/* Decoder against the model on every prefix; the verdict is stable once reached. */
static void check_decoder(const uint8_t *b, size_t len, int answer)
{
    struct parley_preface p, m;
    int settled = 0, verdict = 0;
    uint8_t out[PARLEY_PREFACE_MAX_LEN];

    for (size_t k = 0; k <= len && k <= PARLEY_PREFACE_MAX_LEN + 2; k++) {
        int rc = answer ? parley_answer_decode(b, k, &p) : parley_hello_decode(b, k, &p);
        int want = model_decode(b, k, answer, &m);
        FUZZ_CHECK(rc == want);
        if (settled)
            FUZZ_CHECK(rc == verdict); /* [PRE-9] */
        else if (rc != PARLEY_E_TRUNCATED)
            settled = 1, verdict = rc;
        if (rc > 0) {
            check_same_preface(&p, &m);
            /* Round trip. ACCEPT of major 0 decodes but cannot be encoded. */
            if (p.kind == PARLEY_PREFACE_ACCEPT && p.major == 0) {
                FUZZ_CHECK(parley_preface_encode(out, sizeof out, &p) == PARLEY_E_STATE);
            } else {
                FUZZ_CHECK(parley_preface_encode(out, sizeof out, &p) == rc);
                FUZZ_CHECK(memcmp(out, b, (size_t)rc) == 0);
                FUZZ_CHECK(parley_preface_encode(out, (size_t)rc - 1, &p) == PARLEY_E_NOROOM);
            }
        }
    }
}

/* The initiator's verdict on an answer to a HELLO offering `offered`. */
static void check_answer_check(const uint8_t *b, size_t len, const uint8_t *offered, size_t n)
{
    struct parley_preface hello, answer;
    int rc, want;

    if (parley_answer_decode(b, len, &answer) < 0)
        return;
    memset(&hello, 0, sizeof hello);
    hello.kind = PARLEY_PREFACE_HELLO;
    hello.count = (uint8_t)n;
    memcpy(hello.majors, offered, n);
    rc = parley_answer_check(&hello, &answer);
    if (answer.kind == PARLEY_PREFACE_REFUSE) {
        want = PARLEY_E_NO_COMMON_MAJOR;
    } else {
        want = PARLEY_E_PREFACE_BAD_CHOICE;
        for (size_t i = 0; i < n; i++)
            if (answer.major != 0 && offered[i] == answer.major)
                want = answer.major;
    }
    FUZZ_CHECK(rc == want);
}

/* The responder's negotiation against the model: verdict and the exact answer. */
static void check_negotiate(const uint8_t *ours, size_t count, const uint8_t *b, size_t len)
{
    struct parley_negotiation n;
    struct parley_preface hello, ans;
    uint8_t want_answer[PARLEY_PREFACE_MAX_LEN];
    size_t want_len = 0;
    int rc = parley_preface_negotiate(ours, count, b, len, &n), want;

    FUZZ_CHECK(rc == n.result);
    if (!valid_list(ours, count)) {
        FUZZ_CHECK(rc == PARLEY_E_STATE && n.answer_len == 0);
        return;
    }
    want = model_decode(b, len, 0, &hello);
    if (want == PARLEY_E_TRUNCATED || want == PARLEY_E_PREFACE_BAD_MAGIC) {
        FUZZ_CHECK(rc == want && n.answer_len == 0); /* [PRE-2], [PRE-7] */
        return;
    }
    if (want > 0) {
        FUZZ_CHECK(n.hello_len == (size_t)want);
        want = PARLEY_E_NO_COMMON_MAJOR; /* [PRE-5] unless one is common */
        for (size_t i = 0; i < count && want < 0; i++)
            for (size_t j = 0; j < hello.count; j++)
                if (ours[i] == hello.majors[j])
                    want = ours[i]; /* [PRE-4] the highest common: ours descend */
    }
    memcpy(want_answer, magic, 6);
    if (want > 0) {
        want_answer[6] = 2, want_answer[7] = (uint8_t)want, want_len = 8;
    } else { /* [PRE-3], [PRE-5] REFUSE listing all of ours */
        want_answer[6] = 3, want_answer[7] = (uint8_t)count;
        memcpy(want_answer + 8, ours, count);
        want_len = 8 + count;
    }
    FUZZ_CHECK(rc == want);
    FUZZ_CHECK(n.answer_len == want_len && memcmp(n.answer, want_answer, want_len) == 0);
    /* The answer is what an initiator decodes. */
    FUZZ_CHECK(parley_answer_decode(n.answer, n.answer_len, &ans) == (int)n.answer_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in;
    uint8_t ours[16];
    size_t count, got;
    const uint8_t *b;
    uint8_t mode;

    fuzz_init();
    fi_init(&in, data, size);
    mode = fi_u8(&in);
    count = (mode & 0x0F) + 1u;
    if (mode & 0x10) { /* raw: maybe not descending, maybe 0 */
        fi_copy(&in, ours, count);
    } else { /* strictly descending from a 16-bit seed, often ending in major 1 */
        uint16_t seed = fi_u16(&in);
        unsigned step = 1 + (seed & 3), top = 64 + (seed >> 8) % 192;
        for (size_t i = 0; i < count; i++)
            ours[i] = (uint8_t)(top - i * step);
        if (seed & 4)
            ours[count - 1] = 1;
        if (!valid_list(ours, count)) /* count 1 with major 1 dropped nothing; else count..1 */
            for (size_t i = 0; i < count; i++)
                ours[i] = (uint8_t)(count - i);
    }
    b = fi_bytes(&in, fi_left(&in), &got);

    check_decoder(b, got, 0);
    check_decoder(b, got, 1);
    check_answer_check(b, got, ours, valid_list(ours, count) ? count : 0);
    check_negotiate(ours, count, b, got);
    return 0;
}
