/*
 * test_session.c - hand-written tests of the receive state machine (spec/04-frames.md
 * §4.5) beyond session.json: the API around it (expect / answered), memory held while
 * idle, large reassembly, reservations released, compression switched on by an ACK, and
 * the fate of our request when its response is invalid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "codec.h"

static const struct parley_limits limits = {256, PARLEY_MIN_MAX_MESSAGE, 2 * PARLEY_MIN_MAX_MESSAGE};

static uint8_t frame_buf[PARLEY_FRAME_HEADER_LEN + PARLEY_FRAME_MAX_PAYLOAD + 16];

/* Feeds one frame built from its fields; the event may point into frame_buf. */
static int feed(struct parley_session *s, struct parley_event *ev, uint8_t opcode, uint8_t flags,
                uint16_t tag, const void *payload, size_t len)
{
    struct parley_frame_header h = {opcode, flags, tag, (uint32_t)len};
    int n = parley_frame_encode(frame_buf, sizeof frame_buf, &h, payload);
    assert_true(n > 0);
    return parley_session_feed(s, frame_buf, (size_t)n, ev);
}

/* A first fragment: total, then data. */
static int feed_first(struct parley_session *s, struct parley_event *ev, uint8_t opcode,
                      uint8_t flags, uint16_t tag, uint32_t total, const uint8_t *data, size_t n)
{
    uint8_t payload[PARLEY_FRAME_MAX_PAYLOAD];
    struct parley_wr w;

    wr_init(&w, payload, sizeof payload);
    assert_int_equal(wr_u32(&w, total), 0);
    assert_int_equal(wr_bytes(&w, data, n), 0);
    return feed(s, ev, opcode, flags | PARLEY_FLAG_MORE, tag, payload, w.len);
}

/* [LIMIT-4] an idle session holds no allocation, and a small struct */
static void test_idle_session_allocates_nothing(void **state)
{
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    assert_true(sizeof s <= 192); /* no buffer inside: everything else is allocated on need */
    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 0, "hi", 2), PARLEY_EV_MESSAGE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_ABORT, 3, NULL, 0),
                     PARLEY_EV_IGNORED);
    assert_null(s.inflight);
    assert_null(s.ours.tags);
    assert_null(s.theirs.tags);
    assert_null(s.held);
    parley_session_free(&s);
}

/* [TAG-1], [TAG-2], [TAG-5] */
static void test_expect_and_answered(void **state)
{
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(parley_session_expect(&s, 0), PARLEY_E_STATE);
    assert_int_equal(parley_session_expect(&s, 5), 0);
    assert_int_equal(parley_session_expect(&s, 5), PARLEY_E_STATE); /* [TAG-1] */
    assert_int_equal(parley_session_answered(&s, 7), PARLEY_E_STATE);
    assert_int_equal(parley_session_answered(&s, 0), PARLEY_E_STATE);

    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 7, "a", 1), PARLEY_EV_MESSAGE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 7, "b", 1), PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_TAG_IN_USE); /* [TAG-5] */
    assert_int_equal(parley_session_answered(&s, 7), 0);
    assert_int_equal(parley_session_answered(&s, 7), PARLEY_E_STATE); /* [TAG-2] once */
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 7, "c", 1), PARLEY_EV_MESSAGE);
    assert_ptr_equal(ev.msg.data, frame_buf + 8); /* a single frame is not copied */
    parley_session_free(&s);
}

/* [TAG-7] the tag set stays exact when tags arrive and leave in scattered order */
static void test_many_tags(void **state)
{
    struct parley_limits l = limits;
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    l.max_tags = 1000;
    parley_session_init(&s, &l, PARLEY_SETTING_NONE, 0);
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, (uint16_t)(i * 7919 % 65535 + 1), NULL, 0),
                         PARLEY_EV_MESSAGE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, (uint16_t)(1000 * 7919 % 65535 + 1), NULL, 0),
                     PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_TOO_MANY_TAGS);
    for (uint32_t i = 0; i < 1000; i += 2)
        assert_int_equal(parley_session_answered(&s, (uint16_t)(i * 7919 % 65535 + 1)), 0);
    for (uint32_t i = 0; i < 1000; i++) {
        feed(&s, &ev, PARLEY_OP_PING, 0, (uint16_t)(i * 7919 % 65535 + 1), NULL, 0);
        assert_int_equal(ev.kind, i % 2 ? PARLEY_EV_NACK : PARLEY_EV_MESSAGE);
    }
    parley_session_free(&s);
}

/* [FRAME-1], [REC-5] feed takes exactly one whole frame; anything else closes, for good */
static void test_bad_frame_closes(void **state)
{
    static const uint8_t ping[] = {2, 0, 0, 1, 0, 0, 0, 2, 'h', 'i', 0};
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    for (size_t bad = 0; bad < 3; bad++) {
        size_t len = bad == 0 ? 7 : bad == 1 ? 9 : sizeof ping; /* short, cut, trailing */
        parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
        assert_int_equal(parley_session_feed(&s, ping, len, &ev), PARLEY_EV_CLOSE);
        assert_int_equal(ev.err, PARLEY_E_FRAME_OVERRUN);
        assert_int_equal(parley_session_feed(&s, ping, 10, &ev), PARLEY_EV_CLOSE);
        parley_session_free(&s);
    }
}

/* [FRAG-1], [FRAG-8], [FRAG-9] a 100000-byte response in 7 fragments, PINGs between them */
static void test_large_response(void **state)
{
    enum { TOTAL = 100000 };
    uint8_t *body = malloc(TOTAL);
    struct parley_session s;
    struct parley_event ev;
    size_t sent;
    (void)state;

    assert_non_null(body);
    body[0] = PARLEY_OP_SHOUT; /* an ACK to a draft opcode carries opaque data */
    for (size_t i = 1; i < TOTAL; i++)
        body[i] = (uint8_t)(i * 31);
    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(parley_session_expect(&s, 3), 0);
    sent = PARLEY_FRAME_MAX_PAYLOAD - 4;
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 3, TOTAL, body, sent),
                     PARLEY_EV_PARTIAL);
    assert_int_equal(s.reserved, TOTAL);
    while (sent < TOTAL) {
        size_t n = TOTAL - sent < PARLEY_FRAME_MAX_PAYLOAD ? TOTAL - sent : PARLEY_FRAME_MAX_PAYLOAD;
        uint8_t flags = PARLEY_FLAG_RESPONSE | (sent + n < TOTAL ? PARLEY_FLAG_MORE : 0);
        assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 0, "x", 1), PARLEY_EV_MESSAGE);
        feed(&s, &ev, PARLEY_OP_ACK, flags, 3, body + sent, n);
        sent += n;
        assert_int_equal(ev.kind, sent < TOTAL ? PARLEY_EV_PARTIAL : PARLEY_EV_RESPONSE);
    }
    assert_int_equal(ev.msg.req_opcode, PARLEY_OP_SHOUT);
    assert_int_equal(ev.msg.data_len, TOTAL - 1);
    assert_memory_equal(ev.msg.data, body + 1, TOTAL - 1);
    assert_int_equal(s.reserved, 0); /* [FRAG-8] released when processed */
    assert_int_equal(s.n_inflight, 0);
    assert_int_equal(parley_session_expect(&s, 3), 0); /* the tag was freed */
    parley_session_free(&s);
    free(body);
}

/* [FRAG-4], [FRAG-8] reservations are released on ABORT, on error and on completion */
static void test_reservations_released(void **state)
{
    struct parley_limits l = {256, PARLEY_MIN_MAX_MESSAGE, PARLEY_MIN_MAX_MESSAGE};
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    parley_session_init(&s, &l, PARLEY_SETTING_NONE, 0);
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_PING, 0, 1, l.reassembly_budget, NULL, 0),
                     PARLEY_EV_PARTIAL);
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_PING, 0, 2, 1, NULL, 0), PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_BUDGET_EXCEEDED);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_ABORT, 1, NULL, 0),
                     PARLEY_EV_IGNORED);
    assert_int_equal(s.reserved, 0);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 2, "z", 1), PARLEY_EV_IGNORED); /* discarded */

    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_PING, 0, 1, 10, (const uint8_t *)"abc", 3),
                     PARLEY_EV_PARTIAL);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 1, "de", 2), PARLEY_EV_NACK); /* short */
    assert_int_equal(ev.err, PARLEY_E_LENGTH_MISMATCH);
    assert_int_equal(s.reserved, 0);
    assert_int_equal(s.n_inflight, 0);

    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_PING, 0, 4, 3, (const uint8_t *)"abc", 3),
                     PARLEY_EV_PARTIAL);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 4, NULL, 0), PARLEY_EV_MESSAGE);
    assert_int_equal(s.reserved, 0);
    assert_memory_equal(ev.msg.data, "abc", 3);
    parley_session_free(&s);
}

/* [OPT-3], [OPT-2] an acknowledged zlib COMPRESSION option puts it in force; a preference does not */
static void test_compression_switched_on_by_ack(void **state)
{
    static const uint8_t pref[] = {PARLEY_OP_SET_CONNECTION_OPT, 1, PARLEY_SETTING_ZLIB};
    static const uint8_t comp[] = {PARLEY_OP_SET_CONNECTION_OPT, 0, PARLEY_SETTING_ZLIB};
    uint8_t z[64];
    uLongf zn = sizeof z;
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    assert_int_equal(compress2(z, &zn, (const Bytef *)"hello", 5, Z_DEFAULT_COMPRESSION), Z_OK);
    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(parley_session_expect(&s, 1), 0);
    assert_int_equal(parley_session_expect(&s, 2), 0);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 1, pref, 3),
                     PARLEY_EV_RESPONSE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 9, z, zn),
                     PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_BAD_FLAGS); /* [FRAME-6] */
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 2, comp, 3),
                     PARLEY_EV_RESPONSE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 9, z, zn),
                     PARLEY_EV_MESSAGE);
    assert_int_equal(ev.msg.data_len, 5);
    assert_memory_equal(ev.msg.data, "hello", 5);
    parley_session_set_compression(&s, PARLEY_SETTING_NONE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 10, z, zn),
                     PARLEY_EV_NACK);
    parley_session_free(&s);
}

/* [TAG-6] an invalid response is dropped and our request completes as failed; a response
 * frame failing the header checks touches nothing (§4.5 rule 2) */
static void test_invalid_response_fails_request(void **state)
{
    static const uint8_t ack_bye[] = {PARLEY_OP_BYE}, ack_bad[] = {PARLEY_OP_BYE, 0};
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(parley_session_expect(&s, 2), 0);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE | 0x10, 2, ack_bye, 1),
                     PARLEY_EV_IGNORED);
    assert_int_equal(ev.err, PARLEY_E_BAD_FLAGS);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 2, ack_bad, 2),
                     PARLEY_EV_IGNORED); /* still ours, but a bad body: the request failed */
    assert_int_equal(ev.err, PARLEY_E_MALFORMED);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 2, ack_bye, 1),
                     PARLEY_EV_IGNORED);
    assert_int_equal(ev.err, 0); /* no longer ours */

    assert_int_equal(parley_session_expect(&s, 4), 0);
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 4, 1, NULL, 0),
                     PARLEY_EV_PARTIAL);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE | 0x80, 4, NULL, 0),
                     PARLEY_EV_IGNORED);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 4, ack_bye, 1),
                     PARLEY_EV_RESPONSE);

    /* [FRAG-3] a response too large for us: dropped to its end, the request failed */
    assert_int_equal(parley_session_expect(&s, 5), 0);
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 5,
                                limits.max_message + 1, NULL, 0),
                     PARLEY_EV_IGNORED);
    assert_int_equal(ev.err, PARLEY_E_MESSAGE_TOO_LARGE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 5, "x", 1),
                     PARLEY_EV_IGNORED);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 5, ack_bye, 1),
                     PARLEY_EV_IGNORED);
    assert_int_equal(parley_session_expect(&s, 5), 0);
    parley_session_free(&s);
}

/* [FRAME-9] §4.5 rule 1 comes before the header checks: a frame of a discarded message is
 * dropped unread whatever its header; rule 2 discards the rest of a bad first frame, of a
 * response too, and the response touches nothing else ([TAG-6]) */
static void test_discarding_precedes_header_checks(void **state)
{
    static const uint8_t ack_bye[] = {PARLEY_OP_BYE};
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(feed_first(&s, &ev, 99, 0, 3, 8, NULL, 0), PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_UNKNOWN_OPCODE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_MORE | 0x40, 3, "ab", 2),
                     PARLEY_EV_IGNORED); /* reserved bit, but discarded: no NACK */
    assert_int_equal(feed(&s, &ev, 200, 0, 3, "cd", 2), PARLEY_EV_IGNORED); /* ends it */
    assert_int_equal(feed(&s, &ev, 200, 0, 3, "cd", 2), PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_UNKNOWN_OPCODE);

    assert_int_equal(parley_session_expect(&s, 4), 0);
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE | 0x20, 4, 1,
                                ack_bye, 1),
                     PARLEY_EV_IGNORED);
    assert_int_equal(ev.err, PARLEY_E_BAD_FLAGS);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 4, NULL, 0),
                     PARLEY_EV_IGNORED); /* its last fragment, discarded */
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 4, ack_bye, 1),
                     PARLEY_EV_RESPONSE); /* our request was still outstanding */
    parley_session_free(&s);
}

/* [FRAG-3], [OPT-6] a compressed fragmented request: total counts compressed bytes, and
 * the inflated size is still capped at max_message */
static void test_compressed_fragments_capped(void **state)
{
    struct parley_limits l = {256, PARLEY_MIN_MAX_MESSAGE, 2 * PARLEY_MIN_MAX_MESSAGE};
    uint8_t *zeros = calloc(PARLEY_MIN_MAX_MESSAGE + 1, 1), z[4096];
    uLongf zn = sizeof z;
    struct parley_session s;
    struct parley_event ev;
    (void)state;

    assert_non_null(zeros);
    assert_int_equal(compress2(z, &zn, zeros, PARLEY_MIN_MAX_MESSAGE + 1, 9), Z_OK);
    parley_session_init(&s, &l, PARLEY_SETTING_ZLIB, 0);
    assert_int_equal(feed_first(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 6, (uint32_t)zn,
                                z, 10),
                     PARLEY_EV_PARTIAL);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 6, z + 10, zn - 10),
                     PARLEY_EV_NACK);
    assert_int_equal(ev.err, PARLEY_E_MESSAGE_TOO_LARGE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 6, NULL, 0), PARLEY_EV_MESSAGE);
    parley_session_free(&s);
    free(zeros);
}

/* [LIMIT-2] a sender respects the remote's limits: no more than its max_tags requests
 * outstanding, no message above its max_message; the floors apply until it advertised. */
static void test_sender_respects_remote_limits(void **state)
{
    struct parley_session s;
    struct parley_limits remote = {300, 2 * PARLEY_MIN_MAX_MESSAGE, 2 * PARLEY_MIN_MAX_MESSAGE};
    (void)state;

    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    for (unsigned tag = 1; tag <= PARLEY_MIN_MAX_TAGS; tag++)
        assert_int_equal(parley_session_expect(&s, (uint16_t)tag), 0);
    assert_int_equal(parley_session_expect(&s, 1000), PARLEY_E_TOO_MANY_TAGS);
    assert_int_equal(parley_session_check_send(&s, PARLEY_MIN_MAX_MESSAGE), 0);
    assert_int_equal(parley_session_check_send(&s, PARLEY_MIN_MAX_MESSAGE + 1),
                     PARLEY_E_MESSAGE_TOO_LARGE);

    parley_session_set_remote_limits(&s, &remote);
    assert_int_equal(parley_session_expect(&s, 1000), 0);
    assert_int_equal(parley_session_check_send(&s, 2 * PARLEY_MIN_MAX_MESSAGE), 0);
    assert_int_equal(parley_session_check_send(&s, 2 * PARLEY_MIN_MAX_MESSAGE + 1),
                     PARLEY_E_MESSAGE_TOO_LARGE);
    parley_session_free(&s);
}

/* [BYE-3] after sending BYE no new request starts; answers are still received. */
static void test_no_request_after_bye(void **state)
{
    struct parley_session s;
    struct parley_event ev;
    static const uint8_t ack[] = {PARLEY_OP_BYE};
    (void)state;

    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(parley_session_expect(&s, 7), 0);
    parley_session_bye_sent(&s);
    assert_int_equal(parley_session_expect(&s, 8), PARLEY_E_STATE);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_ACK, PARLEY_FLAG_RESPONSE, 7, ack, sizeof ack),
                     PARLEY_EV_RESPONSE);
    parley_session_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_session_allocates_nothing),
        cmocka_unit_test(test_expect_and_answered),
        cmocka_unit_test(test_many_tags),
        cmocka_unit_test(test_bad_frame_closes),
        cmocka_unit_test(test_large_response),
        cmocka_unit_test(test_reservations_released),
        cmocka_unit_test(test_compression_switched_on_by_ack),
        cmocka_unit_test(test_invalid_response_fails_request),
        cmocka_unit_test(test_discarding_precedes_header_checks),
        cmocka_unit_test(test_compressed_fragments_capped),
        cmocka_unit_test(test_sender_respects_remote_limits),
        cmocka_unit_test(test_no_request_after_bye),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
