/*
 * handshake.c - spec/02-handshake.md: the identity payload, strict Ed25519 (§2.4) and the
 * Noise XX exchange over the framing of §2.1.
 *
 *   frame:     | length u16 | Noise handshake message |
 *
 *   payload:   0              32          96     98            102       104
 *              | identity_key | signature | minor | capabilities | max_tags |
 *              104           108                 112           114
 *              | max_message | reassembly_budget | listen_port | extensions TLV ... |
 *
 *   TLV:       | type u16 | length u16 | value bytes[length] |
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "cursor.h"

/* ------------------------------------------------------ identity payload */

static int ext_check(const uint8_t *buf, size_t len)
{
    struct parley_ext_iter it = {buf, len, 0};
    uint16_t type, vlen;
    const uint8_t *value;
    int rc;

    while ((rc = parley_ext_next(&it, &type, &value, &vlen)) == 1)
        ;
    return rc;
}

int parley_identity_decode(struct parley_identity *id, const uint8_t *buf, size_t len)
{
    struct parley_rd r;

    memset(id, 0, sizeof *id);
    if (len < PARLEY_IDENTITY_FIXED_LEN)
        return PARLEY_E_PAYLOAD_MALFORMED; /* [HS-5] shorter than 114 bytes */
    rd_init(&r, buf, len);
    /* The 114 fixed bytes are there: these reads cannot fail. */
    (void)rd_copy(&r, id->identity_key, sizeof id->identity_key);
    (void)rd_copy(&r, id->signature, sizeof id->signature);
    (void)rd_u16(&r, &id->minor);
    (void)rd_u32(&r, &id->capabilities); /* [HS-9] unknown bits are ignored */
    (void)rd_u16(&r, &id->max_tags);
    (void)rd_u32(&r, &id->max_message);
    (void)rd_u32(&r, &id->reassembly_budget);
    (void)rd_u16(&r, &id->listen_port);
    (void)rd_bytes(&r, rd_left(&r), &id->ext);
    id->ext_len = len - PARLEY_IDENTITY_FIXED_LEN;
    return ext_check(id->ext, id->ext_len); /* [HS-5] TLVs fill the payload exactly */
}

int parley_identity_encode(const struct parley_identity *id, uint8_t *out, size_t cap)
{
    struct parley_wr w;

    wr_init(&w, out, cap);
    if (wr_bytes(&w, id->identity_key, sizeof id->identity_key) != 0 ||
        wr_bytes(&w, id->signature, sizeof id->signature) != 0 || wr_u16(&w, id->minor) != 0 ||
        wr_u32(&w, id->capabilities) != 0 || wr_u16(&w, id->max_tags) != 0 ||
        wr_u32(&w, id->max_message) != 0 || wr_u32(&w, id->reassembly_budget) != 0 ||
        wr_u16(&w, id->listen_port) != 0 || wr_bytes(&w, id->ext, id->ext_len) != 0)
        return PARLEY_E_NOROOM;
    if (w.len > (size_t)PARLEY_HS_PAYLOAD_MAX)
        return PARLEY_E_NOROOM;
    return (int)w.len;
}

void parley_ext_begin(struct parley_ext_iter *it, const struct parley_identity *id)
{
    it->buf = id->ext;
    it->len = id->ext_len;
    it->pos = 0;
}

int parley_ext_next(struct parley_ext_iter *it, uint16_t *type, const uint8_t **value,
                    uint16_t *len)
{
    struct parley_rd r;

    if (it->pos == it->len)
        return 0;
    rd_init(&r, it->buf, it->len);
    r.pos = it->pos;
    /* [HS-5] a TLV header or value running past the end */
    if (rd_u16(&r, type) != 0 || rd_u16(&r, len) != 0 || rd_bytes(&r, *len, value) != 0)
        return PARLEY_E_PAYLOAD_MALFORMED;
    it->pos = r.pos;
    return 1;
}

static void identity_message(uint8_t msg[PARLEY_IDENTITY_CONTEXT_LEN + PARLEY_KEY_LEN],
                             const uint8_t static_pk[PARLEY_KEY_LEN])
{
    /* msg is bytes, not a C string: the context is signed as its 24 bytes without a NUL
     * (spec 7, IDENTITY_CONTEXT). NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(msg, PARLEY_IDENTITY_CONTEXT, PARLEY_IDENTITY_CONTEXT_LEN);
    memcpy(msg + PARLEY_IDENTITY_CONTEXT_LEN, static_pk, PARLEY_KEY_LEN);
}

int parley_identity_sign(struct parley_identity *id, const uint8_t ed_sk[64],
                         const uint8_t static_pk[PARLEY_KEY_LEN])
{
    uint8_t msg[PARLEY_IDENTITY_CONTEXT_LEN + PARLEY_KEY_LEN];

    identity_message(msg, static_pk);
    if (crypto_sign_ed25519_sk_to_pk(id->identity_key, ed_sk) != 0 ||
        crypto_sign_detached(id->signature, NULL, msg, sizeof msg, ed_sk) != 0)
        return PARLEY_E_INTERNAL;
    return 0;
}

int parley_identity_validate(struct parley_identity *id, const uint8_t *buf, size_t len,
                             const uint8_t remote_static[PARLEY_KEY_LEN],
                             const uint8_t own_identity[PARLEY_KEY_LEN])
{
    uint8_t msg[PARLEY_IDENTITY_CONTEXT_LEN + PARLEY_KEY_LEN];
    int rc;

    /* The order of §2.2: layout, limits, reflection, key and signature. */
    if ((rc = parley_identity_decode(id, buf, len)) != 0)
        return rc;
    if (id->max_tags < PARLEY_MIN_MAX_TAGS || id->max_message < PARLEY_MIN_MAX_MESSAGE ||
        id->reassembly_budget < id->max_message)
        return PARLEY_E_LIMITS_BELOW_FLOOR; /* [HS-8] */
    if (memcmp(id->identity_key, own_identity, PARLEY_KEY_LEN) == 0)
        return PARLEY_E_REFLECTION; /* [HS-7] */
    identity_message(msg, remote_static);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* FUZZING BUILD ONLY (set by fuzz/fuzz.mk, never by a normal build): the signature
     * (always 64 bytes, the payload's layout fixes it) is accepted unchecked, so a fuzzer
     * gets past the handshake. parley_ed25519_verify itself stays strict: fuzz_identity
     * calls it directly. */
    return 0;
#endif
    return parley_ed25519_verify(id->identity_key, msg, sizeof msg, id->signature, NULL); /* [HS-6] */
}

/* ------------------------------------------------------ strict Ed25519 §2.4 */

/* Little-endian constants: L (the group order), p = 2^255-19, p-1, 1. */
static const uint8_t ED_L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                 0,    0,    0,    0,    0,    0,    0,    0,
                                 0,    0,    0,    0,    0,    0,    0,    0x10};
static const uint8_t ED_P[32] = {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
static const uint8_t ED_P_MINUS_1[32] = {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
static const uint8_t ED_ONE[32] = {1}; /* y = 1: also the encoding of the identity point */

/* a < b, both 32-byte little-endian integers. Public data: no need for constant time. */
static int le_less(const uint8_t a[32], const uint8_t b[32])
{
    for (int i = 31; i >= 0; i--)
        if (a[i] != b[i])
            return a[i] < b[i];
    return 0;
}

/* A canonical point encoding: y < p, and not x = 0 (y = 1 or y = p-1) with the sign set. */
static int point_is_canonical(const uint8_t enc[32])
{
    uint8_t y[32];

    memcpy(y, enc, 32);
    y[31] &= 0x7f;
    if (!le_less(y, ED_P))
        return 0;
    if ((enc[31] & 0x80) && (memcmp(y, ED_ONE, 32) == 0 || memcmp(y, ED_P_MINUS_1, 32) == 0))
        return 0;
    return 1;
}

/* libsodium 1.0.18 has no bare point decoder. crypto_core_ed25519_add decodes both operands
 * and fails unless they are on the curve, without the prime-order subgroup check of
 * crypto_core_ed25519_is_valid_point (which would wrongly reject mixed-order keys, [ID-3]). */
static int point_is_on_curve(const uint8_t enc[32])
{
    uint8_t sum[32];

    return crypto_core_ed25519_add(sum, enc, enc) == 0;
}

/* Small order (1, 2, 4 or 8) exactly when [8]P is the identity. enc is on the curve. */
static int point_has_small_order(const uint8_t enc[32])
{
    uint8_t p[32];

    memcpy(p, enc, 32);
    for (int i = 0; i < 3; i++)
        if (crypto_core_ed25519_add(p, p, p) != 0)
            return 1;
    return memcmp(p, ED_ONE, 32) == 0;
}

int parley_ed25519_verify(const uint8_t pk[PARLEY_KEY_LEN], const uint8_t *msg, size_t len,
                          const uint8_t sig[PARLEY_SIG_LEN], const char **rule)
{
    const char *why = NULL;

    if (!le_less(sig + 32, ED_L))
        why = "ID-1"; /* [ID-1] S < L */
    else if (!point_is_canonical(pk) || !point_is_on_curve(pk))
        why = "ID-2"; /* [ID-2] A canonical, on the curve */
    else if (point_has_small_order(pk))
        why = "ID-3"; /* [ID-3] A not of small order (mixed order passes) */
    else if (!point_is_canonical(sig) || !point_is_on_curve(sig) || point_has_small_order(sig))
        why = "ID-4"; /* [ID-4] R canonical, not of small order */
    else if (crypto_sign_verify_detached(sig, msg, len, pk) != 0)
        why = "ID-5"; /* [ID-5] cofactorless [S]B = R + [k]A, compared as encodings */
    if (rule != NULL)
        *rule = why;
    return why == NULL ? 0 : PARLEY_E_BAD_SIGNATURE;
}

/* ------------------------------------------------------ the XX exchange */

static int hs_fail(struct parley_hs *hs, int rc)
{
    parley_noise_wipe(&hs->noise);
    hs->step = PARLEY_HS_FAILED;
    return rc;
}

/* After each message: whose turn next, or done. */
static void hs_advance(struct parley_hs *hs)
{
    if (hs->noise.next == 3) {
        memcpy(hs->handshake_hash, hs->noise.ss.h, PARLEY_HASH_LEN);
        hs->step = PARLEY_HS_DONE;
    } else {
        hs->step = hs->step == PARLEY_HS_WRITE ? PARLEY_HS_READ : PARLEY_HS_WRITE;
    }
}

int parley_hs_init(struct parley_hs *hs, int initiator, const uint8_t *prologue,
                   size_t prologue_len, const uint8_t static_sk[PARLEY_KEY_LEN],
                   const uint8_t *own_payload, size_t own_len)
{
    memset(hs, 0, offsetof(struct parley_hs, payload));
    hs->step = PARLEY_HS_FAILED;
    /* Our payload goes in message 3 (initiator) or message 2 (responder): it must fit. */
    if (own_len < PARLEY_IDENTITY_FIXED_LEN ||
        own_len > PARLEY_NOISE_MSG_MAX - (initiator ? PARLEY_HS_MSG3_OVERHEAD
                                                    : PARLEY_HS_MSG2_OVERHEAD))
        return PARLEY_E_STATE;
    parley_noise_init(&hs->noise, initiator, prologue, prologue_len, static_sk); /* [HS-2] */
    hs->own_payload = own_payload;
    hs->own_len = own_len;
    memcpy(hs->own_identity, own_payload, PARLEY_KEY_LEN);
    hs->step = initiator ? PARLEY_HS_WRITE : PARLEY_HS_READ; /* [HS-1] initiator goes first */
    return 0;
}

int parley_hs_set_ephemeral_for_test(struct parley_hs *hs, const uint8_t e_sk[PARLEY_KEY_LEN])
{
    return parley_noise_set_ephemeral_for_test(&hs->noise, e_sk);
}

enum parley_hs_step parley_hs_next(const struct parley_hs *hs)
{
    return hs->step;
}

int parley_hs_write(struct parley_hs *hs, uint8_t *out, size_t cap)
{
    /* Noise bytes around the payload: e | e, s+tag, payload tag | s+tag, payload tag. */
    static const size_t overhead[3] = {PARLEY_HS_MSG1_LEN, PARLEY_HS_MSG2_OVERHEAD,
                                       PARLEY_HS_MSG3_OVERHEAD};
    struct parley_wr w;
    size_t plen, mlen;
    int n;

    if (hs->step != PARLEY_HS_WRITE)
        return PARLEY_E_STATE;
    /* [HS-3] message 1 carries an empty payload; 2 and 3 our identity payload [HS-5]. */
    plen = hs->noise.next == 0 ? 0 : hs->own_len;
    mlen = overhead[hs->noise.next] + plen;
    wr_init(&w, out, cap);
    /* Room is checked first: a half-written message would leave the Noise state broken. */
    if (mlen > PARLEY_NOISE_MSG_MAX || wr_u16(&w, (uint16_t)mlen) != 0 || mlen > wr_room(&w))
        return PARLEY_E_NOROOM;
    n = parley_noise_write(&hs->noise, hs->own_payload, plen, w.buf + w.len, wr_room(&w));
    if (n < 0)
        return hs_fail(hs, n);
    if (hs->noise.initiator && hs->noise.next == 1)
        memcpy(hs->initiator_ephemeral, hs->noise.e_pk, PARLEY_KEY_LEN);
    hs_advance(hs);
    return (int)w.len + n;
}

/* [HS-1] the length a frame must have, checked before waiting for its bytes. The upper
 * bounds of §2.1 (payload 65439 / 65471) are the u16 maximum, 65535. */
static int frame_length_ok(int msg, uint16_t len)
{
    switch (msg) {
    case 0:
        return len == PARLEY_HS_MSG1_LEN; /* [HS-3] e only: the payload is empty */
    case 1:
        return len >= PARLEY_HS_MSG2_OVERHEAD + PARLEY_IDENTITY_FIXED_LEN;
    case 2:
        return len >= PARLEY_HS_MSG3_OVERHEAD + PARLEY_IDENTITY_FIXED_LEN;
    default:
        return 0;
    }
}

int parley_hs_read(struct parley_hs *hs, const uint8_t *in, size_t len)
{
    struct parley_rd r;
    const uint8_t *msg;
    uint16_t mlen;
    int n;

    if (hs->step != PARLEY_HS_READ)
        return PARLEY_E_STATE;
    rd_init(&r, in, len);
    if (rd_u16(&r, &mlen) != 0)
        return PARLEY_E_TRUNCATED;
    if (!frame_length_ok(hs->noise.next, mlen))
        return hs_fail(hs, PARLEY_E_HANDSHAKE_FAILED); /* [HS-1] [HS-10] */
    if (rd_bytes(&r, mlen, &msg) != 0)
        return PARLEY_E_TRUNCATED;
    n = parley_noise_read(&hs->noise, msg, mlen, hs->payload, sizeof hs->payload);
    if (n < 0)
        return hs_fail(hs, n); /* [HS-4] decryption failed */
    if (hs->noise.next == 1) {
        if (n != 0)
            return hs_fail(hs, PARLEY_E_HANDSHAKE_FAILED); /* [HS-3] */
        memcpy(hs->initiator_ephemeral, hs->noise.re, PARLEY_KEY_LEN);
    } else {
        int rc;
        hs->payload_len = (size_t)n;
        /* [HS-5]..[HS-8]: rs is the static key obtained in this handshake [HS-6]. */
        rc = parley_identity_validate(&hs->remote, hs->payload, hs->payload_len, hs->noise.rs,
                                      hs->own_identity);
        if (rc != 0)
            return hs_fail(hs, rc);
        memcpy(hs->remote_static, hs->noise.rs, PARLEY_KEY_LEN);
    }
    hs_advance(hs);
    return (int)r.pos;
}

int parley_hs_finish(struct parley_hs *hs, struct parley_cipher *c1, struct parley_cipher *c2)
{
    if (hs->step != PARLEY_HS_DONE)
        return PARLEY_E_STATE;
    return parley_noise_split(&hs->noise, c1, c2);
}

void parley_hs_wipe(struct parley_hs *hs)
{
    parley_noise_wipe(&hs->noise);
    sodium_memzero(hs->payload, sizeof hs->payload);
    hs->payload_len = 0;
    hs->step = PARLEY_HS_FAILED;
}

int parley_hs_check_deadline(uint64_t started_ms, uint64_t now_ms)
{
    /* [PRE-7] [HS-11]: a clock that went backwards counts as no time elapsed. */
    if (now_ms > started_ms && now_ms - started_ms >= PARLEY_HANDSHAKE_TIMEOUT_MS)
        return PARLEY_E_TIMEOUT;
    return 0;
}
