/*
 * test_preface.c - hand-written tests of spec/01-preface.md beyond the vectors: a preface
 * fed one byte at a time, failure at the first bad byte, encoders out of room, API misuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static const uint8_t hello_531[] = {'P', 'A', 'R', 'L', 'E', 'Y', 1, 3, 5, 3, 1};

/* [PRE-9] a growing buffer is TRUNCATED until the HELLO is whole; bytes after it are not read */
static void test_hello_byte_at_a_time(void **state)
{
    struct parley_preface p;
    uint8_t buf[sizeof hello_531 + 3];
    (void)state;

    memcpy(buf, hello_531, sizeof hello_531);
    memset(buf + sizeof hello_531, 0xee, 3);
    for (size_t n = 0; n < sizeof hello_531; n++)
        assert_int_equal(parley_hello_decode(buf, n, &p), PARLEY_E_TRUNCATED);
    for (size_t n = sizeof hello_531; n <= sizeof buf; n++)
        assert_int_equal(parley_hello_decode(buf, n, &p), (int)sizeof hello_531);
    assert_int_equal(p.kind, PARLEY_PREFACE_HELLO);
    assert_int_equal(p.count, 3);
    assert_memory_equal(p.majors, "\x05\x03\x01", 3);
}

/* [PRE-9] each bad byte fails as soon as it arrives, never later, never TRUNCATED after it */
static void test_hello_fails_at_first_bad_byte(void **state)
{
    static const struct {
        uint8_t bytes[12];
        size_t bad; /* index of the first byte that cannot be valid */
        int err;
    } cases[] = {
        {{'X'}, 0, PARLEY_E_PREFACE_BAD_MAGIC},                                /* [PRE-2] */
        {{'P', 'A', 'R', 'L', 'E', 'Z'}, 5, PARLEY_E_PREFACE_BAD_MAGIC},       /* [PRE-2] */
        {{'P', 'A', 'R', 'L', 'E', 'Y', 2}, 6, PARLEY_E_PREFACE_MALFORMED},    /* [PRE-3] kind */
        {{'P', 'A', 'R', 'L', 'E', 'Y', 1, 0}, 7, PARLEY_E_PREFACE_MALFORMED}, /* [PRE-3] count */
        {{'P', 'A', 'R', 'L', 'E', 'Y', 1, 17}, 7, PARLEY_E_PREFACE_MALFORMED},
        {{'P', 'A', 'R', 'L', 'E', 'Y', 1, 4, 9, 0}, 9, PARLEY_E_PREFACE_MALFORMED},
        {{'P', 'A', 'R', 'L', 'E', 'Y', 1, 4, 9, 7, 7}, 10, PARLEY_E_PREFACE_MALFORMED},
    };
    struct parley_preface p;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t n = 0; n <= cases[i].bad; n++)
            assert_int_equal(parley_hello_decode(cases[i].bytes, n, &p), PARLEY_E_TRUNCATED);
        assert_int_equal(parley_hello_decode(cases[i].bytes, cases[i].bad + 1, &p), cases[i].err);
        assert_int_equal(parley_hello_decode(cases[i].bytes, sizeof cases[i].bytes, &p),
                         cases[i].err);
    }
}

/* [PRE-9], [PRE-6] the initiator's decoder too waits, then fails at the first bad byte */
static void test_answer_byte_at_a_time(void **state)
{
    static const uint8_t accept[] = {'P', 'A', 'R', 'L', 'E', 'Y', 2, 1};
    static const uint8_t refuse[] = {'P', 'A', 'R', 'L', 'E', 'Y', 3, 2, 4, 3};
    static const uint8_t refuse_bad[] = {'P', 'A', 'R', 'L', 'E', 'Y', 3, 2, 4, 4};
    struct parley_preface p;
    (void)state;

    for (size_t n = 0; n < sizeof accept; n++)
        assert_int_equal(parley_answer_decode(accept, n, &p), PARLEY_E_TRUNCATED);
    assert_int_equal(parley_answer_decode(accept, sizeof accept, &p), (int)sizeof accept);
    for (size_t n = 0; n < sizeof refuse; n++)
        assert_int_equal(parley_answer_decode(refuse, n, &p), PARLEY_E_TRUNCATED);
    assert_int_equal(parley_answer_decode(refuse, sizeof refuse, &p), (int)sizeof refuse);
    assert_int_equal(parley_answer_decode(refuse_bad, sizeof refuse_bad - 1, &p),
                     PARLEY_E_TRUNCATED);
    assert_int_equal(parley_answer_decode(refuse_bad, sizeof refuse_bad, &p),
                     PARLEY_E_PREFACE_MALFORMED);
    assert_int_equal(parley_answer_decode(hello_531, 7, &p), PARLEY_E_PREFACE_MALFORMED);
}

/* [PRE-6] */
static void test_answer_check(void **state)
{
    struct parley_preface hello = {.kind = PARLEY_PREFACE_HELLO, .count = 2, .majors = {4, 2}};
    struct parley_preface ans = {.kind = PARLEY_PREFACE_ACCEPT, .major = 2};
    (void)state;

    assert_int_equal(parley_answer_check(&hello, &ans), 2);
    ans.major = 3;
    assert_int_equal(parley_answer_check(&hello, &ans), PARLEY_E_PREFACE_BAD_CHOICE);
    ans.major = 0;
    assert_int_equal(parley_answer_check(&hello, &ans), PARLEY_E_PREFACE_BAD_CHOICE);
    ans.kind = PARLEY_PREFACE_REFUSE;
    assert_int_equal(parley_answer_check(&hello, &ans), PARLEY_E_NO_COMMON_MAJOR);
}

/* [PRE-7] nothing is sent before a whole HELLO; [PRE-2] nothing at all for a bad magic */
static void test_negotiate_sends_nothing_early(void **state)
{
    static const uint8_t ours[] = {3, 1};
    struct parley_negotiation n;
    (void)state;

    for (size_t len = 0; len < sizeof hello_531; len++) {
        assert_int_equal(parley_preface_negotiate(ours, 2, hello_531, len, &n),
                         PARLEY_E_TRUNCATED);
        assert_int_equal(n.answer_len, 0);
    }
    assert_int_equal(parley_preface_negotiate(ours, 2, (const uint8_t *)"Q", 1, &n),
                     PARLEY_E_PREFACE_BAD_MAGIC);
    assert_int_equal(n.answer_len, 0);
}

/* [PRE-4], [PRE-8] the HELLO's exact length is known, for the prologue */
static void test_negotiate_accepts_highest(void **state)
{
    static const uint8_t ours[] = {3, 1};
    static const uint8_t accept3[] = {'P', 'A', 'R', 'L', 'E', 'Y', 2, 3};
    uint8_t buf[sizeof hello_531 + 2];
    struct parley_negotiation n;
    (void)state;

    memcpy(buf, hello_531, sizeof hello_531);
    buf[sizeof hello_531] = buf[sizeof hello_531 + 1] = 0;
    assert_int_equal(parley_preface_negotiate(ours, 2, buf, sizeof buf, &n), 3);
    assert_int_equal(n.result, 3);
    assert_int_equal(n.hello_len, sizeof hello_531);
    assert_int_equal(n.answer_len, sizeof accept3);
    assert_memory_equal(n.answer, accept3, sizeof accept3);
}

/* [PRE-5] REFUSE lists every major of ours */
static void test_negotiate_refuses(void **state)
{
    static const uint8_t ours[] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 4, 2};
    struct parley_negotiation n;
    (void)state;

    assert_int_equal(parley_preface_negotiate(ours, sizeof ours, hello_531, sizeof hello_531, &n),
                     PARLEY_E_NO_COMMON_MAJOR);
    assert_int_equal(n.answer_len, 8 + sizeof ours);
    assert_int_equal(n.answer[6], PARLEY_PREFACE_REFUSE);
    assert_int_equal(n.answer[7], sizeof ours);
    assert_memory_equal(n.answer + 8, ours, sizeof ours);
}

static void test_negotiate_rejects_bad_majors_of_ours(void **state)
{
    static const uint8_t ascending[] = {1, 3}, zero[] = {2, 0};
    static const uint8_t many[17] = {17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    struct parley_negotiation n;
    (void)state;

    assert_int_equal(parley_preface_negotiate(ascending, 2, hello_531, sizeof hello_531, &n),
                     PARLEY_E_STATE);
    assert_int_equal(parley_preface_negotiate(zero, 2, hello_531, sizeof hello_531, &n),
                     PARLEY_E_STATE);
    assert_int_equal(parley_preface_negotiate(many, 17, hello_531, sizeof hello_531, &n),
                     PARLEY_E_STATE);
    assert_int_equal(parley_preface_negotiate(many, 0, hello_531, sizeof hello_531, &n),
                     PARLEY_E_STATE);
    assert_int_equal(n.answer_len, 0);
}

/* [PRE-1] the encoder writes only valid prefaces, and never past outlen */
static void test_preface_encode(void **state)
{
    struct parley_preface hello = {.kind = PARLEY_PREFACE_HELLO, .count = 3, .majors = {5, 3, 1}};
    struct parley_preface accept = {.kind = PARLEY_PREFACE_ACCEPT, .major = 7};
    struct parley_preface bad;
    uint8_t out[PARLEY_PREFACE_MAX_LEN];
    (void)state;

    for (size_t n = 0; n < sizeof hello_531; n++)
        assert_int_equal(parley_preface_encode(out, n, &hello), PARLEY_E_NOROOM);
    assert_int_equal(parley_preface_encode(out, sizeof out, &hello), (int)sizeof hello_531);
    assert_memory_equal(out, hello_531, sizeof hello_531);
    for (size_t n = 0; n < 8; n++)
        assert_int_equal(parley_preface_encode(out, n, &accept), PARLEY_E_NOROOM);
    assert_int_equal(parley_preface_encode(out, 8, &accept), 8);

    bad = hello;
    bad.count = 0;
    assert_int_equal(parley_preface_encode(out, sizeof out, &bad), PARLEY_E_STATE);
    bad.count = 17;
    assert_int_equal(parley_preface_encode(out, sizeof out, &bad), PARLEY_E_STATE);
    bad = hello;
    bad.majors[2] = 3;
    assert_int_equal(parley_preface_encode(out, sizeof out, &bad), PARLEY_E_STATE);
    bad = accept;
    bad.major = 0;
    assert_int_equal(parley_preface_encode(out, sizeof out, &bad), PARLEY_E_STATE);
    bad.kind = 4;
    assert_int_equal(parley_preface_encode(out, sizeof out, &bad), PARLEY_E_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_byte_at_a_time),
        cmocka_unit_test(test_hello_fails_at_first_bad_byte),
        cmocka_unit_test(test_answer_byte_at_a_time),
        cmocka_unit_test(test_answer_check),
        cmocka_unit_test(test_negotiate_sends_nothing_early),
        cmocka_unit_test(test_negotiate_accepts_highest),
        cmocka_unit_test(test_negotiate_refuses),
        cmocka_unit_test(test_negotiate_rejects_bad_majors_of_ours),
        cmocka_unit_test(test_preface_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
