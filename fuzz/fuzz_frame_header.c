/*
 * fuzz_frame_header.c - attacks the 8-byte frame header (spec/04-frames.md §4.1):
 * parley_frame_header_decode / _encode / _check and parley_frame_encode.
 *
 * Why: every byte a peer sends after the handshake passes through this header first, and
 * the order of its checks decides which NACK a peer answers ([FRAME-9]): two conforming
 * peers must agree on it. So beyond "no crash" this target checks
 *  - round trip: decode then encode gives the same 8 bytes (the header has no
 *    non-canonical encoding);
 *  - differential: parley_frame_header_check equals a model written here straight from
 *    the table and the numbered list of §4.1, for both compression states;
 *  - parley_frame_encode + parley_plaintext_next give back the header and payload.
 *
 * Input: byte 0 bit 0 = a compression setting is in force; then the header; the rest is
 * the payload (its length is what the header says, cut to what the input has).
 */
#include "codec.h"
#include "fuzz_common.h"

/* §4.1 "The checks on a frame header run in this order", as the spec words them. */
static int model_check(const struct parley_frame_header *h, int compression)
{
    int response = (h->flags & 0x01) != 0, more = (h->flags & 0x02) != 0;
    int abort_ = (h->flags & 0x04) != 0, compressed = (h->flags & 0x08) != 0;
    int ack_or_nack = h->opcode == 0 || h->opcode == 1;

    if (h->length > 16384)
        return PARLEY_E_FRAME_TOO_LARGE; /* 2 */
    if (h->flags & 0xF0)
        return PARLEY_E_BAD_FLAGS; /* 3 */
    if (abort_ && (more || compressed))
        return PARLEY_E_BAD_FLAGS; /* 4, [FRAME-4] */
    if (response != ack_or_nack)
        return PARLEY_E_BAD_FLAGS; /* 4, [FRAME-5] and the flags row of the table */
    if (compressed && !compression)
        return PARLEY_E_BAD_FLAGS; /* 4, [FRAME-6] */
    if (abort_ && h->length != 0)
        return PARLEY_E_MALFORMED; /* 5 */
    if (h->opcode >= 18)
        return PARLEY_E_UNKNOWN_OPCODE; /* 6 */
    if (more && h->tag == 0)
        return PARLEY_E_BAD_FRAGMENT; /* 7 */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[8 + PARLEY_FRAME_MAX_PAYLOAD + 64];
    struct parley_frame_header h, h2;
    struct parley_frame f;
    struct parley_rd r;
    const uint8_t *payload;
    size_t plen;
    int compression, rc, n;

    fuzz_init();
    if (size < 1)
        return 0;
    compression = data[0] & 1;
    data++, size--;

    rc = parley_frame_header_decode(data, size, &h);
    if (size < PARLEY_FRAME_HEADER_LEN) {
        FUZZ_CHECK(rc == PARLEY_E_TRUNCATED);
        return 0;
    }
    FUZZ_CHECK(rc == PARLEY_FRAME_HEADER_LEN);

    /* Round trip, and NOROOM (not an overrun) on every short buffer. */
    FUZZ_CHECK(parley_frame_header_encode(out, sizeof out, &h) == PARLEY_FRAME_HEADER_LEN);
    FUZZ_CHECK(memcmp(out, data, PARLEY_FRAME_HEADER_LEN) == 0);
    for (size_t cap = 0; cap < PARLEY_FRAME_HEADER_LEN; cap++)
        FUZZ_CHECK(parley_frame_header_encode(out, cap, &h) == PARLEY_E_NOROOM);

    /* The check order, against the model, both ways of compression. */
    FUZZ_CHECK(parley_frame_header_check(&h, compression) == model_check(&h, compression));
    FUZZ_CHECK(parley_frame_header_check(&h, !compression) == model_check(&h, !compression));

    /* Header and payload through the encoder and the plaintext splitter. */
    payload = data + PARLEY_FRAME_HEADER_LEN;
    plen = size - PARLEY_FRAME_HEADER_LEN;
    if (plen > PARLEY_FRAME_MAX_PAYLOAD)
        plen = PARLEY_FRAME_MAX_PAYLOAD;
    h.length = (uint32_t)plen;
    n = parley_frame_encode(out, sizeof out, &h, payload);
    FUZZ_CHECK(n == (int)(PARLEY_FRAME_HEADER_LEN + plen));
    FUZZ_CHECK(parley_frame_encode(out, (size_t)n - 1, &h, payload) == PARLEY_E_NOROOM);
    n = parley_frame_encode(out, sizeof out, &h, payload);
    rd_init(&r, out, (size_t)n);
    FUZZ_CHECK(parley_plaintext_next(&r, &f) == 1);
    FUZZ_CHECK(rd_left(&r) == 0);
    FUZZ_CHECK(f.h.opcode == h.opcode && f.h.flags == h.flags && f.h.tag == h.tag &&
               f.h.length == h.length);
    FUZZ_CHECK(plen == 0 || memcmp(f.payload, payload, plen) == 0);
    FUZZ_CHECK(parley_plaintext_check(out, (size_t)n) == 1);
    h2 = h;
    h2.length = (uint32_t)plen + 1; /* one byte past the plaintext: an overrun */
    FUZZ_CHECK(parley_frame_header_encode(out, sizeof out, &h2) == PARLEY_FRAME_HEADER_LEN);
    FUZZ_CHECK(parley_plaintext_check(out, (size_t)n) == PARLEY_E_FRAME_OVERRUN);
    return 0;
}
