/*
 * fuzz_handshake.c - attacks the Noise XX exchange over the framing of spec §2.1
 * (spec/02-handshake.md): parley_hs_read for each message a responder (1 and 3) or an
 * initiator (2) receives, with parley_hs_write, parley_hs_finish and the key log between.
 *
 * Why: message 1 comes from anyone who completed a preface, and messages 2 and 3 carry
 * attacker-chosen keys and a payload of up to 65471 bytes; the Noise code parses tokens by
 * offset and mixes every byte into the handshake hash that later authenticates the
 * session. In the fuzzing build decryption accepts any ciphertext (plaintext = its first
 * len-16 bytes), so the fuzzer reaches the DH steps and the identity payload. Checks:
 *  - the verdict of every read equals a model of §2.1, [HS-1], [HS-3], [HS-4] and §2.2's
 *    order (length, then small-order keys, then the payload), and a frame one byte short
 *    is TRUNCATED without any change of state;
 *  - offsets: remote static key, initiator ephemeral key and the payload are exactly the
 *    bytes the XX pattern puts them at; the payload re-encodes to itself;
 *  - differential: the handshake hash equals SHA-256 chained here over the prologue and
 *    every token's bytes (Noise §5.2 MixHash), independently of noise.c;
 *  - a failed handshake is FAILED for good; read and write out of turn give STATE;
 *  - once done, Split gives keys and the key log names the initiator's ephemeral key.
 *
 * Input: byte 0 bit 0 = we are the initiator, bit 1 = the prologue comes from the input
 * (u8 length, bytes), else HELLO [1] || ACCEPT 1; then the bytes the other side sends.
 */
#include "crypto.h"
#include "fuzz_common.h"

static struct parley_hs hs;
static uint8_t own_payload[PARLEY_IDENTITY_FIXED_LEN], static_sk[32], own_id[32];
static uint8_t out[PARLEY_NOISE_MSG_MAX + 2];

static void setup(void)
{
    static int done;
    struct parley_identity id;
    uint8_t pk[32], sk[64], seed[32] = {42}, static_pk[32];

    if (done)
        return;
    done = 1;
    crypto_sign_seed_keypair(pk, sk, seed);
    memset(static_sk, 7, sizeof static_sk);
    crypto_scalarmult_base(static_pk, static_sk);
    memset(&id, 0, sizeof id);
    id.max_tags = 1024, id.max_message = 16777216u, id.reassembly_budget = 33554432u;
    FUZZ_CHECK(parley_identity_sign(&id, sk, static_pk) == 0);
    FUZZ_CHECK(parley_identity_encode(&id, own_payload, sizeof own_payload) ==
               PARLEY_IDENTITY_FIXED_LEN);
    memcpy(own_id, pk, 32);
}

/* The transcript hash, Noise MixHash: h = SHA-256(h || data). */
static void mix(uint8_t h[32], const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h, 32);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, h);
}

/* X25519 output is zero for a small-order point, whatever the (clamped) scalar. */
static int small_order(const uint8_t pk[32])
{
    static const uint8_t k[32] = {9, 9, 9};
    uint8_t dh[32];

    return crypto_scalarmult(dh, k, pk) != 0;
}

static int model_identity(const uint8_t *p, size_t len)
{
    struct parley_identity id;
    int rc = parley_identity_decode(&id, p, len);

    if (rc != 0)
        return rc;
    if (id.max_tags < 256 || id.max_message < 1048576u || id.reassembly_budget < id.max_message)
        return PARLEY_E_LIMITS_BELOW_FLOOR;
    if (memcmp(id.identity_key, own_id, 32) == 0)
        return PARLEY_E_REFLECTION;
    return 0;
}

/* Reads the next message as hs does and checks it against the model. Returns the bytes
 * consumed, or -1 when the handshake stopped (failed, or input ended). */
static int read_one(int msg, const uint8_t *in, size_t len, uint8_t h[32])
{
    enum parley_hs_step before = parley_hs_next(&hs);
    size_t mlen, min = msg == 0 ? 32 : msg == 1 ? 96 + 114 : 64 + 114;
    const uint8_t *m;
    int rc, want;

    FUZZ_CHECK(before == PARLEY_HS_READ);
    if (len < 2) {
        FUZZ_CHECK(parley_hs_read(&hs, in, len) == PARLEY_E_TRUNCATED);
        FUZZ_CHECK(parley_hs_next(&hs) == before);
        return -1;
    }
    mlen = (size_t)in[0] << 8 | in[1];
    m = in + 2;
    if (msg == 0 ? mlen != 32 : mlen < min) { /* [HS-1], [HS-3], before the bytes arrive */
        FUZZ_CHECK(parley_hs_read(&hs, in, len) == PARLEY_E_HANDSHAKE_FAILED);
        FUZZ_CHECK(parley_hs_next(&hs) == PARLEY_HS_FAILED);
        return -1;
    }
    /* One byte short: TRUNCATED, and nothing changed. */
    FUZZ_CHECK(parley_hs_read(&hs, in, (len < 2 + mlen ? len : 2 + mlen - 1)) ==
               PARLEY_E_TRUNCATED);
    FUZZ_CHECK(parley_hs_next(&hs) == before);
    if (len < 2 + mlen)
        return -1;

    /* The model of this message: tokens at their offsets, then the payload. */
    want = 0;
    if (msg == 0) { /* -> e; empty payload */
        mix(h, m, 32);
        mix(h, m + 32, 0);
    } else if (msg == 1) { /* <- e, ee, s, es; payload at 80 */
        if (small_order(m))
            want = PARLEY_E_HANDSHAKE_FAILED; /* [HS-4] ee */
        else if (small_order(m + 32))
            want = PARLEY_E_HANDSHAKE_FAILED; /* [HS-4] es */
        else
            want = model_identity(m + 80, mlen - 96);
        mix(h, m, 32);
        mix(h, m + 32, 48);
        mix(h, m + 80, mlen - 80);
    } else { /* -> s, se; payload at 48 */
        if (small_order(m))
            want = PARLEY_E_HANDSHAKE_FAILED; /* [HS-4] se */
        else
            want = model_identity(m + 48, mlen - 64);
        mix(h, m, 48);
        mix(h, m + 48, mlen - 48);
    }
    rc = parley_hs_read(&hs, in, len);
    if (want != 0) {
        FUZZ_CHECK(rc == want);
        FUZZ_CHECK(parley_hs_next(&hs) == PARLEY_HS_FAILED);
        FUZZ_CHECK(parley_hs_read(&hs, in, len) == PARLEY_E_STATE);
        FUZZ_CHECK(parley_hs_write(&hs, out, sizeof out) == PARLEY_E_STATE);
        return -1;
    }
    FUZZ_CHECK(rc == (int)(2 + mlen));
    if (msg == 0) {
        FUZZ_CHECK(memcmp(hs.initiator_ephemeral, m, 32) == 0);
    } else {
        const uint8_t *rs = m + (msg == 1 ? 32 : 0), *p = m + (msg == 1 ? 80 : 48);
        size_t plen = mlen - (msg == 1 ? 96 : 64);
        FUZZ_CHECK(memcmp(hs.remote_static, rs, 32) == 0);
        FUZZ_CHECK(hs.payload_len == plen && memcmp(hs.payload, p, plen) == 0);
        FUZZ_CHECK(parley_identity_encode(&hs.remote, out, sizeof out) == (int)plen);
        FUZZ_CHECK(memcmp(out, p, plen) == 0);
    }
    return rc;
}

/* Writes our next message; its bytes go into the model hash. Returns -1 when the
 * handshake failed (message 2: the initiator's ephemeral key is of small order). */
static int write_one(int msg, uint8_t h[32])
{
    int small = msg == 1 && small_order(hs.initiator_ephemeral), n;

    FUZZ_CHECK(parley_hs_read(&hs, out, sizeof out) == PARLEY_E_STATE); /* not our turn */
    n = parley_hs_write(&hs, out, sizeof out);
    if (small) { /* [HS-4] ee and es */
        FUZZ_CHECK(n == PARLEY_E_HANDSHAKE_FAILED);
        FUZZ_CHECK(parley_hs_next(&hs) == PARLEY_HS_FAILED);
        return -1;
    }
    if (msg == 0) {
        FUZZ_CHECK(n == 2 + 32);
        mix(h, out + 2, 32);
        mix(h, out + 34, 0);
        FUZZ_CHECK(memcmp(hs.initiator_ephemeral, out + 2, 32) == 0);
    } else if (msg == 1) {
        FUZZ_CHECK(n == (int)(2 + 96 + sizeof own_payload));
        mix(h, out + 2, 32);
        mix(h, out + 34, 48);
        mix(h, out + 82, (size_t)n - 82);
    } else {
        FUZZ_CHECK(n == (int)(2 + 64 + sizeof own_payload));
        mix(h, out + 2, 48);
        mix(h, out + 50, (size_t)n - 50);
    }
    FUZZ_CHECK(((size_t)out[0] << 8 | out[1]) == (size_t)n - 2);
    return 0;
}

static void finish(const uint8_t h[32])
{
    struct parley_records rec;
    char lines[PARLEY_KEYLOG_LINES_LEN + 1], hex[65];

    FUZZ_CHECK(parley_hs_next(&hs) == PARLEY_HS_DONE);
    FUZZ_CHECK(memcmp(hs.handshake_hash, h, 32) == 0); /* the transcript, independently */
    FUZZ_CHECK(parley_records_init(&rec, &hs) == 0);
    FUZZ_CHECK(parley_hs_finish(&hs, &rec.send, &rec.recv) == PARLEY_E_STATE); /* Split once */
    FUZZ_CHECK(rec.send.has_key && rec.recv.has_key && rec.send.n == 0 && rec.recv.n == 0);
    FUZZ_CHECK(memcmp(rec.send.k, rec.recv.k, 32) != 0);
    FUZZ_CHECK(parley_keylog_lines(lines, sizeof lines, hs.initiator_ephemeral, &rec) ==
               PARLEY_KEYLOG_LINES_LEN);
    sodium_bin2hex(hex, sizeof hex, hs.initiator_ephemeral, 32);
    FUZZ_CHECK(strncmp(lines, "PARLEY_I2R ", 11) == 0 && memcmp(lines + 11, hex, 64) == 0);
    FUZZ_CHECK(parley_keylog_lines(lines, PARLEY_KEYLOG_LINES_LEN, hs.initiator_ephemeral, &rec) ==
               PARLEY_E_NOROOM);
    parley_records_wipe(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t default_prologue[17] = {'P', 'A', 'R', 'L', 'E', 'Y', 1, 1, 1,
                                                 'P', 'A', 'R', 'L', 'E', 'Y', 2, 1};
    uint8_t h[32] = "Noise_XX_25519_ChaChaPoly_SHA256"; /* 32 bytes: h = name, unpadded */
    const uint8_t *prologue = default_prologue, *in;
    size_t plen = sizeof default_prologue, len;
    struct fuzz_in fi;
    int initiator, n;
    uint8_t mode;

    fuzz_init();
    setup();
    fuzz_rng_reset(1);
    fi_init(&fi, data, size);
    mode = fi_u8(&fi);
    initiator = mode & 1;
    if (mode & 2)
        prologue = fi_bytes(&fi, fi_u8(&fi), &plen);
    in = fi_bytes(&fi, fi_left(&fi), &len);

    FUZZ_CHECK(parley_hs_init(&hs, initiator, prologue, plen, static_sk, own_payload,
                              sizeof own_payload) == 0);
    mix(h, prologue, plen); /* [HS-2] */
    if (initiator) {
        (void)write_one(0, h);
        if ((n = read_one(1, in, len, h)) < 0)
            goto out;
        (void)write_one(2, h);
    } else {
        if ((n = read_one(0, in, len, h)) < 0)
            goto out;
        in += n, len -= (size_t)n;
        if (write_one(1, h) < 0)
            goto out;
        if ((n = read_one(2, in, len, h)) < 0)
            goto out;
    }
    finish(h);
    FUZZ_CHECK(parley_hs_read(&hs, in, len) == PARLEY_E_STATE); /* done: no more messages */
out:
    parley_hs_wipe(&hs);
    return 0;
}
