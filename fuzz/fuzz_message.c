/*
 * fuzz_message.c - attacks every opcode's payload decoder and encoder (spec/05-messages.md):
 * parley_msg_decode / _encode, the PEERS and STATS list walkers and their entry encoders,
 * parley_utf8_check, parley_msg_check_admin.
 *
 * Why: message payloads are the most varied attacker input (texts, counts, nested lists)
 * and the codec claims a canonical encoding: every payload that decodes re-encodes to the
 * same bytes. A decoder that accepts trailing bytes or a count that disagrees with the
 * bytes breaks that, and two peers would then disagree on what was sent. Checks:
 *  - round trip: decode(x) ok => encode(decode(x)) == x, and decoding that gives the same
 *    fields; short output buffers give NOROOM;
 *  - errors are only the ones codec.h documents for the decoder;
 *  - PEERS entries and STATS counters walked one by one and re-encoded are the list bytes;
 *  - differential: parley_utf8_check agrees with an independent code-point decoder on
 *    every text and on the raw payload;
 *  - the encoder side first: a message built from the input that encodes must decode
 *    (unless its text or option is invalid) and re-encode identically.
 *
 * Input: byte 0 is the opcode (as the frame header carries it), the rest is the payload.
 */
#include "codec.h"
#include "fuzz_common.h"

static uint8_t enc[2 * 2048 + 64];

static int is_draft(uint8_t op)
{
    return (op >= 4 && op <= 9) || (op >= 14 && op <= 17);
}

static void check_same(const struct parley_msg *a, const struct parley_msg *b)
{
    FUZZ_CHECK(a->opcode == b->opcode && a->req_opcode == b->req_opcode);
    FUZZ_CHECK(a->data_len == b->data_len &&
               (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0));
    FUZZ_CHECK(a->option == b->option && a->setting == b->setting);
    FUZZ_CHECK(a->code == b->code && a->reason == b->reason);
    FUZZ_CHECK(a->text_len == b->text_len &&
               (a->text_len == 0 || memcmp(a->text, b->text, a->text_len) == 0));
    FUZZ_CHECK(a->list.count == b->list.count && a->list.len == b->list.len &&
               (a->list.len == 0 || memcmp(a->list.bytes, b->list.bytes, a->list.len) == 0));
}

/* The entries of a decoded list, one by one, re-encoded. */
static void check_list(const struct parley_msg *m)
{
    uint8_t one[64];
    size_t at = 0;

    if (m->opcode != PARLEY_OP_ACK)
        return;
    if (m->req_opcode == PARLEY_OP_PEERS) {
        struct parley_rd it;
        struct parley_peer p;
        size_t count = 0;
        int rc;
        rd_init(&it, m->list.bytes, m->list.len);
        while ((rc = parley_peers_next(&it, &p)) == 1) {
            int k = parley_peer_encode(one, sizeof one, &p);
            FUZZ_CHECK(k == (int)(32 + 1 + p.address_len + 3));
            FUZZ_CHECK(memcmp(one, m->list.bytes + at, (size_t)k) == 0);
            FUZZ_CHECK(parley_peer_encode(one, (size_t)k - 1, &p) == PARLEY_E_NOROOM);
            at += (size_t)k;
            count++;
        }
        FUZZ_CHECK(rc == 0 && count == m->list.count && at == m->list.len);
    } else if (m->req_opcode == PARLEY_OP_STATS) {
        uint16_t id;
        uint64_t v;
        FUZZ_CHECK(m->list.len == (size_t)m->list.count * PARLEY_STAT_ENTRY_LEN);
        for (size_t i = 0; i < m->list.count; i++) {
            FUZZ_CHECK(parley_stats_get(&m->list, i, &id, &v) == 0);
            FUZZ_CHECK(parley_stat_encode(one, sizeof one, id, v) == PARLEY_STAT_ENTRY_LEN);
            FUZZ_CHECK(
                memcmp(one, m->list.bytes + i * PARLEY_STAT_ENTRY_LEN, PARLEY_STAT_ENTRY_LEN) == 0);
        }
        FUZZ_CHECK(parley_stats_get(&m->list, m->list.count, &id, &v) == PARLEY_E_STATE);
    }
}

/* [ADMIN-2] then [ADMIN-1], for every tag/admin combination. */
static void check_admin(const struct parley_msg *m)
{
    int admin_op = m->opcode == PARLEY_OP_PEERS || m->opcode == PARLEY_OP_SHUTDOWN ||
                   m->opcode == PARLEY_OP_STATS;

    for (int admin = 0; admin <= 1; admin++)
        for (int tag = 0; tag <= 1; tag++) {
            int want = !admin_op  ? 0
                       : tag == 0 ? PARLEY_E_MALFORMED
                       : !admin   ? PARLEY_E_UNAUTHORIZED
                                  : 0;
            FUZZ_CHECK(parley_msg_check_admin(m, (uint16_t)tag, admin) == want);
        }
}

static void decode_side(uint8_t opcode, const uint8_t *p, size_t len)
{
    struct parley_msg m, again;
    uint8_t *out;
    int rc = parley_msg_decode(opcode, p, len, &m), n;

    FUZZ_CHECK(m.opcode == opcode);
    if (rc != 0) {
        FUZZ_CHECK(rc == PARLEY_E_MALFORMED || rc == PARLEY_E_BAD_UTF8 ||
                   rc == PARLEY_E_UNSUPPORTED || rc == PARLEY_E_NOT_IMPLEMENTED ||
                   rc == PARLEY_E_UNKNOWN_OPCODE);
        FUZZ_CHECK((rc == PARLEY_E_NOT_IMPLEMENTED) == is_draft(opcode));
        FUZZ_CHECK((rc == PARLEY_E_UNKNOWN_OPCODE) == (opcode > PARLEY_OP_LAST_ASSIGNED));
        FUZZ_CHECK(rc != PARLEY_E_UNSUPPORTED || opcode == PARLEY_OP_SET_CONNECTION_OPT);
        return;
    }
    /* Valid: the fields in range, texts UTF-8 (by the other validator), round trip. */
    FUZZ_CHECK(m.text_len <= PARLEY_TEXT_MAX);
    FUZZ_CHECK(m.text_len == 0 || fuzz_utf8_valid(m.text, m.text_len));
    if (opcode == PARLEY_OP_PING || (opcode == PARLEY_OP_ACK && m.req_opcode == PARLEY_OP_PING))
        FUZZ_CHECK(m.data_len <= PARLEY_PING_MAX);
    if (opcode == PARLEY_OP_NACK)
        FUZZ_CHECK(m.code != 0);
    if (opcode == PARLEY_OP_SET_CONNECTION_OPT ||
        (opcode == PARLEY_OP_ACK && m.req_opcode == PARLEY_OP_SET_CONNECTION_OPT))
        FUZZ_CHECK(m.option <= 1 && m.setting <= 4);

    out = malloc(len + 1);
    FUZZ_CHECK(out != NULL);
    n = parley_msg_encode(out, len + 1, &m);
    FUZZ_CHECK(n == (int)len);
    FUZZ_CHECK(len == 0 || memcmp(out, p, len) == 0);
    if (len > 0)
        FUZZ_CHECK(parley_msg_encode(out, len - 1, &m) == PARLEY_E_NOROOM);
    FUZZ_CHECK(parley_msg_decode(opcode, out, len, &again) == 0);
    /* Pointers now point into out: compare the bytes they point at. */
    check_same(&m, &again);
    check_list(&m);
    check_admin(&m);
    free(out);
}

/* A message built from the input, encoder first. */
static void encode_side(struct fuzz_in *in)
{
    struct parley_msg m, d;
    static uint8_t body[2048];
    size_t got;
    const uint8_t *p;
    int n, rc;

    memset(&m, 0, sizeof m);
    m.opcode = fi_u8(in) % 20;
    m.req_opcode = fi_u8(in) % 20;
    m.option = fi_u8(in) % 3;
    m.setting = fi_u8(in) % 6;
    m.code = fi_u16(in);
    m.reason = fi_u16(in);
    p = fi_bytes(in, fi_u16(in) % 1100, &got);
    memcpy(body, p, got);
    m.text = body, m.text_len = got;
    m.data = body, m.data_len = got;
    m.list.bytes = body, m.list.len = got, m.list.count = (uint16_t)(got / 10);

    n = parley_msg_encode(enc, sizeof enc, &m);
    if (n < 0) {
        FUZZ_CHECK(n == PARLEY_E_STATE);
        return;
    }
    rc = parley_msg_decode(m.opcode, enc, (size_t)n, &d);
    if (rc != 0) /* an invalid text, option, list or a draft opcode: never a crash */
        return;
    FUZZ_CHECK(parley_msg_encode(enc + n, sizeof enc - (size_t)n, &d) == n);
    FUZZ_CHECK(memcmp(enc, enc + n, (size_t)n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in;

    fuzz_init();
    if (size < 1)
        return 0;
    /* The raw payload through both UTF-8 validators. */
    FUZZ_CHECK((parley_utf8_check(data + 1, size - 1) == 0) == fuzz_utf8_valid(data + 1, size - 1));
    decode_side(data[0], data + 1, size - 1);
    fi_init(&in, data + 1, size - 1);
    encode_side(&in);
    return 0;
}
