/*
 * fuzz_plaintext.c - attacks record plaintext framing (spec/03-records.md §3.1, [REC-5],
 * [FRAME-1]) and the record layer around it: parley_plaintext_next / _check,
 * parley_record_open (length checks before the AEAD) and parley_record_seal.
 *
 * Why: the splitter walks attacker-controlled u32 lengths through a plaintext of up to
 * 65519 bytes, and [REC-5] says the whole plaintext is checked before any frame acts; an
 * off-by-one here either overruns or lets a frame span two records. Checks:
 *  - parley_plaintext_check's count equals a walk with parley_plaintext_next, which leaves
 *    the cursor unchanged on FRAME_OVERRUN;
 *  - round trip: the frames re-encoded with parley_frame_encode are the input's bytes, up
 *    to where the overrun starts (all of them when valid);
 *  - the input wrapped in a record (u16 length, plaintext, 16 tag bytes) opens in the
 *    fuzzing build to exactly the input, RECORD_LENGTH below 24, TRUNCATED when short;
 *  - the input read as record bytes: consumed = 2 + length, or the documented error;
 *  - sealing with a real key decrypts (libsodium directly) to the same plaintext.
 */
#include "codec.h"
#include "crypto.h"
#include "fuzz_common.h"

#define PT_MAX (PARLEY_RECORD_MAX - PARLEY_AEAD_TAG_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[2 + PARLEY_RECORD_MAX + 64], pt[PARLEY_RECORD_MAX + 64];
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct parley_cipher cs;
    struct parley_rd r;
    struct parley_frame f;
    size_t enc = 0, ptlen = 0;
    int n = 0, rc, total;

    fuzz_init();

    /* The walk, the count, and the re-encoding. */
    total = parley_plaintext_check(data, size);
    rd_init(&r, data, size);
    while ((rc = parley_plaintext_next(&r, &f)) == 1) {
        int k = parley_frame_encode(buf, sizeof buf, &f.h, f.payload);
        n++;
        FUZZ_CHECK(k == (int)(PARLEY_FRAME_HEADER_LEN + f.h.length));
        FUZZ_CHECK(memcmp(buf, data + enc, (size_t)k) == 0);
        enc += (size_t)k;
        FUZZ_CHECK(r.pos == enc);
    }
    if (rc == 0) {
        FUZZ_CHECK(total == n);
        FUZZ_CHECK(enc == size);
    } else {
        size_t at = r.pos;
        FUZZ_CHECK(rc == PARLEY_E_FRAME_OVERRUN);
        FUZZ_CHECK(total == PARLEY_E_FRAME_OVERRUN);
        FUZZ_CHECK(parley_plaintext_next(&r, &f) == PARLEY_E_FRAME_OVERRUN);
        FUZZ_CHECK(r.pos == at); /* left unchanged */
        FUZZ_CHECK(size - at < PARLEY_FRAME_HEADER_LEN ||
                   ((size_t)data[at + 4] << 24 | (size_t)data[at + 5] << 16 |
                    (size_t)data[at + 6] << 8 | data[at + 7]) >
                       size - at - PARLEY_FRAME_HEADER_LEN);
    }

    /* The input as a record plaintext: the length field, then the fuzzing build's AEAD. */
    if (size <= PT_MAX) {
        size_t clen = size + PARLEY_AEAD_TAG_LEN, rec = 2 + clen;
        buf[0] = (uint8_t)(clen >> 8);
        buf[1] = (uint8_t)clen;
        if (size > 0)
            memcpy(buf + 2, data, size);
        memset(buf + 2 + size, 0xA5, PARLEY_AEAD_TAG_LEN);
        parley_cipher_init(&cs, key, 7);
        rc = parley_record_open(&cs, buf, rec, pt, sizeof pt, &ptlen);
        if (clen < PARLEY_RECORD_MIN) {
            FUZZ_CHECK(rc == PARLEY_E_RECORD_LENGTH); /* [REC-2] */
            FUZZ_CHECK(cs.n == 7);
        } else {
            FUZZ_CHECK(rc == (int)rec);
            FUZZ_CHECK(ptlen == size && memcmp(pt, data, size) == 0);
            FUZZ_CHECK(cs.n == 8);
            parley_cipher_init(&cs, key, 7);
            FUZZ_CHECK(parley_record_open(&cs, buf, rec - 1, pt, sizeof pt, &ptlen) ==
                       PARLEY_E_TRUNCATED);
            FUZZ_CHECK(parley_record_open(&cs, buf, rec, pt, size - 1, &ptlen) == PARLEY_E_NOROOM);
            FUZZ_CHECK(cs.n == 7);
        }

        /* Seal with a real key; libsodium opens it. */
        parley_cipher_init(&cs, key, 7);
        rc = parley_record_seal(&cs, data, size, buf, sizeof buf);
        if (size < PARLEY_RECORD_MIN - PARLEY_AEAD_TAG_LEN) {
            FUZZ_CHECK(rc == PARLEY_E_STATE);
        } else {
            uint8_t nonce[12] = {0, 0, 0, 0, 7};
            unsigned long long m = 0;
            FUZZ_CHECK(rc == (int)(2 + size + PARLEY_AEAD_TAG_LEN));
            FUZZ_CHECK(((size_t)buf[0] << 8 | buf[1]) == size + PARLEY_AEAD_TAG_LEN);
            FUZZ_CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(pt, &m, NULL, buf + 2,
                                                                 size + PARLEY_AEAD_TAG_LEN, NULL,
                                                                 0, nonce, key) == 0);
            FUZZ_CHECK(m == size && memcmp(pt, data, size) == 0);
            FUZZ_CHECK(parley_record_seal(&cs, data, size, buf, (size_t)rc - 1) == PARLEY_E_NOROOM);
        }
    }

    /* The input as received record bytes. */
    parley_cipher_init(&cs, key, 0);
    rc = parley_record_open(&cs, data, size, pt, sizeof pt, &ptlen);
    if (size < 2) {
        FUZZ_CHECK(rc == PARLEY_E_TRUNCATED);
    } else {
        size_t clen = (size_t)data[0] << 8 | data[1];
        if (clen < PARLEY_RECORD_MIN)
            FUZZ_CHECK(rc == PARLEY_E_RECORD_LENGTH);
        else if (size < 2 + clen)
            FUZZ_CHECK(rc == PARLEY_E_TRUNCATED);
        else
            FUZZ_CHECK(rc == (int)(2 + clen) && ptlen == clen - PARLEY_AEAD_TAG_LEN &&
                       memcmp(pt, data + 2, ptlen) == 0);
    }
    return 0;
}
