/*
 * test_message.c - hand-written tests of spec/05-messages.md beyond the vectors: the UTF-8
 * boundaries, encoders out of room and refusing what could not be decoded, list building
 * and reading, the admin rules, and decoding without copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* [CONV-1] */
static void test_utf8_boundaries(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"", 0, 1},
        {"\x00", 1, 1},                  /* U+0000 */
        {"\x7f", 1, 1},                  /* U+007F */
        {"\xc2\x80", 2, 1},              /* U+0080 */
        {"\xdf\xbf", 2, 1},              /* U+07FF */
        {"\xe0\xa0\x80", 3, 1},          /* U+0800 */
        {"\xed\x9f\xbf", 3, 1},          /* U+D7FF */
        {"\xee\x80\x80", 3, 1},          /* U+E000 */
        {"\xef\xbf\xbf", 3, 1},          /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 1},      /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 1},      /* U+10FFFF */
        {"\x80", 1, 0},                  /* lone continuation */
        {"\xbf", 1, 0},
        {"\xc0\x80", 2, 0},              /* overlong U+0000 */
        {"\xc1\xbf", 2, 0},              /* overlong U+007F */
        {"\xe0\x9f\xbf", 3, 0},          /* overlong U+07FF */
        {"\xed\xa0\x80", 3, 0},          /* U+D800 */
        {"\xed\xbf\xbf", 3, 0},          /* U+DFFF */
        {"\xf0\x8f\xbf\xbf", 4, 0},      /* overlong U+FFFF */
        {"\xf4\x90\x80\x80", 4, 0},      /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xf8\x88\x80\x80\x80", 5, 0},  /* 5-byte form */
        {"\xfe", 1, 0},
        {"\xff", 1, 0},
        {"\xc2", 1, 0},                  /* truncated at the end */
        {"\xe2\x82", 2, 0},
        {"\xf0\x9f\x98", 3, 0},
        {"\xe2\x28\xa1", 3, 0},          /* bad second byte */
        {"\xf0\x9f\x28\x80", 4, 0},      /* bad third byte */
        {"\xf0\x9f\x98\xc0", 4, 0},      /* bad fourth byte */
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(parley_utf8_check((const uint8_t *)cases[i].s, cases[i].n),
                         cases[i].ok ? 0 : PARLEY_E_BAD_UTF8);
}

/* Encodes m, checks every shorter buffer says NOROOM, and decodes the bytes back. */
static size_t encode_all_ways(const struct parley_msg *m, uint8_t *out, size_t cap)
{
    struct parley_msg back;
    int n = parley_msg_encode(out, cap, m);

    assert_true(n >= 0);
    for (size_t short_len = 0; short_len < (size_t)n; short_len++)
        assert_int_equal(parley_msg_encode(out, short_len, m), PARLEY_E_NOROOM);
    assert_int_equal(parley_msg_decode(m->opcode, out, (size_t)n, &back), 0);
    assert_int_equal(back.opcode, m->opcode);
    assert_int_equal(back.req_opcode, m->req_opcode);
    assert_int_equal(back.data_len, m->data_len);
    assert_int_equal(back.text_len, m->text_len);
    assert_int_equal(back.code, m->code);
    assert_int_equal(back.reason, m->reason);
    assert_int_equal(back.option, m->option);
    assert_int_equal(back.setting, m->setting);
    assert_int_equal(back.list.count, m->list.count);
    return (size_t)n;
}

/* [PING-1], [NACK-1], [BYE-1], [OPT-1], [ACK-1] encoders round-trip and never overrun */
static void test_encoders_round_trip(void **state)
{
    uint8_t out[2048];
    struct parley_msg m;
    (void)state;

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_PING;
    m.data = (const uint8_t *)"12345678";
    m.data_len = 8;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 8);
    m.opcode = PARLEY_OP_ACK;
    m.req_opcode = PARLEY_OP_PING;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 9);

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_NACK;
    m.req_opcode = 200;
    m.code = PARLEY_WIRE_UNKNOWN_OPCODE;
    m.text = (const uint8_t *)"unknown opcode 200";
    m.text_len = 18;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 5 + 18);

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_BYE;
    m.reason = 2;
    m.text = (const uint8_t *)"idle";
    m.text_len = 4;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 8);

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_SET_CONNECTION_OPT;
    m.setting = PARLEY_SETTING_ZLIB;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 2);
    m.opcode = PARLEY_OP_ACK;
    m.req_opcode = PARLEY_OP_SET_CONNECTION_OPT;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 3);

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_ACK;
    m.req_opcode = PARLEY_OP_SHUTDOWN;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 1);
    m.opcode = PARLEY_OP_STATS;
    m.req_opcode = 0;
    assert_int_equal(encode_all_ways(&m, out, sizeof out), 0);
}

/* [NACK-1], [PING-2], [BYE-2], [ACK-2] an encoder refuses what no receiver would accept */
static void test_encoders_refuse_invalid(void **state)
{
    static uint8_t big[PARLEY_TEXT_MAX + 1];
    uint8_t out[2048];
    struct parley_msg m;
    (void)state;

    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_PING;
    m.data = big;
    m.data_len = PARLEY_PING_MAX + 1;
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), PARLEY_E_STATE);
    m.opcode = PARLEY_OP_BYE;
    m.text = big;
    m.text_len = PARLEY_TEXT_MAX + 1;
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), PARLEY_E_STATE);
    m.opcode = PARLEY_OP_NACK;
    m.req_opcode = PARLEY_OP_PING;
    m.code = 1;
    m.text_len = 0;
    assert_true(parley_msg_encode(out, sizeof out, &m) > 0);
    m.code = 0;
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), PARLEY_E_STATE);
    m.code = PARLEY_WIRE_BAD_FLAGS;
    m.req_opcode = PARLEY_OP_ACK; /* [FRAME-5] a request frame that carried ACK */
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), 5);
    m.opcode = PARLEY_OP_ACK;
    m.req_opcode = PARLEY_OP_NACK;
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), PARLEY_E_STATE);
    m.req_opcode = 18;
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), PARLEY_E_STATE);
    m.opcode = 18;
    assert_int_equal(parley_msg_encode(out, sizeof out, &m), PARLEY_E_STATE);
}

/* [ADMIN-3], [ADMIN-6] lists are built entry by entry and read back through the accessors */
static void test_peers_and_stats_lists(void **state)
{
    static const uint8_t id[32] = {1, 2, 3}, v4[4] = {192, 0, 2, 1};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    struct parley_peer peers[2] = {{id, 4, v4, 4, 7000, PARLEY_PEER_OUTBOUND},
                                   {id, 6, v6, 16, 0, 0}};
    struct parley_peer p, bad;
    uint8_t entries[128], out[256];
    size_t len = 0;
    struct parley_msg m, back;
    struct parley_rd it;
    uint16_t sid;
    uint64_t value;
    int n;
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        for (size_t cap = 0; cap < 33; cap++)
            assert_int_equal(parley_peer_encode(entries + len, cap, &peers[i]), PARLEY_E_NOROOM);
        n = parley_peer_encode(entries + len, sizeof entries - len, &peers[i]);
        assert_int_equal(n, 36 + (int)peers[i].address_len);
        len += (size_t)n;
    }
    memset(&m, 0, sizeof m);
    m.opcode = PARLEY_OP_ACK;
    m.req_opcode = PARLEY_OP_PEERS;
    m.list = (struct parley_list){2, entries, len};
    n = parley_msg_encode(out, sizeof out, &m);
    assert_int_equal(n, 3 + (int)len);
    assert_int_equal(parley_msg_decode(PARLEY_OP_ACK, out, (size_t)n, &back), 0);
    rd_init(&it, back.list.bytes, back.list.len);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(parley_peers_next(&it, &p), 1);
        assert_int_equal(p.family, peers[i].family);
        assert_memory_equal(p.address, peers[i].address, p.address_len);
        assert_int_equal(p.port, peers[i].port);
        assert_int_equal(p.flags, peers[i].flags);
    }
    assert_int_equal(parley_peers_next(&it, &p), 0);

    bad = peers[0];
    bad.family = 5;
    assert_int_equal(parley_peer_encode(entries, sizeof entries, &bad), PARLEY_E_STATE);
    bad = peers[1];
    bad.address_len = 4;
    assert_int_equal(parley_peer_encode(entries, sizeof entries, &bad), PARLEY_E_STATE);
    bad = peers[0];
    bad.flags = 0x02;
    assert_int_equal(parley_peer_encode(entries, sizeof entries, &bad), PARLEY_E_STATE);

    /* STATS: duplicate and unknown ids decode ([ADMIN-6] the receiver ignores unknown ids) */
    len = 0;
    for (uint16_t i = 0; i < 3; i++) {
        assert_int_equal(parley_stat_encode(entries + len, 9, 1, 0), PARLEY_E_NOROOM);
        len += (size_t)parley_stat_encode(entries + len, 10, i == 2 ? 99 : 1, 1000u + i);
    }
    m.req_opcode = PARLEY_OP_STATS;
    m.list = (struct parley_list){3, entries, len};
    n = parley_msg_encode(out, sizeof out, &m);
    assert_int_equal(parley_msg_decode(PARLEY_OP_ACK, out, (size_t)n, &back), 0);
    assert_int_equal(parley_stats_get(&back.list, 2, &sid, &value), 0);
    assert_int_equal(sid, 99);
    assert_int_equal(value, 1002);
    assert_int_equal(parley_stats_get(&back.list, 3, &sid, &value), PARLEY_E_STATE);
}

/* [ADMIN-1], [ADMIN-2] the tag-0 rule comes first and holds for the admin too */
static void test_admin_rules(void **state)
{
    struct parley_msg m;
    (void)state;

    memset(&m, 0, sizeof m);
    for (uint8_t op = PARLEY_OP_PEERS; op <= PARLEY_OP_STATS; op++) {
        m.opcode = op;
        assert_int_equal(parley_msg_check_admin(&m, 0, 1), PARLEY_E_MALFORMED);
        assert_int_equal(parley_msg_check_admin(&m, 0, 0), PARLEY_E_MALFORMED);
        assert_int_equal(parley_msg_check_admin(&m, 5, 0), PARLEY_E_UNAUTHORIZED);
        assert_int_equal(parley_msg_check_admin(&m, 5, 1), 0);
    }
    m.opcode = PARLEY_OP_PING; /* not an admin operation: no rule applies */
    assert_int_equal(parley_msg_check_admin(&m, 0, 0), 0);
    m.opcode = PARLEY_OP_BYE;
    assert_int_equal(parley_msg_check_admin(&m, 9, 0), 0);
}

/* [MSG-1], [MSG-3], [MSG-4], [ACK-2], [OPT-1] decoder corners the vectors leave open */
static void test_decode_corners(void **state)
{
    struct parley_msg m;
    (void)state;

    /* a draft request is NOT_IMPLEMENTED whatever its payload; 18.. is unknown */
    assert_int_equal(parley_msg_decode(PARLEY_OP_FIND_NODE, S(""), &m), PARLEY_E_NOT_IMPLEMENTED);
    assert_int_equal(parley_msg_decode(18, S(""), &m), PARLEY_E_UNKNOWN_OPCODE);
    /* an ACK echoing a reserved option or an invalid setting does not match the request */
    assert_int_equal(parley_msg_decode(PARLEY_OP_ACK, S("\x03\x02\x03"), &m), PARLEY_E_MALFORMED);
    assert_int_equal(parley_msg_decode(PARLEY_OP_ACK, S("\x03\x00\x05"), &m), PARLEY_E_MALFORMED);
    /* STATS with count 0 is a valid empty list; PEERS too */
    assert_int_equal(parley_msg_decode(PARLEY_OP_ACK, S("\x0d\x00\x00"), &m), 0);
    assert_int_equal(m.list.count, 0);
    assert_int_equal(parley_msg_decode(PARLEY_OP_ACK, S("\x0b\x00\x00"), &m), 0);
    /* NACK text length is checked before its UTF-8 */
    assert_int_equal(parley_msg_decode(PARLEY_OP_NACK, S("\x02\x00\x01\x00\x02\xff"), &m),
                     PARLEY_E_MALFORMED);
    /* BYE with a reason but no text_length */
    assert_int_equal(parley_msg_decode(PARLEY_OP_BYE, S("\x00\x01"), &m), PARLEY_E_MALFORMED);
}

/* decoded fields point into the payload: nothing is copied */
static void test_decode_points_into_input(void **state)
{
    static const uint8_t bye[] = {0, 1, 0, 3, 'b', 'y', 'e'};
    static const uint8_t ping[] = {'a', 'b'};
    struct parley_msg m;
    (void)state;

    assert_int_equal(parley_msg_decode(PARLEY_OP_BYE, bye, sizeof bye, &m), 0);
    assert_ptr_equal(m.text, bye + 4);
    assert_int_equal(m.reason, 1);
    assert_int_equal(parley_msg_decode(PARLEY_OP_PING, ping, sizeof ping, &m), 0);
    assert_ptr_equal(m.data, ping);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_boundaries),
        cmocka_unit_test(test_encoders_round_trip),
        cmocka_unit_test(test_encoders_refuse_invalid),
        cmocka_unit_test(test_peers_and_stats_lists),
        cmocka_unit_test(test_admin_rules),
        cmocka_unit_test(test_decode_corners),
        cmocka_unit_test(test_decode_points_into_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
