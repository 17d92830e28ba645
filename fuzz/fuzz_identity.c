/*
 * fuzz_identity.c - attacks the identity payload (spec/02-handshake.md §2.2) and strict
 * Ed25519 (§2.4): parley_identity_decode / _encode / _validate, the extension TLV walker,
 * and parley_ed25519_verify.
 *
 * Why: the identity payload is the first structured data a peer decrypts from a stranger,
 * its TLVs run to the end of a buffer of up to 65471 bytes, and the signature rules decide
 * who a peer is. In the fuzzing build parley_identity_validate does not check the
 * signature, so this target calls parley_ed25519_verify directly, with real keys:
 *  - round trip: a payload that decodes re-encodes to the same bytes, and its TLVs walked
 *    one by one are exactly its extension bytes;
 *  - differential: parley_identity_validate's verdict equals a model of §2.2's order
 *    (layout, limits, reflection; the signature is skipped in this build);
 *  - differential: parley_ed25519_verify accepts only what libsodium's
 *    crypto_sign_verify_detached accepts ([ID-5] is the same equation), and rejects
 *    non-canonical S with rule ID-1;
 *  - a signature the harness makes with a key derived from the input always verifies, and
 *    with any one byte of key, signature or message changed it never does.
 *
 * Input: byte 0 = mode (bit 0: sign with a key from the payload's first 32 bytes; bits
 * 1..: which byte to flip), byte 1 = the flip mask, 32 bytes remote_static, 32 bytes
 * own_identity, then the payload.
 */
#include "crypto.h"
#include "fuzz_common.h"

#define CTX_LEN PARLEY_IDENTITY_CONTEXT_LEN

static int model_validate(const struct parley_identity *id, int decoded,
                          const uint8_t own[PARLEY_KEY_LEN])
{
    if (decoded != 0)
        return decoded;
    if (id->max_tags < 256 || id->max_message < 1048576u || id->reassembly_budget < id->max_message)
        return PARLEY_E_LIMITS_BELOW_FLOOR;
    if (memcmp(id->identity_key, own, PARLEY_KEY_LEN) == 0)
        return PARLEY_E_REFLECTION;
    return 0; /* the signature: not checked in the fuzzing build */
}

/* S < L, little-endian, for rule ID-1. */
static int s_canonical(const uint8_t s[32])
{
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    for (int i = 31; i >= 0; i--)
        if (s[i] != L[i])
            return s[i] < L[i];
    return 0;
}

static void check_verify(const uint8_t pk[32], const uint8_t *msg, size_t len,
                         const uint8_t sig[64])
{
    const char *rule = "unset";
    int rc = parley_ed25519_verify(pk, msg, len, sig, &rule);

    FUZZ_CHECK(rc == 0 || rc == PARLEY_E_BAD_SIGNATURE);
    FUZZ_CHECK((rc == 0) == (rule == NULL));
    if (rc == 0)
        FUZZ_CHECK(crypto_sign_verify_detached(sig, msg, len, pk) == 0);
    if (!s_canonical(sig + 32))
        FUZZ_CHECK(rc != 0 && strcmp(rule, "ID-1") == 0);
}

/* A key from a seed, a signature over context || remote_static, one byte flipped or not. */
static void check_signed(const uint8_t seed[32], const uint8_t remote_static[32], uint8_t where,
                         uint8_t mask)
{
    uint8_t pk[32], sk[64], sig[64], msg[CTX_LEN + 32];
    struct parley_identity id;
    int rc;

    crypto_sign_seed_keypair(pk, sk, seed);
    memset(&id, 0, sizeof id);
    FUZZ_CHECK(parley_identity_sign(&id, sk, remote_static) == 0);
    FUZZ_CHECK(memcmp(id.identity_key, pk, 32) == 0);
    memcpy(msg, PARLEY_IDENTITY_CONTEXT, CTX_LEN);
    memcpy(msg + CTX_LEN, remote_static, 32);
    memcpy(sig, id.signature, 64);
    /* where: 0..31 the key, 32..95 the signature, 96..151 the message, else nothing. */
    if (where < 32)
        pk[where] ^= mask;
    else if (where < 96)
        sig[where - 32] ^= mask;
    else if (where < 96 + sizeof msg)
        msg[where - 96] ^= mask;
    rc = parley_ed25519_verify(pk, msg, sizeof msg, sig, NULL);
    if (mask == 0 || where >= 96 + sizeof msg)
        FUZZ_CHECK(rc == 0); /* an honest signature always verifies */
    else
        FUZZ_CHECK(rc == PARLEY_E_BAD_SIGNATURE); /* strict: no malleability */
    check_verify(pk, msg, sizeof msg, sig);
    sodium_memzero(sk, sizeof sk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[PARLEY_HS_PAYLOAD_MAX + 64];
    uint8_t remote_static[32], own[32], msg[CTX_LEN + 32], mode, mask;
    struct parley_identity id, v;
    struct parley_ext_iter it;
    struct fuzz_in in;
    const uint8_t *p, *value;
    uint16_t type, vlen;
    size_t len, walked = 0;
    int rc, n;

    fuzz_init();
    fi_init(&in, data, size);
    mode = fi_u8(&in);
    mask = fi_u8(&in);
    fi_copy(&in, remote_static, 32);
    fi_copy(&in, own, 32);
    p = fi_bytes(&in, fi_left(&in), &len);

    /* Layout and round trip. */
    rc = parley_identity_decode(&id, p, len);
    FUZZ_CHECK(rc == 0 || rc == PARLEY_E_PAYLOAD_MALFORMED);
    if (len < PARLEY_IDENTITY_FIXED_LEN)
        FUZZ_CHECK(rc == PARLEY_E_PAYLOAD_MALFORMED);
    if (rc == 0) {
        FUZZ_CHECK(id.ext_len == len - PARLEY_IDENTITY_FIXED_LEN);
        parley_ext_begin(&it, &id);
        while ((n = parley_ext_next(&it, &type, &value, &vlen)) == 1) {
            FUZZ_CHECK(value == id.ext + walked + 4);
            FUZZ_CHECK(((size_t)id.ext[walked] << 8 | id.ext[walked + 1]) == type);
            walked += 4 + (size_t)vlen;
        }
        FUZZ_CHECK(n == 0 && walked == id.ext_len);
        if (len <= PARLEY_HS_PAYLOAD_MAX) {
            n = parley_identity_encode(&id, out, sizeof out);
            FUZZ_CHECK(n == (int)len && memcmp(out, p, len) == 0);
            FUZZ_CHECK(parley_identity_encode(&id, out, len - 1) == PARLEY_E_NOROOM);
        } else {
            FUZZ_CHECK(parley_identity_encode(&id, out, sizeof out) == PARLEY_E_NOROOM);
        }
    }

    /* The order of §2.2, against the model. */
    FUZZ_CHECK(parley_identity_validate(&v, p, len, remote_static, own) ==
               model_validate(&id, rc, own));

    /* Strict Ed25519 on what the input carries, then on a signature made here. */
    if (len >= 96) {
        memcpy(msg, PARLEY_IDENTITY_CONTEXT, CTX_LEN);
        memcpy(msg + CTX_LEN, remote_static, 32);
        check_verify(p, msg, sizeof msg, p + 32);
    }
    if (mode & 1) {
        uint8_t seed[32];
        memset(seed, 0, sizeof seed);
        memcpy(seed, p, len < 32 ? len : 32);
        check_signed(seed, remote_static, (uint8_t)(mode >> 1), mask);
    }
    return 0;
}
