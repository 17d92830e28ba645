/*
 * message.c - spec/05-messages.md: the payload of every normative message, decoder and
 * encoder side by side. A payload is the bytes after the frame header, or the reassembled
 * and decompressed data of a fragmented message.
 *
 * ACK (0):    | req_opcode u8 | body (by req_opcode) ...                       |
 * NACK (1):   | req_opcode u8 | code u16 | text_length u16 | text ...         |
 * PING (2):   | data (0..64 bytes)                                            |
 * SET_CONNECTION_OPT (3): | option u8 | setting u8 |
 * BYE (10):   | reason u16 | text_length u16 | text ...                       |
 * PEERS (11), SHUTDOWN (12), STATS (13) requests: empty
 *
 * ACK body to PEERS:  | count u16 | entry[count] |
 *   entry: | node_id bytes[32] | family u8 | address (4 or 16) | port u16 | flags u8 |
 * ACK body to STATS:  | count u16 | (id u16, value u64)[count] |
 *
 * Every text is at most TEXT_MAX bytes and runs exactly to the end of the payload.
 * Decoded pointers point into the payload; nothing is copied or allocated.
 */
#include <limits.h>
#include <string.h>

#include "codec.h"
#include "cursor.h"

#define PEER_FLAGS_RESERVED 0xFEu

static int is_draft(uint8_t opcode)
{
    return (opcode >= PARLEY_OP_SHOUT && opcode <= PARLEY_OP_STORE) ||
           (opcode >= PARLEY_OP_LOCK && opcode <= PARLEY_OP_RELAY);
}

static int is_admin(uint8_t opcode)
{
    return opcode == PARLEY_OP_PEERS || opcode == PARLEY_OP_SHUTDOWN ||
           opcode == PARLEY_OP_STATS;
}

int parley_utf8_check(const uint8_t *s, size_t len)
{
    struct parley_rd r;
    uint8_t b, c;

    rd_init(&r, s, len);
    while (rd_u8(&r, &b) == 0) {
        uint8_t lo = 0x80, hi = 0xBF;
        size_t more;

        if (b < 0x80)
            continue;
        if (b >= 0xC2 && b <= 0xDF) {
            more = 1; /* C0, C1 would be overlong */
        } else if (b == 0xE0) {
            more = 2, lo = 0xA0; /* [CONV-1] no overlong */
        } else if (b == 0xED) {
            more = 2, hi = 0x9F; /* [CONV-1] no surrogates */
        } else if (b >= 0xE1 && b <= 0xEF) {
            more = 2;
        } else if (b == 0xF0) {
            more = 3, lo = 0x90; /* [CONV-1] no overlong */
        } else if (b >= 0xF1 && b <= 0xF3) {
            more = 3;
        } else if (b == 0xF4) {
            more = 3, hi = 0x8F; /* [CONV-1] nothing above U+10FFFF */
        } else {
            return PARLEY_E_BAD_UTF8; /* [CONV-1] stray continuation, C0, C1, F5..FF */
        }
        for (size_t i = 0; i < more; i++) {
            if (rd_u8(&r, &c) != 0 || c < lo || c > hi) /* [CONV-1] truncated or bad */
                return PARLEY_E_BAD_UTF8;
            lo = 0x80, hi = 0xBF;
        }
    }
    return 0;
}

/* text: u16 length, then that many bytes of UTF-8 running exactly to the end. */
static int read_text(struct parley_rd *r, struct parley_msg *m)
{
    uint16_t n;

    if (rd_u16(r, &n) != 0) /* [MSG-3] too short */
        return PARLEY_E_MALFORMED;
    if (n > PARLEY_TEXT_MAX) /* [NACK-1], [BYE-2] */
        return PARLEY_E_MALFORMED;
    if (n != rd_left(r)) /* [CONV-2] trailing bytes, [CONV-3] length past the end */
        return PARLEY_E_MALFORMED;
    (void)rd_bytes(r, n, &m->text);
    m->text_len = n;
    return parley_utf8_check(m->text, n); /* [CONV-1] */
}

static void read_rest(struct parley_rd *r, struct parley_msg *m)
{
    m->data_len = rd_left(r);
    (void)rd_bytes(r, m->data_len, &m->data);
}

/* One PEERS entry ([ADMIN-3]). */
static int read_peer(struct parley_rd *r, struct parley_peer *p)
{
    memset(p, 0, sizeof *p);
    if (rd_bytes(r, PARLEY_NODE_ID_LEN, &p->node_id) != 0 || rd_u8(r, &p->family) != 0)
        return PARLEY_E_MALFORMED;
    switch (p->family) {
    case 4:
        p->address_len = 4;
        break;
    case 6:
        p->address_len = 16;
        break;
    default: /* [ADMIN-3] */
        return PARLEY_E_MALFORMED;
    }
    if (rd_bytes(r, p->address_len, &p->address) != 0 || rd_u16(r, &p->port) != 0 ||
        rd_u8(r, &p->flags) != 0) /* [CONV-3] count disagrees with the bytes */
        return PARLEY_E_MALFORMED;
    if (p->flags & PEER_FLAGS_RESERVED) /* [ADMIN-3] */
        return PARLEY_E_MALFORMED;
    return 0;
}

static int read_peers(struct parley_rd *r, struct parley_list *l)
{
    struct parley_peer p;
    struct parley_rd start;

    if (rd_u16(r, &l->count) != 0)
        return PARLEY_E_MALFORMED;
    start = *r;
    for (size_t i = 0; i < l->count; i++)
        if (read_peer(r, &p) != 0)
            return PARLEY_E_MALFORMED;
    l->len = r->pos - start.pos;
    (void)rd_bytes(&start, l->len, &l->bytes);
    return 0;
}

static int read_stats(struct parley_rd *r, struct parley_list *l)
{
    if (rd_u16(r, &l->count) != 0)
        return PARLEY_E_MALFORMED;
    l->len = (size_t)l->count * PARLEY_STAT_ENTRY_LEN;
    if (l->len != rd_left(r)) /* [ADMIN-6] a count that disagrees with the bytes */
        return PARLEY_E_MALFORMED;
    (void)rd_bytes(r, l->len, &l->bytes);
    return 0;
}

/* option and setting, shared by the request and its ACK ([OPT-1]). */
static int read_option(struct parley_rd *r, struct parley_msg *m, int in_ack)
{
    if (rd_left(r) != 2) /* [OPT-1] exactly 2 bytes */
        return PARLEY_E_MALFORMED;
    (void)rd_u8(r, &m->option);
    (void)rd_u8(r, &m->setting);
    if (m->option > PARLEY_OPT_PREFERRED_COMPRESSION) /* [OPT-1] reserved option */
        return in_ack ? PARLEY_E_MALFORMED : PARLEY_E_UNSUPPORTED; /* [ACK-2] */
    if (m->setting > PARLEY_SETTING_SNAPPY) /* [OPT-1] */
        return PARLEY_E_MALFORMED;
    return 0;
}

static int read_ack(struct parley_rd *r, struct parley_msg *m)
{
    if (rd_u8(r, &m->req_opcode) != 0) /* [ACK-1] */
        return PARLEY_E_MALFORMED;
    if (is_draft(m->req_opcode)) { /* a draft chapter's body is opaque here */
        read_rest(r, m);
        return 0;
    }
    switch (m->req_opcode) {
    case PARLEY_OP_PING:
        read_rest(r, m);
        return m->data_len > PARLEY_PING_MAX ? PARLEY_E_MALFORMED : 0; /* [ACK-2] */
    case PARLEY_OP_SET_CONNECTION_OPT:
        return read_option(r, m, 1);
    case PARLEY_OP_BYE:
    case PARLEY_OP_SHUTDOWN:
        return 0; /* empty: trailing bytes are caught by the caller */
    case PARLEY_OP_PEERS:
        return read_peers(r, &m->list);
    case PARLEY_OP_STATS:
        return read_stats(r, &m->list);
    default: /* [ACK-2] ACK, NACK or unassigned */
        return PARLEY_E_MALFORMED;
    }
}

static int read_nack(struct parley_rd *r, struct parley_msg *m)
{
    /* Any req_opcode: 0 and 1 report a request frame that carried ACK or NACK ([FRAME-5]),
     * 18..255 what an UNKNOWN_OPCODE NACK reports. */
    if (rd_u8(r, &m->req_opcode) != 0 || rd_u16(r, &m->code) != 0)
        return PARLEY_E_MALFORMED;
    if (m->code == 0) /* [NACK-1] code 0 is reserved; unknown codes are valid ([NACK-2]) */
        return PARLEY_E_MALFORMED;
    return read_text(r, m);
}

int parley_msg_decode(uint8_t opcode, const uint8_t *payload, size_t len, struct parley_msg *m)
{
    struct parley_rd r;
    int rc;

    memset(m, 0, sizeof *m);
    m->opcode = opcode;
    rd_init(&r, payload, len);
    if (is_draft(opcode))
        return PARLEY_E_NOT_IMPLEMENTED; /* [MSG-4] */
    switch (opcode) {
    case PARLEY_OP_ACK:
        rc = read_ack(&r, m);
        break;
    case PARLEY_OP_NACK:
        rc = read_nack(&r, m);
        break;
    case PARLEY_OP_PING:
        read_rest(&r, m);
        rc = m->data_len > PARLEY_PING_MAX ? PARLEY_E_MALFORMED : 0; /* [PING-2] */
        break;
    case PARLEY_OP_SET_CONNECTION_OPT:
        rc = read_option(&r, m, 0);
        break;
    case PARLEY_OP_BYE:
        rc = rd_u16(&r, &m->reason) != 0 ? PARLEY_E_MALFORMED : read_text(&r, m); /* [BYE-2] */
        break;
    case PARLEY_OP_PEERS:
    case PARLEY_OP_SHUTDOWN:
    case PARLEY_OP_STATS:
        rc = 0; /* [ADMIN-2] empty: trailing bytes are caught below */
        break;
    default: /* [MSG-1] */
        return PARLEY_E_UNKNOWN_OPCODE;
    }
    if (rc != 0)
        return rc;
    if (rd_left(&r) != 0) /* [CONV-2] */
        return PARLEY_E_MALFORMED;
    return 0;
}

static int put_text(struct parley_wr *w, const struct parley_msg *m)
{
    if (m->text_len > PARLEY_TEXT_MAX)
        return PARLEY_E_STATE;
    if (wr_u16(w, (uint16_t)m->text_len) != 0 || wr_bytes(w, m->text, m->text_len) != 0)
        return PARLEY_E_NOROOM;
    return 0;
}

static int put_data(struct parley_wr *w, const struct parley_msg *m, size_t max)
{
    if (m->data_len > max)
        return PARLEY_E_STATE;
    return wr_bytes(w, m->data, m->data_len) != 0 ? PARLEY_E_NOROOM : 0;
}

static int put_list(struct parley_wr *w, const struct parley_list *l)
{
    if (wr_u16(w, l->count) != 0 || wr_bytes(w, l->bytes, l->len) != 0)
        return PARLEY_E_NOROOM;
    return 0;
}

static int put_ack_body(struct parley_wr *w, const struct parley_msg *m)
{
    if (is_draft(m->req_opcode))
        return put_data(w, m, SIZE_MAX);
    switch (m->req_opcode) {
    case PARLEY_OP_PING:
        return put_data(w, m, PARLEY_PING_MAX);
    case PARLEY_OP_SET_CONNECTION_OPT:
        return wr_u8(w, m->option) != 0 || wr_u8(w, m->setting) != 0 ? PARLEY_E_NOROOM : 0;
    case PARLEY_OP_BYE:
    case PARLEY_OP_SHUTDOWN:
        return 0;
    case PARLEY_OP_PEERS:
    case PARLEY_OP_STATS:
        return put_list(w, &m->list);
    default: /* [ACK-2] */
        return PARLEY_E_STATE;
    }
}

int parley_msg_encode(uint8_t *out, size_t outlen, const struct parley_msg *m)
{
    struct parley_wr w;
    int rc;

    wr_init(&w, out, outlen > INT_MAX ? INT_MAX : outlen);
    if (is_draft(m->opcode))
        rc = put_data(&w, m, SIZE_MAX);
    else
        switch (m->opcode) {
        case PARLEY_OP_ACK:
            rc = wr_u8(&w, m->req_opcode) != 0 ? PARLEY_E_NOROOM : put_ack_body(&w, m);
            break;
        case PARLEY_OP_NACK:
            if (m->code == 0) /* [NACK-1] */
                return PARLEY_E_STATE;
            rc = wr_u8(&w, m->req_opcode) != 0 || wr_u16(&w, m->code) != 0 ? PARLEY_E_NOROOM
                                                                             : put_text(&w, m);
            break;
        case PARLEY_OP_PING:
            rc = put_data(&w, m, PARLEY_PING_MAX); /* [PING-2] */
            break;
        case PARLEY_OP_SET_CONNECTION_OPT:
            rc = wr_u8(&w, m->option) != 0 || wr_u8(&w, m->setting) != 0 ? PARLEY_E_NOROOM : 0;
            break;
        case PARLEY_OP_BYE:
            rc = wr_u16(&w, m->reason) != 0 ? PARLEY_E_NOROOM : put_text(&w, m);
            break;
        case PARLEY_OP_PEERS:
        case PARLEY_OP_SHUTDOWN:
        case PARLEY_OP_STATS:
            rc = 0; /* [ADMIN-2] empty */
            break;
        default:
            return PARLEY_E_STATE;
        }
    return rc != 0 ? rc : (int)w.len;
}

int parley_msg_check_admin(const struct parley_msg *m, uint16_t tag, int admin)
{
    if (!is_admin(m->opcode))
        return 0;
    if (tag == 0) /* [ADMIN-2] they need an answer */
        return PARLEY_E_MALFORMED;
    if (!admin) /* [ADMIN-1] */
        return PARLEY_E_UNAUTHORIZED;
    return 0;
}

int parley_peers_next(struct parley_rd *it, struct parley_peer *p)
{
    if (rd_left(it) == 0)
        return 0;
    return read_peer(it, p) != 0 ? PARLEY_E_MALFORMED : 1;
}

int parley_stats_get(const struct parley_list *l, size_t i, uint16_t *id, uint64_t *value)
{
    struct parley_rd r;
    const uint8_t *skip;
    uint32_t hi = 0, lo = 0; /* two u32 reads: gcc 12 warns about rd_u64 inlined here */

    if (i >= l->count)
        return PARLEY_E_STATE;
    rd_init(&r, l->bytes, l->len);
    if (rd_bytes(&r, i * PARLEY_STAT_ENTRY_LEN, &skip) != 0 || rd_u16(&r, id) != 0 ||
        rd_u32(&r, &hi) != 0 || rd_u32(&r, &lo) != 0)
        return PARLEY_E_STATE;
    *value = (uint64_t)hi << 32 | lo;
    return 0;
}

int parley_peer_encode(uint8_t *out, size_t outlen, const struct parley_peer *p)
{
    struct parley_wr w;

    if ((p->family != 4 || p->address_len != 4) && (p->family != 6 || p->address_len != 16))
        return PARLEY_E_STATE; /* [ADMIN-3] */
    if (p->flags & PEER_FLAGS_RESERVED) /* [ADMIN-3] */
        return PARLEY_E_STATE;
    wr_init(&w, out, outlen);
    if (wr_bytes(&w, p->node_id, PARLEY_NODE_ID_LEN) != 0 || wr_u8(&w, p->family) != 0 ||
        wr_bytes(&w, p->address, p->address_len) != 0 || wr_u16(&w, p->port) != 0 ||
        wr_u8(&w, p->flags) != 0)
        return PARLEY_E_NOROOM;
    return (int)w.len;
}

int parley_stat_encode(uint8_t *out, size_t outlen, uint16_t id, uint64_t value)
{
    struct parley_wr w;

    wr_init(&w, out, outlen);
    if (wr_u16(&w, id) != 0 || wr_u64(&w, value) != 0)
        return PARLEY_E_NOROOM;
    return (int)w.len;
}
