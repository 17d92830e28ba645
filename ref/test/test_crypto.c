/*
 * test_crypto.c - the Noise layer against the public cacophony vector, and records
 * (spec/03-records.md): sealing, opening, replay, nonce exhaustion, wiping, the key log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"
#include "vec.h"

#define assert_err(rc, name) assert_string_equal(parley_err_name(rc), name)

static void hex_field(const cJSON *obj, const char *key, uint8_t *out, size_t cap, size_t *len)
{
    *len = vec_hex(vec_str(obj, key), out, cap);
    assert_true(*len != (size_t)-1);
}

/* [HS-1] our Noise XX reproduces the public cacophony vector byte for byte: messages,
 * payloads, handshake hash, and transport messages after Split. */
static void test_cacophony(void **state)
{
    cJSON *root = vec_load("noise-xx-cacophony");
    const cJSON *v;
    int cases = 0;

    (void)state;
    assert_string_equal(vec_str(root, "protocol_name"), PARLEY_NOISE_PROTOCOL);
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(root, "vectors"))
    {
        static uint8_t msg[PARLEY_NOISE_MSG_MAX], want[PARLEY_NOISE_MSG_MAX];
        static uint8_t payload[PARLEY_NOISE_MSG_MAX], got[PARLEY_NOISE_MSG_MAX];
        uint8_t pro_i[256], pro_r[256], key[32], h[32];
        size_t lpi, lpr, lk, lp, lw;
        struct parley_noise ini, resp;
        struct parley_cipher c[2][2]; /* [side][0 = c1, 1 = c2] */
        const cJSON *m;
        int i = 0, n;

        if (strcmp(vec_str(v, "protocol_name"), PARLEY_NOISE_PROTOCOL) != 0)
            continue;
        hex_field(v, "init_prologue", pro_i, sizeof pro_i, &lpi);
        hex_field(v, "resp_prologue", pro_r, sizeof pro_r, &lpr);
        hex_field(v, "init_static", key, sizeof key, &lk);
        parley_noise_init(&ini, 1, pro_i, lpi, key);
        hex_field(v, "init_ephemeral", key, sizeof key, &lk);
        assert_int_equal(parley_noise_set_ephemeral_for_test(&ini, key), 0);
        hex_field(v, "resp_static", key, sizeof key, &lk);
        parley_noise_init(&resp, 0, pro_r, lpr, key);
        hex_field(v, "resp_ephemeral", key, sizeof key, &lk);
        assert_int_equal(parley_noise_set_ephemeral_for_test(&resp, key), 0);

        cJSON_ArrayForEach(m, cJSON_GetObjectItem(v, "messages"))
        {
            int from_init = i % 2 == 0; /* messages alternate, the initiator first */
            hex_field(m, "payload", payload, sizeof payload, &lp);
            hex_field(m, "ciphertext", want, sizeof want, &lw);
            if (i < 3) {
                n = parley_noise_write(from_init ? &ini : &resp, payload, lp, msg, sizeof msg);
                assert_int_equal(n, (int)lw);
                assert_memory_equal(msg, want, lw);
                n = parley_noise_read(from_init ? &resp : &ini, msg, lw, got, sizeof got);
                assert_int_equal(n, (int)lp);
                assert_memory_equal(got, payload, lp);
                if (i == 2) {
                    hex_field(v, "handshake_hash", h, sizeof h, &lk);
                    assert_memory_equal(ini.ss.h, h, 32);
                    assert_memory_equal(resp.ss.h, h, 32);
                    assert_int_equal(parley_noise_split(&ini, &c[0][0], &c[0][1]), 0);
                    assert_int_equal(parley_noise_split(&resp, &c[1][0], &c[1][1]), 0);
                }
            } else {
                /* The initiator sends with c1, the responder with c2. */
                struct parley_cipher *tx = from_init ? &c[0][0] : &c[1][1];
                struct parley_cipher *rx = from_init ? &c[1][0] : &c[0][1];
                assert_int_equal(parley_cipher_encrypt(tx, NULL, 0, payload, lp, msg), 0);
                assert_memory_equal(msg, want, lw);
                assert_int_equal(parley_cipher_decrypt(rx, NULL, 0, msg, lw, got), 0);
                assert_memory_equal(got, payload, lp);
            }
            i++;
        }
        assert_true(i >= 3);
        cases++;
    }
    printf("noise-xx-cacophony.json: %d cases\n", cases);
    assert_true(cases > 0);
    cJSON_Delete(root);
}

/* [HS-12] two handshakes never share an ephemeral key. */
static void test_ephemeral_is_fresh(void **state)
{
    struct parley_noise a, b;
    uint8_t s[32] = {7};

    (void)state;
    parley_noise_init(&a, 1, NULL, 0, s);
    parley_noise_init(&b, 1, NULL, 0, s);
    assert_memory_not_equal(a.e_pk, b.e_pk, 32);
    assert_memory_equal(a.s_pk, b.s_pk, 32);
}

/* The test-only ephemeral override is refused once the ephemeral has been sent [HS-12]. */
static void test_ephemeral_fixed_only_before_use(void **state)
{
    struct parley_noise a;
    uint8_t s[32] = {7}, msg[64];

    (void)state;
    parley_noise_init(&a, 1, NULL, 0, s);
    assert_int_equal(parley_noise_write(&a, NULL, 0, msg, sizeof msg), 32);
    assert_err(parley_noise_set_ephemeral_for_test(&a, s), "STATE");
    assert_err(parley_noise_write(&a, NULL, 0, msg, sizeof msg), "STATE"); /* not our turn */
}

/* ------------------------------------------------------------------ records */

static void cipher_pair(struct parley_cipher *tx, struct parley_cipher *rx, uint8_t fill)
{
    uint8_t k[32];

    memset(k, fill, sizeof k);
    parley_cipher_init(tx, k, 0);
    parley_cipher_init(rx, k, 0);
}

/* [REC-1] a sealed record opens with the same key and counter, both advance by one. */
static void test_record_roundtrip(void **state)
{
    struct parley_cipher tx, rx;
    uint8_t pt[64], rec[128], out[64];
    size_t outlen = 0;
    int n;

    (void)state;
    cipher_pair(&tx, &rx, 0x11);
    memset(pt, 0xab, sizeof pt);
    for (int i = 0; i < 3; i++) {
        n = parley_record_seal(&tx, pt, 8 + (size_t)i, rec, sizeof rec);
        assert_int_equal(n, 2 + 8 + i + 16);
        assert_int_equal(parley_record_open(&rx, rec, (size_t)n, out, sizeof out, &outlen), n);
        assert_int_equal(outlen, 8 + (size_t)i);
        assert_memory_equal(out, pt, outlen);
    }
    assert_int_equal(tx.n, 3);
    assert_int_equal(rx.n, 3);
}

/* [REC-2] a length below 24 fails as soon as the two length bytes are in. */
static void test_record_length_below_min(void **state)
{
    struct parley_cipher rx;
    uint8_t rec[2] = {0, 23}, out[64];
    size_t outlen;

    (void)state;
    cipher_pair(&rx, &rx, 1);
    assert_err(parley_record_open(&rx, rec, 2, out, sizeof out, &outlen), "RECORD_LENGTH");
    rec[1] = 0;
    assert_err(parley_record_open(&rx, rec, 2, out, sizeof out, &outlen), "RECORD_LENGTH");
    rec[1] = 24; /* valid length: now it waits for the ciphertext */
    assert_err(parley_record_open(&rx, rec, 2, out, sizeof out, &outlen), "TRUNCATED");
    assert_err(parley_record_open(&rx, rec, 1, out, sizeof out, &outlen), "TRUNCATED");
}

/* [REC-3] a flipped bit, a replayed record, a reordered record and the other direction's
 * key all fail authentication. */
static void test_record_auth_failures(void **state)
{
    struct parley_cipher tx, rx, other;
    uint8_t pt[16] = {0}, r1[64], r2[64], out[64];
    size_t outlen;
    int n1, n2;

    (void)state;
    cipher_pair(&tx, &rx, 0x22);
    n1 = parley_record_seal(&tx, pt, sizeof pt, r1, sizeof r1);
    n2 = parley_record_seal(&tx, pt, sizeof pt, r2, sizeof r2);
    /* reordered: record 2 tried with nonce 0 */
    assert_err(parley_record_open(&rx, r2, (size_t)n2, out, sizeof out, &outlen), "RECORD_AUTH");
    assert_int_equal(rx.n, 0); /* a failure does not advance the counter */
    assert_int_equal(parley_record_open(&rx, r1, (size_t)n1, out, sizeof out, &outlen), n1);
    /* replayed: record 1 tried with nonce 1 */
    assert_err(parley_record_open(&rx, r1, (size_t)n1, out, sizeof out, &outlen), "RECORD_AUTH");
    /* flipped bit */
    r2[5] ^= 0x01;
    assert_err(parley_record_open(&rx, r2, (size_t)n2, out, sizeof out, &outlen), "RECORD_AUTH");
    r2[5] ^= 0x01;
    assert_int_equal(parley_record_open(&rx, r2, (size_t)n2, out, sizeof out, &outlen), n2);
    /* the other direction's key */
    cipher_pair(&other, &other, 0x33);
    assert_int_equal(parley_record_seal(&other, pt, sizeof pt, r1, sizeof r1), n1);
    rx.n = 0;
    assert_err(parley_record_open(&rx, r1, (size_t)n1, out, sizeof out, &outlen), "RECORD_AUTH");
}

/* [REC-6] the sender refuses to seal once the counter would reach 2^64-1. */
static void test_record_nonce_exhaustion(void **state)
{
    struct parley_cipher tx, rx;
    uint8_t pt[8] = {0}, rec[64], out[64];
    size_t outlen;
    int n;

    (void)state;
    cipher_pair(&tx, &rx, 0x44);
    tx.n = rx.n = UINT64_MAX - 2;
    n = parley_record_seal(&tx, pt, sizeof pt, rec, sizeof rec);
    assert_int_equal(n, 26);
    assert_int_equal(parley_record_open(&rx, rec, (size_t)n, out, sizeof out, &outlen), n);
    assert_true(tx.n == UINT64_MAX - 1);
    assert_err(parley_record_seal(&tx, pt, sizeof pt, rec, sizeof rec), "STATE");
    assert_true(tx.n == UINT64_MAX - 1);
    /* The reserved nonce itself is never used in either direction (Noise §5.1). */
    tx.n = UINT64_MAX;
    assert_err(parley_cipher_encrypt(&tx, NULL, 0, pt, sizeof pt, rec), "STATE");
    rx.n = UINT64_MAX;
    assert_err(parley_record_open(&rx, rec, (size_t)n, out, sizeof out, &outlen), "STATE");
}

/* Seal refuses what could not be a valid record, and says "no room" instead of overrunning. */
static void test_record_seal_bounds(void **state)
{
    static uint8_t pt[PARLEY_RECORD_MAX], rec[PARLEY_RECORD_MAX + 2];
    struct parley_cipher tx, rx;
    size_t outlen;

    (void)state;
    cipher_pair(&tx, &rx, 0x55);
    assert_err(parley_record_seal(&tx, pt, 7, rec, sizeof rec), "STATE"); /* [REC-2] */
    assert_err(parley_record_seal(&tx, pt, 65520, rec, sizeof rec), "STATE");
    assert_err(parley_record_seal(&tx, pt, 8, rec, 25), "NOROOM");
    assert_int_equal(tx.n, 0);
    assert_int_equal(parley_record_seal(&tx, pt, 65519, rec, sizeof rec), 65537);
    assert_err(parley_record_open(&rx, rec, 65537, pt, 65518, &outlen), "NOROOM");
    assert_int_equal(parley_record_open(&rx, rec, 65537, pt, 65519, &outlen), 65537);
}

/* [REC-8] keys are wiped on close. */
static void test_record_wipe(void **state)
{
    struct parley_records rec;
    static const uint8_t zero[PARLEY_KEY_LEN];

    (void)state;
    cipher_pair(&rec.send, &rec.recv, 0x66);
    rec.initiator = 1;
    parley_records_wipe(&rec);
    assert_memory_equal(rec.send.k, zero, sizeof zero);
    assert_memory_equal(rec.recv.k, zero, sizeof zero);
    assert_false(rec.send.has_key || rec.recv.has_key);
}

/* [KEYLOG-1] the two lines of §3.3, I2R with c1 and R2I with c2, from either side. */
static void test_keylog_lines(void **state)
{
    struct parley_records ini, resp;
    uint8_t ie[32];
    char a[PARLEY_KEYLOG_LINES_LEN + 1], b[PARLEY_KEYLOG_LINES_LEN + 1];
    char want[PARLEY_KEYLOG_LINES_LEN + 1], e64[65], k1[65], k2[65];

    (void)state;
    memset(ie, 0xee, sizeof ie);
    cipher_pair(&ini.send, &resp.recv, 0x01); /* c1 */
    cipher_pair(&ini.recv, &resp.send, 0x02); /* c2 */
    ini.initiator = 1;
    resp.initiator = 0;
    for (int i = 0; i < 64; i++) {
        e64[i] = 'e';
        k1[i] = i % 2 ? '1' : '0';
        k2[i] = i % 2 ? '2' : '0';
    }
    e64[64] = k1[64] = k2[64] = '\0';
    snprintf(want, sizeof want, "PARLEY_I2R %s %s\nPARLEY_R2I %s %s\n", e64, k1, e64, k2);
    assert_int_equal(parley_keylog_lines(a, sizeof a, ie, &ini), PARLEY_KEYLOG_LINES_LEN);
    assert_int_equal(parley_keylog_lines(b, sizeof b, ie, &resp), PARLEY_KEYLOG_LINES_LEN);
    assert_string_equal(a, want);
    assert_string_equal(b, want);
    assert_err(parley_keylog_lines(a, sizeof a - 1, ie, &ini), "NOROOM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cacophony),
        cmocka_unit_test(test_ephemeral_is_fresh),
        cmocka_unit_test(test_ephemeral_fixed_only_before_use),
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_length_below_min),
        cmocka_unit_test(test_record_auth_failures),
        cmocka_unit_test(test_record_nonce_exhaustion),
        cmocka_unit_test(test_record_seal_bounds),
        cmocka_unit_test(test_record_wipe),
        cmocka_unit_test(test_keylog_lines),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
