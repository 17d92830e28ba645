/*
 * record.c - spec/03-records.md: record protection and the key log.
 *
 *   0        2
 *   | length | ciphertext: ChaCha20-Poly1305(plaintext) + 16-byte tag |
 *   | u16    | bytes[length], length 24..65535                          |
 *
 * Each direction has its own key and counter (Noise Split: c1 initiator to responder,
 * c2 back); the nonce is the counter, from 0, one per record.
 */
#include <string.h>

#include <sodium.h>

#include "crypto.h"
#include "cursor.h"

/* The largest plaintext: the length field's maximum less the tag. */
#define RECORD_PT_MAX (PARLEY_RECORD_MAX - PARLEY_AEAD_TAG_LEN)
#define RECORD_PT_MIN (PARLEY_RECORD_MIN - PARLEY_AEAD_TAG_LEN)

int parley_records_init(struct parley_records *rec, struct parley_hs *hs)
{
    struct parley_cipher c1, c2;
    int rc;

    if ((rc = parley_hs_finish(hs, &c1, &c2)) != 0)
        return rc;
    rec->initiator = hs->noise.initiator;
    rec->send = rec->initiator ? c1 : c2;
    rec->recv = rec->initiator ? c2 : c1;
    parley_cipher_wipe(&c1);
    parley_cipher_wipe(&c2);
    return 0;
}

int parley_record_seal(struct parley_cipher *cs, const uint8_t *pt, size_t ptlen,
                       uint8_t *out, size_t cap)
{
    struct parley_wr w;
    int rc;

    /* A record holds at least one frame header; its length field tops out at 65535. */
    if (ptlen < RECORD_PT_MIN || ptlen > RECORD_PT_MAX)
        return PARLEY_E_STATE;
    /* [REC-6] never let the counter reach 2^64-1: the connection must close first. */
    if (cs->n >= UINT64_MAX - 1)
        return PARLEY_E_STATE;
    wr_init(&w, out, cap);
    if (wr_u16(&w, (uint16_t)(ptlen + PARLEY_AEAD_TAG_LEN)) != 0 ||
        ptlen + PARLEY_AEAD_TAG_LEN > wr_room(&w))
        return PARLEY_E_NOROOM;
    /* [REC-1] the sending direction's key and next nonce (no associated data). */
    if ((rc = parley_cipher_encrypt(cs, NULL, 0, pt, ptlen, w.buf + w.len)) != 0)
        return rc;
    return (int)(w.len + ptlen + PARLEY_AEAD_TAG_LEN);
}

int parley_record_open(struct parley_cipher *cs, const uint8_t *in, size_t len, uint8_t *pt,
                       size_t cap, size_t *ptlen)
{
    struct parley_rd r;
    const uint8_t *ct;
    uint16_t clen;
    int rc;

    rd_init(&r, in, len);
    if (rd_u16(&r, &clen) != 0)
        return PARLEY_E_TRUNCATED;
    if (clen < PARLEY_RECORD_MIN)
        return PARLEY_E_RECORD_LENGTH; /* [REC-2] before reading the ciphertext */
    if (rd_bytes(&r, clen, &ct) != 0)
        return PARLEY_E_TRUNCATED;
    if ((size_t)clen - PARLEY_AEAD_TAG_LEN > cap)
        return PARLEY_E_NOROOM;
    /* [REC-3] a flipped bit, a replayed or reordered record (wrong nonce), or the other
     * direction's key all fail here. [REC-4] nothing is returned before it authenticates. */
    if ((rc = parley_cipher_decrypt(cs, NULL, 0, ct, clen, pt)) != 0)
        return rc;
    *ptlen = (size_t)clen - PARLEY_AEAD_TAG_LEN;
    return (int)r.pos;
}

void parley_records_wipe(struct parley_records *rec)
{
    /* [REC-8] keys are wiped when the connection closes. */
    parley_cipher_wipe(&rec->send);
    parley_cipher_wipe(&rec->recv);
}

static int keylog_line(struct parley_wr *w, const char *label, const uint8_t ie[PARLEY_KEY_LEN],
                       const uint8_t key[PARLEY_KEY_LEN])
{
    char ie_hex[2 * PARLEY_KEY_LEN + 1], key_hex[2 * PARLEY_KEY_LEN + 1];
    int rc;

    sodium_bin2hex(ie_hex, sizeof ie_hex, ie, PARLEY_KEY_LEN);
    sodium_bin2hex(key_hex, sizeof key_hex, key, PARLEY_KEY_LEN);
    rc = wr_bytes(w, label, strlen(label)) != 0 || wr_u8(w, ' ') != 0 ||
         wr_bytes(w, ie_hex, sizeof ie_hex - 1) != 0 || wr_u8(w, ' ') != 0 ||
         wr_bytes(w, key_hex, sizeof key_hex - 1) != 0 || wr_u8(w, '\n') != 0;
    sodium_memzero(key_hex, sizeof key_hex);
    return rc ? PARLEY_E_NOROOM : 0;
}

int parley_keylog_lines(char *out, size_t cap, const uint8_t initiator_ephemeral[PARLEY_KEY_LEN],
                        const struct parley_records *rec)
{
    const struct parley_cipher *i2r = rec->initiator ? &rec->send : &rec->recv;
    const struct parley_cipher *r2i = rec->initiator ? &rec->recv : &rec->send;
    struct parley_wr w;

    /* Checked up front so that a short buffer never holds half a key. */
    if (cap < PARLEY_KEYLOG_LINES_LEN + 1)
        return PARLEY_E_NOROOM;
    wr_init(&w, (uint8_t *)out, cap);
    if (keylog_line(&w, "PARLEY_I2R", initiator_ephemeral, i2r->k) != 0 ||
        keylog_line(&w, "PARLEY_R2I", initiator_ephemeral, r2i->k) != 0 || wr_u8(&w, 0) != 0)
        return PARLEY_E_NOROOM;
    return (int)w.len - 1;
}
