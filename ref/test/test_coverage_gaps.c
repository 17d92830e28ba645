/*
 * test_coverage_gaps.c - behaviour the other tests left unexercised, found with
 * `make coverage` (tools/coverage.sh): the error registry against spec/06-errors.md, the
 * Noise layer's own length and room checks, a cipher text shorter than its tag, UTF-8 of
 * four bytes, a compressed message when no compression is in force, freeing a session
 * with messages in reassembly, and, on a connection pair wired in memory, PEERS when the
 * node cannot list its peers, short socket writes, and the raw-frame API.
 * Each test names the requirement it checks when there is one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "conn.h"
#include "crypto.h"
#include "parley.h"

#define assert_err(rc, name) assert_string_equal(parley_err_name(rc), name)
#define T0 1000u

/* ---- The error registry -------------------------------------------------------------- */

/* spec/06-errors.md §6.1, in code order from 1. */
static const char *const nack_names[] = {
    "MALFORMED",       "UNKNOWN_OPCODE", "NOT_IMPLEMENTED", "UNSUPPORTED",
    "BAD_FLAGS",       "FRAME_TOO_LARGE", "MESSAGE_TOO_LARGE", "BUDGET_EXCEEDED",
    "TOO_MANY_TAGS",   "TAG_IN_USE",     "BAD_FRAGMENT",    "LENGTH_MISMATCH",
    "BAD_UTF8",        "UNAUTHORIZED",   "DECOMPRESSION_FAILED", "SHUTTING_DOWN",
    "BUSY",            "INTERNAL"};

/* spec/06-errors.md §6.2. */
static const char *const close_names[] = {
    "PREFACE_BAD_MAGIC", "PREFACE_MALFORMED", "PREFACE_BAD_CHOICE", "NO_COMMON_MAJOR",
    "HANDSHAKE_FAILED",  "PAYLOAD_MALFORMED", "BAD_SIGNATURE",      "REFLECTION",
    "LIMITS_BELOW_FLOOR", "RECORD_LENGTH",    "RECORD_AUTH",        "FRAME_OVERRUN",
    "TIMEOUT"};

/* [ERR-1] each NACK code is the number and name of §6.1 and goes on the wire as that code;
 * [NACK-2] code 0 and 19..65535 have no name (a receiver shows the number). */
static void test_nack_codes_are_the_registry_of_spec_6_1(void **state)
{
    (void)state;
    assert_int_equal(sizeof nack_names / sizeof nack_names[0], PARLEY_WIRE_LAST);
    for (uint16_t code = 1; code <= PARLEY_WIRE_LAST; code++) {
        int err = parley_err_from_name(nack_names[code - 1]);
        assert_int_equal(err, -(int)code);
        assert_int_equal(parley_err_wire_code(err), code);
        assert_string_equal(parley_wire_code_name(code), nack_names[code - 1]);
        assert_false(parley_err_is_close(err)); /* [ERR-2] the connection survives */
    }
    assert_null(parley_wire_code_name(0));
    assert_null(parley_wire_code_name(PARLEY_WIRE_LAST + 1));
    assert_null(parley_wire_code_name(65535));
}

/* [ERR-1] close reasons are the names of §6.2, never a wire code; local errors are
 * neither; an unknown error or name maps to "?" and OK. */
static void test_close_reasons_never_go_on_the_wire(void **state)
{
    static const char *const local[] = {"TRUNCATED", "NOROOM", "STATE", "NOMEM"};

    (void)state;
    for (size_t i = 0; i < sizeof close_names / sizeof close_names[0]; i++) {
        int err = parley_err_from_name(close_names[i]);
        assert_true(err < 0);
        assert_true(parley_err_is_close(err));
        assert_int_equal(parley_err_wire_code(err), 0);
        assert_string_equal(parley_err_name(err), close_names[i]);
    }
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        int err = parley_err_from_name(local[i]);
        assert_true(err < 0);
        assert_false(parley_err_is_close(err));
        assert_int_equal(parley_err_wire_code(err), 0);
    }
    assert_string_equal(parley_err_name(PARLEY_OK), "OK");
    assert_string_equal(parley_err_name(-9999), "?");
    assert_int_equal(parley_err_from_name("NO_SUCH_ERROR"), PARLEY_OK);
    assert_int_equal(parley_err_wire_code(PARLEY_OK), 0);
}

/* ---- Noise XX: lengths and room ------------------------------------------------------ */

struct xx {
    struct parley_noise i, r;
    uint8_t m1[64], m2[256], m3[256];
    int n1, n2, n3;
};

/* A handshake with payloads "two" (message 2) and "three" (message 3), written but read
 * only as far as `read_upto` messages (the reader of the next one is left untouched). */
static void xx_run(struct xx *x, int read_upto)
{
    uint8_t si[32], sr[32], pl[64];

    memset(si, 1, sizeof si);
    memset(sr, 2, sizeof sr);
    parley_noise_init(&x->i, 1, (const uint8_t *)"p", 1, si);
    parley_noise_init(&x->r, 0, (const uint8_t *)"p", 1, sr);
    x->n1 = parley_noise_write(&x->i, NULL, 0, x->m1, sizeof x->m1);
    assert_int_equal(x->n1, 32);
    if (read_upto < 1)
        return;
    assert_int_equal(parley_noise_read(&x->r, x->m1, (size_t)x->n1, pl, sizeof pl), 0);
    x->n2 = parley_noise_write(&x->r, (const uint8_t *)"two", 3, x->m2, sizeof x->m2);
    assert_int_equal(x->n2, 32 + 48 + 3 + 16);
    if (read_upto < 2)
        return;
    assert_int_equal(parley_noise_read(&x->i, x->m2, (size_t)x->n2, pl, sizeof pl), 3);
    x->n3 = parley_noise_write(&x->i, (const uint8_t *)"three", 5, x->m3, sizeof x->m3);
    assert_int_equal(x->n3, 48 + 5 + 16);
}

/* [HS-1] a handshake message too short for its tokens, or for the payload's tag, fails
 * (HANDSHAKE_FAILED) in the Noise layer itself, whatever framed it. */
static void test_noise_read_rejects_short_messages(void **state)
{
    struct xx x;
    uint8_t pl[64];

    (void)state;
    xx_run(&x, 0); /* message 1: e */
    assert_err(parley_noise_read(&x.r, x.m1, 31, pl, sizeof pl), "HANDSHAKE_FAILED");

    xx_run(&x, 1); /* message 2: e, ee, s (48 with its tag), es, payload */
    assert_err(parley_noise_read(&x.i, x.m2, 32 + 47, pl, sizeof pl), "HANDSHAKE_FAILED");
    xx_run(&x, 1);
    assert_err(parley_noise_read(&x.i, x.m2, 32 + 48 + 15, pl, sizeof pl), "HANDSHAKE_FAILED");
    xx_run(&x, 1);
    assert_err(parley_noise_read(&x.i, x.m2, 31, pl, sizeof pl), "HANDSHAKE_FAILED");

    xx_run(&x, 2); /* message 3: s, se, payload */
    assert_err(parley_noise_read(&x.r, x.m3, 47, pl, sizeof pl), "HANDSHAKE_FAILED");
    xx_run(&x, 2);
    assert_err(parley_noise_read(&x.r, x.m3, 48 + 15, pl, sizeof pl), "HANDSHAKE_FAILED");

    xx_run(&x, 2); /* and the whole message still completes the handshake */
    assert_int_equal(parley_noise_read(&x.r, x.m3, (size_t)x.n3, pl, sizeof pl), 5);
    assert_memory_equal(pl, "three", 5);
}

/* The errors parley_noise_read and _write document: STATE out of turn and once done,
 * NOROOM for a payload or a message that does not fit. */
static void test_noise_room_and_turns(void **state)
{
    struct xx x;
    struct parley_noise n;
    struct parley_cipher c1, c2;
    uint8_t s[32] = {3}, pl[64], out[256] = {0};

    (void)state;
    parley_noise_init(&n, 1, NULL, 0, s); /* the initiator writes first */
    assert_err(parley_noise_read(&n, out, 32, pl, sizeof pl), "STATE");
    parley_noise_init(&n, 0, NULL, 0, s); /* the responder reads first */
    assert_err(parley_noise_write(&n, NULL, 0, out, sizeof out), "STATE");

    xx_run(&x, 1);
    assert_err(parley_noise_read(&x.i, x.m2, (size_t)x.n2, pl, 2), "NOROOM"); /* "two" */

    xx_run(&x, 0);
    assert_err(parley_noise_read(&x.r, x.m1, (size_t)x.n1, pl, sizeof pl), "OK");
    assert_err(parley_noise_write(&x.r, NULL, 0, out, 31), "NOROOM");          /* e */
    assert_err(parley_noise_write(&x.r, NULL, 0, out, 32 + 47), "NOROOM");     /* s */
    assert_err(parley_noise_write(&x.r, pl, 8, out, 32 + 48 + 8 + 15), "NOROOM"); /* tag */

    xx_run(&x, 2);
    assert_int_equal(parley_noise_read(&x.r, x.m3, (size_t)x.n3, pl, sizeof pl), 5);
    assert_err(parley_noise_read(&x.r, x.m3, (size_t)x.n3, pl, sizeof pl), "STATE");
    assert_err(parley_noise_write(&x.r, NULL, 0, out, sizeof out), "STATE");
    assert_int_equal(parley_noise_split(&x.r, &c1, &c2), 0);
}

/* [REC-3] a cipher text shorter than its 16-byte tag cannot authenticate: RECORD_AUTH,
 * and the nonce does not move, so the next genuine record still opens. */
static void test_ciphertext_shorter_than_tag(void **state)
{
    struct parley_cipher tx, rx;
    uint8_t k[32], ct[32], pt[32];

    (void)state;
    memset(k, 9, sizeof k);
    parley_cipher_init(&tx, k, 0);
    parley_cipher_init(&rx, k, 0);
    assert_int_equal(parley_cipher_encrypt(&tx, NULL, 0, (const uint8_t *)"hi", 2, ct), 0);
    assert_err(parley_cipher_decrypt(&rx, NULL, 0, ct, 15, pt), "RECORD_AUTH");
    assert_int_equal(rx.n, 0);
    assert_int_equal(parley_cipher_decrypt(&rx, NULL, 0, ct, 2 + 16, pt), 0);
    assert_memory_equal(pt, "hi", 2);
}

/* ---- Messages and the receive state machine ------------------------------------------ */

/* [CONV-1] four-byte sequences led by F1..F3 (U+40000..U+FFFFF) take three continuation
 * bytes of 80..BF, no more and no fewer. */
static void test_utf8_four_bytes_led_by_f1_to_f3(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        int ok;
    } cases[] = {
        {"\xF1\x80\x80\x80", 4, 1}, /* U+40000 */
        {"\xF2\xBF\xBF\xBF", 4, 1}, /* U+BFFFF */
        {"\xF3\xBF\xBF\xBF", 4, 1}, /* U+FFFFF */
        {"a\xF1\x80\x80\x80z", 6, 1},
        {"\xF1\x80\x80", 3, 0},     /* truncated */
        {"\xF2\x7F\x80\x80", 4, 0}, /* not a continuation */
        {"\xF3\x80\xC0\x80", 4, 0},
        {"\xF1\x80\x80\x80\x80", 5, 0}, /* a stray continuation after it */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(parley_utf8_check((const uint8_t *)cases[i].s, cases[i].n),
                         cases[i].ok ? 0 : PARLEY_E_BAD_UTF8);
}

static const struct parley_limits limits = {256, PARLEY_MIN_MAX_MESSAGE,
                                            2 * PARLEY_MIN_MAX_MESSAGE};

static int feed(struct parley_session *s, struct parley_event *ev, uint8_t opcode, uint8_t flags,
                uint16_t tag, const uint8_t *payload, size_t len)
{
    static uint8_t frame[PARLEY_FRAME_HEADER_LEN + 4096];
    struct parley_frame_header h = {opcode, flags, tag, (uint32_t)len};
    int n = parley_frame_encode(frame, sizeof frame, &h, payload);

    assert_true(n > 0);
    return parley_session_feed(s, frame, (size_t)n, ev);
}

/* [OPT-2], [OPT-4], [OPT-6] a setting other than zlib can be in force (the remote
 * acknowledged our request for it), but only zlib is implemented: a COMPRESSED request
 * then does not decompress, NACK DECOMPRESSION_FAILED, and the session goes on
 * ([ERR-2]). [FRAME-6] with no setting in force the same frame is BAD_FLAGS instead. */
static void test_compressed_in_a_setting_we_cannot_decompress(void **state)
{
    static const uint8_t z[] = {0x78, 0x9c, 0x2b, 0xc9, 0xc8, 0x2c, 0x06, 0x00, /* "this" */
                                0x04, 0x51, 0x01, 0xb9};
    struct parley_session s;
    struct parley_event ev;

    (void)state;
    parley_session_init(&s, &limits, PARLEY_SETTING_GZIP, 0);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 4, z, sizeof z),
                     PARLEY_EV_NACK);
    assert_err(ev.err, "DECOMPRESSION_FAILED");
    assert_int_equal(ev.tag, 4);
    assert_int_equal(ev.opcode, PARLEY_OP_PING);
    assert_int_equal(parley_err_wire_code(ev.err), PARLEY_WIRE_DECOMPRESSION_FAILED);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, 0, 5, (const uint8_t *)"ok", 2),
                     PARLEY_EV_MESSAGE);
    parley_session_free(&s);

    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 4, z, sizeof z),
                     PARLEY_EV_NACK);
    assert_err(ev.err, "BAD_FLAGS");
    parley_session_free(&s);

    parley_session_init(&s, &limits, PARLEY_SETTING_ZLIB, 0); /* the same bytes in zlib */
    assert_int_equal(feed(&s, &ev, PARLEY_OP_PING, PARLEY_FLAG_COMPRESSED, 4, z, sizeof z),
                     PARLEY_EV_MESSAGE);
    assert_int_equal(ev.msg.data_len, 4);
    assert_memory_equal(ev.msg.data, "this", 4);
    parley_session_free(&s);
}

/* [FRAG-8] freeing a session releases every message still in reassembly (several at
 * once; `make asan` sees a leak or a double free) and leaves nothing reserved. */
static void test_session_free_with_messages_in_reassembly(void **state)
{
    struct parley_session s;
    struct parley_event ev;
    uint8_t first[4 + 100] = {0, 0, 1, 0}; /* total 256, then 100 bytes */

    (void)state;
    parley_session_init(&s, &limits, PARLEY_SETTING_NONE, 0);
    for (uint16_t tag = 1; tag <= 3; tag++)
        assert_int_equal(feed(&s, &ev, PARLEY_OP_STORE, PARLEY_FLAG_MORE, tag, first,
                              sizeof first),
                         PARLEY_EV_PARTIAL);
    assert_int_equal(s.n_inflight, 3);
    assert_int_equal(s.reserved, 3 * 256);
    parley_session_free(&s);
    assert_null(s.inflight);
    assert_int_equal(s.n_inflight, 0);
    assert_int_equal(s.reserved, 0);
}

/* ---- A connection pair in memory ----------------------------------------------------- */

struct side {
    struct parley_node node;
    struct parley_conn c;
    int answers;
    uint16_t tag;
    uint8_t opcode, req_opcode;
    uint16_t code;
    uint8_t data[PARLEY_PING_MAX];
    size_t data_len;
};

static struct side A, B;

static int failing_peers(void *ctx, uint8_t *out, size_t cap)
{
    (void)ctx;
    (void)out;
    (void)cap;
    return PARLEY_E_INTERNAL;
}

static void on_response(void *ctx, struct parley_conn *c, const struct parley_event *ev)
{
    struct side *s = ctx;

    (void)c;
    s->answers++;
    s->tag = ev->tag;
    s->opcode = ev->msg.opcode;
    s->req_opcode = ev->msg.req_opcode;
    s->code = ev->msg.code;
    s->data_len = ev->msg.data_len <= sizeof s->data ? ev->msg.data_len : 0;
    if (s->data_len > 0)
        memcpy(s->data, ev->msg.data, s->data_len);
}

static void side_init(struct side *s, uint8_t seed)
{
    uint8_t pk[32], sk[64], sd[32];

    memset(s, 0, sizeof *s);
    memset(sd, seed, sizeof sd);
    crypto_sign_seed_keypair(pk, sk, sd);
    assert_int_equal(parley_node_init(&s->node, sk, T0), 0);
    s->node.ops = (struct parley_node_ops){.ctx = s, .response = on_response};
}

/* Moves what `from` has to send into `to`, at most `chunk` bytes per write (a socket
 * that takes part of what it is given). Returns the bytes moved. */
static size_t move(struct side *from, struct side *to, size_t chunk)
{
    const uint8_t *p;
    size_t len = parley_conn_output(&from->c, &p);

    if (len > chunk)
        len = chunk;
    if (len > 0) {
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, p, len);
        parley_conn_written(&from->c, len);
        parley_conn_input(&to->c, copy, len, T0);
        free(copy);
    }
    return len;
}

static void pump(size_t chunk)
{
    for (int i = 0; i < 1000000; i++)
        if (move(&A, &B, chunk) + move(&B, &A, chunk) == 0)
            return;
    fail_msg("the connections never went quiet");
}

/* A (initiator) and B (responder, A its admin) with both connections open. */
static void pair_open(void)
{
    side_init(&A, 1);
    side_init(&B, 2);
    B.node.has_admin = 1;
    memcpy(B.node.admin_pk, A.node.identity_pk, 32);
    assert_int_equal(parley_conn_init(&A.c, &A.node, 1, T0), 0);
    assert_int_equal(parley_conn_init(&B.c, &B.node, 0, T0), 0);
    pump(SIZE_MAX);
    assert_int_equal(A.c.state, PARLEY_CONN_OPEN);
    assert_int_equal(B.c.state, PARLEY_CONN_OPEN);
}

static void pair_free(void)
{
    parley_conn_free(&A.c);
    parley_conn_free(&B.c);
    parley_node_free(&A.node);
    parley_node_free(&B.node);
}

/* [ADMIN-3], [ERR-2] a node that cannot list its peers (no hook, or the hook fails)
 * answers the admin's PEERS with NACK INTERNAL on its tag, and the connection serves the
 * next request. */
static void test_peers_the_node_cannot_list_is_nacked_internal(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        int tag;
        pair_open();
        if (variant == 1)
            B.node.ops.peers = failing_peers;
        tag = parley_conn_request(&A.c, PARLEY_OP_PEERS, NULL, 0, 1);
        assert_true(tag > 0);
        pump(SIZE_MAX);
        assert_int_equal(A.answers, 1);
        assert_int_equal(A.tag, tag);
        assert_int_equal(A.opcode, PARLEY_OP_NACK);
        assert_int_equal(A.req_opcode, PARLEY_OP_PEERS);
        assert_int_equal(A.code, PARLEY_WIRE_INTERNAL);

        tag = parley_conn_request(&A.c, PARLEY_OP_PING, (const uint8_t *)"still", 5, 1);
        assert_true(tag > 0);
        pump(SIZE_MAX);
        assert_int_equal(A.answers, 2);
        assert_int_equal(A.opcode, PARLEY_OP_ACK);
        assert_int_equal(A.data_len, 5);
        assert_memory_equal(A.data, "still", 5);
        pair_free();
    }
}

/* [LIMIT-4] a socket that takes a few bytes at a time: the output buffer keeps the
 * unwritten part in order while more is sealed behind it, and every answer arrives. */
static void test_short_writes_keep_the_byte_stream(void **state)
{
    uint8_t big[PARLEY_PING_MAX];

    (void)state;
    memset(big, 0x5a, sizeof big);
    pair_open();
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < 8; k++)
            assert_true(parley_conn_request(&A.c, PARLEY_OP_PING, big, sizeof big, 1) > 0);
        /* a part of the requests is written, then more are queued behind the rest */
        assert_true(move(&A, &B, 100) > 0);
        for (int k = 0; k < 8; k++)
            assert_true(parley_conn_request(&A.c, PARLEY_OP_PING, big, sizeof big, 1) > 0);
        pump(7);
    }
    assert_int_equal(A.answers, 20 * 16);
    assert_int_equal(A.opcode, PARLEY_OP_ACK);
    assert_memory_equal(A.data, big, sizeof big);
    assert_int_equal(A.c.state, PARLEY_CONN_OPEN);
    assert_int_equal(B.c.state, PARLEY_CONN_OPEN);
    pair_free();
}

/* parley_conn_send_frames (`parley send-raw`): STATE before the connection is open;
 * FRAME_OVERRUN for bytes that are not whole frames; whole frames go out as given, and a
 * request among them is answered on its tag. */
static void test_send_frames_takes_whole_frames_only(void **state)
{
    static const uint8_t ping9[] = {PARLEY_OP_PING, 0, 0, 9, 0, 0, 0, 2, 0xab, 0xcd};
    static const uint8_t cut[] = {PARLEY_OP_PING, 0, 0, 9, 0, 0, 0, 4, 0xab, 0xcd};

    (void)state;
    side_init(&A, 1);
    side_init(&B, 2);
    assert_int_equal(parley_conn_init(&A.c, &A.node, 1, T0), 0);
    assert_int_equal(parley_conn_init(&B.c, &B.node, 0, T0), 0);
    assert_err(parley_conn_send_frames(&A.c, ping9, sizeof ping9), "STATE");
    pump(SIZE_MAX);
    assert_int_equal(A.c.state, PARLEY_CONN_OPEN);

    assert_err(parley_conn_send_frames(&A.c, ping9, 5), "FRAME_OVERRUN");
    assert_err(parley_conn_send_frames(&A.c, cut, sizeof cut), "FRAME_OVERRUN");
    assert_int_equal(parley_conn_send_frames(&A.c, ping9, sizeof ping9), 0);
    pump(SIZE_MAX);
    assert_int_equal(A.answers, 1);
    assert_int_equal(A.tag, 9);
    assert_int_equal(A.opcode, PARLEY_OP_ACK);
    assert_int_equal(A.data_len, 2);
    assert_memory_equal(A.data, "\xab\xcd", 2);
    pair_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nack_codes_are_the_registry_of_spec_6_1),
        cmocka_unit_test(test_close_reasons_never_go_on_the_wire),
        cmocka_unit_test(test_noise_read_rejects_short_messages),
        cmocka_unit_test(test_noise_room_and_turns),
        cmocka_unit_test(test_ciphertext_shorter_than_tag),
        cmocka_unit_test(test_utf8_four_bytes_led_by_f1_to_f3),
        cmocka_unit_test(test_compressed_in_a_setting_we_cannot_decompress),
        cmocka_unit_test(test_session_free_with_messages_in_reassembly),
        cmocka_unit_test(test_peers_the_node_cannot_list_is_nacked_internal),
        cmocka_unit_test(test_short_writes_keep_the_byte_stream),
        cmocka_unit_test(test_send_frames_takes_whole_frames_only),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
