/*
 * noise.c - the Noise Protocol Framework (revision 34), only what
 * Noise_XX_25519_ChaChaPoly_SHA256 needs (spec/02-handshake.md [HS-1]):
 *
 *   XX:
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se
 *
 * Names follow the Noise spec: CipherState (§5.1), SymmetricState (§5.2),
 * HandshakeState (§5.3). DH is X25519, the cipher ChaCha20-Poly1305 (IETF, 96-bit nonce:
 * 4 zero bytes then n little-endian), the hash SHA-256, HKDF on HMAC-SHA256.
 * No I/O: messages are bytes in, bytes out.
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"

#define TAG_LEN crypto_aead_chacha20poly1305_ietf_ABYTES
#define NONCE_RESERVED UINT64_MAX /* Noise §5.1: n = 2^64-1 is never used */

/* ------------------------------------------------------------ CipherState */

static void nonce_bytes(uint8_t out[crypto_aead_chacha20poly1305_ietf_NPUBBYTES], uint64_t n)
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

void parley_cipher_init(struct parley_cipher *cs, const uint8_t k[PARLEY_KEY_LEN], uint64_t n)
{
    memcpy(cs->k, k, PARLEY_KEY_LEN);
    cs->n = n;
    cs->has_key = 1;
}

int parley_cipher_encrypt(struct parley_cipher *cs, const uint8_t *ad, size_t adlen,
                          const uint8_t *pt, size_t ptlen, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    if (!cs->has_key) {
        if (ptlen > 0)
            memmove(out, pt, ptlen);
        return 0;
    }
    if (cs->n == NONCE_RESERVED) /* [REC-6] never reuse or use the reserved nonce */
        return PARLEY_E_STATE;
    nonce_bytes(nonce, cs->n);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, ptlen, ad, adlen, NULL, nonce,
                                              cs->k);
    cs->n++;
    return 0;
}

int parley_cipher_decrypt(struct parley_cipher *cs, const uint8_t *ad, size_t adlen,
                          const uint8_t *ct, size_t ctlen, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    if (!cs->has_key) {
        if (ctlen > 0)
            memmove(out, ct, ctlen);
        return 0;
    }
    if (cs->n == NONCE_RESERVED)
        return PARLEY_E_STATE;
    if (ctlen < TAG_LEN)
        return PARLEY_E_RECORD_AUTH;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* FUZZING BUILD ONLY (set by fuzz/fuzz.mk, never by a normal build): every ciphertext
     * authenticates, and its first ctlen - 16 bytes are the plaintext (the tag is ignored).
     * A fuzzer cannot forge Poly1305 tags; this lets it reach the handshake payloads and
     * the records, frames and messages behind them. The counter advances as on success. */
    (void)ad;
    (void)adlen;
    (void)nonce;
    if (ctlen > TAG_LEN)
        memmove(out, ct, ctlen - TAG_LEN);
    cs->n++;
    return 0;
#endif
    nonce_bytes(nonce, cs->n);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, ctlen, ad, adlen, nonce,
                                                  cs->k) != 0)
        return PARLEY_E_RECORD_AUTH;
    cs->n++;
    return 0;
}

void parley_cipher_wipe(struct parley_cipher *cs)
{
    sodium_memzero(cs, sizeof *cs);
}

/* --------------------------------------------------------- SymmetricState */

static void hmac(uint8_t out[32], const uint8_t key[32], const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen)
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, a, alen);
    crypto_auth_hmacsha256_update(&st, b, blen);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* HKDF(ck, ikm) with two outputs, Noise §4.3. */
static void hkdf2(const uint8_t ck[32], const uint8_t *ikm, size_t ikm_len, uint8_t out1[32],
                  uint8_t out2[32])
{
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t temp_key[32], o1[32];

    hmac(temp_key, ck, ikm, ikm_len, NULL, 0);
    hmac(o1, temp_key, &one, 1, NULL, 0);
    hmac(out2, temp_key, o1, 32, &two, 1);
    memcpy(out1, o1, 32);
    sodium_memzero(temp_key, sizeof temp_key);
    sodium_memzero(o1, sizeof o1);
}

static void mix_hash(struct parley_symmetric *ss, const uint8_t *data, size_t len)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, ss->h, sizeof ss->h);
    crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, ss->h);
}

static void mix_key(struct parley_symmetric *ss, const uint8_t ikm[32])
{
    uint8_t temp_k[32];

    hkdf2(ss->ck, ikm, 32, ss->ck, temp_k);
    parley_cipher_init(&ss->cs, temp_k, 0);
    sodium_memzero(temp_k, sizeof temp_k);
}

static void initialize_symmetric(struct parley_symmetric *ss, const char *protocol_name)
{
    size_t len = strlen(protocol_name);

    memset(ss, 0, sizeof *ss);
    if (len <= sizeof ss->h)
        memcpy(ss->h, protocol_name, len); /* padded with zeros */
    else
        crypto_hash_sha256(ss->h, (const uint8_t *)protocol_name, len);
    memcpy(ss->ck, ss->h, sizeof ss->ck);
}

/* out gets len (+16 once there is a key) bytes. */
static int encrypt_and_hash(struct parley_symmetric *ss, const uint8_t *pt, size_t len,
                            uint8_t *out)
{
    size_t ctlen = len + (ss->cs.has_key ? TAG_LEN : 0);
    int rc = parley_cipher_encrypt(&ss->cs, ss->h, sizeof ss->h, pt, len, out);

    if (rc != 0)
        return rc;
    mix_hash(ss, out, ctlen);
    return 0;
}

static int decrypt_and_hash(struct parley_symmetric *ss, const uint8_t *ct, size_t len,
                            uint8_t *out)
{
    uint8_t h[PARLEY_HASH_LEN];

    memcpy(h, ss->h, sizeof h);
    mix_hash(ss, ct, len); /* before decrypting: out may overlap nothing, ct stays intact */
    if (parley_cipher_decrypt(&ss->cs, h, sizeof h, ct, len, out) != 0)
        return PARLEY_E_HANDSHAKE_FAILED; /* [HS-4] */
    return 0;
}

/* --------------------------------------------------------- HandshakeState */

enum token { TOK_END, TOK_E, TOK_S, TOK_EE, TOK_ES, TOK_SE };

static const enum token xx_pattern[3][5] = {
    {TOK_E, TOK_END},
    {TOK_E, TOK_EE, TOK_S, TOK_ES, TOK_END},
    {TOK_S, TOK_SE, TOK_END},
};

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
int parley_fuzz_cheap_dh;
#endif

/* X25519: the public key of sk, and DH(sk, pk). Errors: HANDSHAKE_FAILED (libsodium refuses
 * an all-zero output: a small-order public key; Noise §12.1 allows signalling an error). */
static void dh_public(uint8_t pk[PARLEY_KEY_LEN], const uint8_t sk[PARLEY_KEY_LEN])
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* FUZZING BUILD ONLY, when a target sets parley_fuzz_cheap_dh: the public key is the
     * secret key and DH is XOR (commutative, like X25519, and all-zero only for equal keys).
     * The fuzzing AEAD accepts any key anyway, and X25519 was most of a whole-conversation
     * target's time. Targets that model X25519 itself (fuzz_handshake) leave it off. */
    if (parley_fuzz_cheap_dh) {
        memcpy(pk, sk, PARLEY_KEY_LEN);
        return;
    }
#endif
    crypto_scalarmult_base(pk, sk);
}

static int dh(uint8_t out[PARLEY_KEY_LEN], const uint8_t sk[PARLEY_KEY_LEN],
              const uint8_t pk[PARLEY_KEY_LEN])
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (parley_fuzz_cheap_dh) { /* see dh_public */
        uint8_t any = 0;
        for (size_t i = 0; i < PARLEY_KEY_LEN; i++)
            any |= out[i] = sk[i] ^ pk[i];
        return any != 0 ? 0 : PARLEY_E_HANDSHAKE_FAILED;
    }
#endif
    return crypto_scalarmult(out, sk, pk) == 0 ? 0 : PARLEY_E_HANDSHAKE_FAILED;
}

int parley_noise_init(struct parley_noise *ns, int initiator, const uint8_t *prologue,
                      size_t prologue_len, const uint8_t static_sk[PARLEY_KEY_LEN])
{
    memset(ns, 0, sizeof *ns);
    initialize_symmetric(&ns->ss, PARLEY_NOISE_PROTOCOL);
    mix_hash(&ns->ss, prologue, prologue_len); /* [HS-2] */
    ns->initiator = initiator != 0;
    memcpy(ns->s_sk, static_sk, PARLEY_KEY_LEN);
    dh_public(ns->s_pk, ns->s_sk);
    randombytes_buf(ns->e_sk, sizeof ns->e_sk); /* [HS-12] fresh for every handshake */
    dh_public(ns->e_pk, ns->e_sk);
    return 0;
}

int parley_noise_set_ephemeral_for_test(struct parley_noise *ns,
                                        const uint8_t e_sk[PARLEY_KEY_LEN])
{
    /* The initiator sends e in message 0, the responder in message 1. */
    if (ns->next > (ns->initiator ? 0 : 1))
        return PARLEY_E_STATE;
    memcpy(ns->e_sk, e_sk, PARLEY_KEY_LEN);
    dh_public(ns->e_pk, ns->e_sk);
    return 0;
}

static int our_turn(const struct parley_noise *ns)
{
    /* Message 0 and 2 are the initiator's. */
    return ns->next < 3 && (ns->next % 2 == 0) == (ns->initiator != 0);
}

/* MixKey(DH(ours, theirs)) for ee, es, se; which keys depends on the role (Noise §5.3). */
static int mix_dh(struct parley_noise *ns, enum token t)
{
    const uint8_t *sk, *pk;
    uint8_t out[crypto_scalarmult_BYTES];
    int rc;

    switch (t) {
    case TOK_EE:
        sk = ns->e_sk, pk = ns->re;
        break;
    case TOK_ES:
        sk = ns->initiator ? ns->e_sk : ns->s_sk;
        pk = ns->initiator ? ns->rs : ns->re;
        break;
    case TOK_SE:
        sk = ns->initiator ? ns->s_sk : ns->e_sk;
        pk = ns->initiator ? ns->re : ns->rs;
        break;
    default:
        return PARLEY_E_STATE;
    }
    if ((rc = dh(out, sk, pk)) == 0)
        mix_key(&ns->ss, out);
    sodium_memzero(out, sizeof out);
    return rc;
}

static size_t encrypted_len(const struct parley_noise *ns, size_t len)
{
    return len + (ns->ss.cs.has_key ? TAG_LEN : 0);
}

int parley_noise_write(struct parley_noise *ns, const uint8_t *payload, size_t payload_len,
                       uint8_t *out, size_t cap)
{
    size_t pos = 0;
    int rc;

    if (!our_turn(ns))
        return PARLEY_E_STATE;
    if (cap > PARLEY_NOISE_MSG_MAX)
        cap = PARLEY_NOISE_MSG_MAX;
    for (const enum token *t = xx_pattern[ns->next]; *t != TOK_END; t++) {
        switch (*t) {
        case TOK_E:
            if (PARLEY_KEY_LEN > cap - pos)
                return PARLEY_E_NOROOM;
            memcpy(out + pos, ns->e_pk, PARLEY_KEY_LEN);
            mix_hash(&ns->ss, ns->e_pk, PARLEY_KEY_LEN);
            pos += PARLEY_KEY_LEN;
            break;
        case TOK_S:
            if (encrypted_len(ns, PARLEY_KEY_LEN) > cap - pos)
                return PARLEY_E_NOROOM;
            if ((rc = encrypt_and_hash(&ns->ss, ns->s_pk, PARLEY_KEY_LEN, out + pos)) != 0)
                return rc;
            pos += encrypted_len(ns, PARLEY_KEY_LEN);
            break;
        default:
            if ((rc = mix_dh(ns, *t)) != 0)
                return rc;
            break;
        }
    }
    if (payload_len > cap - pos || encrypted_len(ns, payload_len) > cap - pos)
        return PARLEY_E_NOROOM;
    if ((rc = encrypt_and_hash(&ns->ss, payload, payload_len, out + pos)) != 0)
        return rc;
    pos += encrypted_len(ns, payload_len);
    ns->next++;
    return (int)pos;
}

int parley_noise_read(struct parley_noise *ns, const uint8_t *msg, size_t len,
                      uint8_t *payload, size_t cap)
{
    size_t pos = 0, n;
    int rc;

    if (ns->next >= 3 || our_turn(ns))
        return PARLEY_E_STATE;
    for (const enum token *t = xx_pattern[ns->next]; *t != TOK_END; t++) {
        switch (*t) {
        case TOK_E:
            if (PARLEY_KEY_LEN > len - pos)
                return PARLEY_E_HANDSHAKE_FAILED; /* [HS-1] */
            memcpy(ns->re, msg + pos, PARLEY_KEY_LEN);
            mix_hash(&ns->ss, ns->re, PARLEY_KEY_LEN);
            pos += PARLEY_KEY_LEN;
            break;
        case TOK_S:
            n = encrypted_len(ns, PARLEY_KEY_LEN);
            if (n > len - pos)
                return PARLEY_E_HANDSHAKE_FAILED; /* [HS-1] */
            if ((rc = decrypt_and_hash(&ns->ss, msg + pos, n, ns->rs)) != 0)
                return rc;
            pos += n;
            break;
        default:
            if ((rc = mix_dh(ns, *t)) != 0)
                return rc;
            break;
        }
    }
    n = len - pos;
    if (ns->ss.cs.has_key && n < TAG_LEN)
        return PARLEY_E_HANDSHAKE_FAILED; /* [HS-1] */
    if (n - (ns->ss.cs.has_key ? TAG_LEN : 0) > cap)
        return PARLEY_E_NOROOM;
    if ((rc = decrypt_and_hash(&ns->ss, msg + pos, n, payload)) != 0)
        return rc;
    ns->next++;
    return (int)(n - (ns->ss.cs.has_key ? TAG_LEN : 0));
}

int parley_noise_split(struct parley_noise *ns, struct parley_cipher *c1,
                       struct parley_cipher *c2)
{
    uint8_t k1[32], k2[32];

    if (ns->next != 3)
        return PARLEY_E_STATE;
    hkdf2(ns->ss.ck, NULL, 0, k1, k2);
    parley_cipher_init(c1, k1, 0);
    parley_cipher_init(c2, k2, 0);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    /* The handshake hash h and the public keys stay; every secret goes. */
    sodium_memzero(ns->ss.ck, sizeof ns->ss.ck);
    parley_cipher_wipe(&ns->ss.cs);
    sodium_memzero(ns->s_sk, sizeof ns->s_sk);
    sodium_memzero(ns->e_sk, sizeof ns->e_sk);
    ns->next++; /* Split once */
    return 0;
}

void parley_noise_wipe(struct parley_noise *ns)
{
    sodium_memzero(ns, sizeof *ns);
}
