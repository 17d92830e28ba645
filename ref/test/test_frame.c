/*
 * test_frame.c - hand-written tests of spec/04-frames.md §4.1 and the record plaintext
 * beyond the vectors: short buffers, encoders out of room, check order corners, and the
 * capped zlib inflater ([OPT-6]).
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

static void test_header_short_buffers(void **state)
{
    static const uint8_t hdr[8] = {2, 0, 0x12, 0x34, 0, 0, 1, 0};
    struct parley_frame_header h;
    uint8_t out[8];
    (void)state;

    for (size_t n = 0; n < 8; n++)
        assert_int_equal(parley_frame_header_decode(hdr, n, &h), PARLEY_E_TRUNCATED);
    assert_int_equal(parley_frame_header_decode(hdr, 8, &h), 8);
    assert_int_equal(h.tag, 0x1234);
    assert_int_equal(h.length, 256);
    for (size_t n = 0; n < 8; n++)
        assert_int_equal(parley_frame_header_encode(out, n, &h), PARLEY_E_NOROOM);
    assert_int_equal(parley_frame_header_encode(out, 8, &h), 8);
    assert_memory_equal(out, hdr, 8);
}

/* [FRAME-1] a frame is its header and exactly its payload; no byte is written past outlen */
static void test_frame_encode_noroom(void **state)
{
    struct parley_frame_header h = {PARLEY_OP_PING, 0, 1, 3};
    uint8_t out[16];
    (void)state;

    for (size_t n = 0; n < 11; n++) {
        memset(out, 0xaa, sizeof out);
        assert_int_equal(parley_frame_encode(out, n, &h, (const uint8_t *)"abc"), PARLEY_E_NOROOM);
    }
    assert_int_equal(parley_frame_encode(out, 11, &h, (const uint8_t *)"abc"), 11);
    assert_memory_equal(out, "\x02\x00\x00\x01\x00\x00\x00\x03" "abc", 11);
}

/* [FRAME-9] corners of the check order that the vectors leave open */
static void test_header_check_order(void **state)
{
    struct parley_frame_header h;
    (void)state;

    /* [FRAME-4] ABORT with a payload is decided before [FRAME-7] the opcode */
    h = (struct parley_frame_header){200, PARLEY_FLAG_ABORT, 1, 1};
    assert_int_equal(parley_frame_header_check(&h, 0), PARLEY_E_MALFORMED);
    /* [FRAME-6] COMPRESSED only once a compression setting is in force */
    h = (struct parley_frame_header){2, PARLEY_FLAG_COMPRESSED, 1, 0};
    assert_int_equal(parley_frame_header_check(&h, 0), PARLEY_E_BAD_FLAGS);
    assert_int_equal(parley_frame_header_check(&h, 1), 0);
    /* [TAG-3] MORE on tag 0 on an assigned draft opcode */
    h = (struct parley_frame_header){PARLEY_OP_RELAY, PARLEY_FLAG_MORE, 0, 4};
    assert_int_equal(parley_frame_header_check(&h, 0), PARLEY_E_BAD_FRAGMENT);
    /* ABORT on tag 0 passes the header checks (it is then ignored, [FRAG-7]) */
    h = (struct parley_frame_header){2, PARLEY_FLAG_ABORT, 0, 0};
    assert_int_equal(parley_frame_header_check(&h, 0), 0);
    /* [FRAME-2] exactly FRAME_MAX_PAYLOAD is fine, one more is not */
    h = (struct parley_frame_header){2, 0, 1, PARLEY_FRAME_MAX_PAYLOAD};
    assert_int_equal(parley_frame_header_check(&h, 0), 0);
    h.length++;
    assert_int_equal(parley_frame_header_check(&h, 0), PARLEY_E_FRAME_TOO_LARGE);
}

/* [REC-5] an overrun leaves the cursor where it was; whole frames are counted */
static void test_plaintext_split(void **state)
{
    static const uint8_t two[] = {2, 0, 0, 1, 0, 0, 0, 1, 'x', 10, 0, 0, 0, 0, 0, 0, 0};
    struct parley_rd r;
    struct parley_frame f;
    (void)state;

    assert_int_equal(parley_plaintext_check(two, sizeof two), 2);
    assert_int_equal(parley_plaintext_check(two, 0), 0);
    for (size_t n = 1; n < sizeof two; n++)
        if (n != 9)
            assert_int_equal(parley_plaintext_check(two, n), PARLEY_E_FRAME_OVERRUN);
    rd_init(&r, two, sizeof two - 1);
    assert_int_equal(parley_plaintext_next(&r, &f), 1);
    assert_ptr_equal(f.payload, two + 8); /* points into the record, no copy */
    assert_int_equal(r.pos, 9);
    assert_int_equal(parley_plaintext_next(&r, &f), PARLEY_E_FRAME_OVERRUN);
    assert_int_equal(r.pos, 9);
}

static size_t zlib_of(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    uLongf n = (uLongf)cap;
    assert_int_equal(compress2(out, &n, in, (uLong)len, Z_DEFAULT_COMPRESSION), Z_OK);
    return n;
}

/* [OPT-6] inflation stops at the cap; what is not one whole zlib stream fails */
static void test_inflate(void **state)
{
    uint8_t plain[3000], z[4000], out[3000];
    size_t zn, n;
    (void)state;

    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)(i * 7);
    zn = zlib_of(plain, sizeof plain, z, sizeof z);

    assert_int_equal(parley_inflate(z, zn, NULL, sizeof plain, &n), 0); /* measuring */
    assert_int_equal(n, sizeof plain);
    assert_int_equal(parley_inflate(z, zn, out, sizeof out, &n), 0);
    assert_int_equal(n, sizeof plain);
    assert_memory_equal(out, plain, sizeof plain);
    assert_int_equal(parley_inflate(z, zn, out, sizeof plain - 1, &n),
                     PARLEY_E_MESSAGE_TOO_LARGE);
    assert_int_equal(parley_inflate(z, zn, NULL, sizeof plain - 1, &n),
                     PARLEY_E_MESSAGE_TOO_LARGE);
    assert_int_equal(n, 0);

    z[zn] = 0; /* a byte after the stream */
    assert_int_equal(parley_inflate(z, zn + 1, out, sizeof out, &n),
                     PARLEY_E_DECOMPRESSION_FAILED);
    for (size_t cut = 0; cut < zn; cut += 97) /* any truncation */
        assert_int_equal(parley_inflate(z, cut, out, sizeof out, &n),
                         PARLEY_E_DECOMPRESSION_FAILED);
    z[zn / 2] ^= 0x55; /* corrupted data or checksum */
    assert_int_equal(parley_inflate(z, zn, out, sizeof out, &n), PARLEY_E_DECOMPRESSION_FAILED);

    zn = zlib_of(plain, 0, z, sizeof z); /* the empty message compresses too */
    assert_int_equal(parley_inflate(z, zn, out, 0, &n), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_short_buffers),
        cmocka_unit_test(test_frame_encode_noroom),
        cmocka_unit_test(test_header_check_order),
        cmocka_unit_test(test_plaintext_split),
        cmocka_unit_test(test_inflate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
