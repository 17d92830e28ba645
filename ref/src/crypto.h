/*
 * crypto.h - the crypto chapters on libsodium:
 *   noise.c      the Noise Protocol Framework (rev 34) for Noise_XX_25519_ChaChaPoly_SHA256;
 *   handshake.c  spec/02-handshake.md: identity payload, strict Ed25519, the XX exchange;
 *   record.c     spec/03-records.md: sealed records and the key log.
 *
 * Nothing here does I/O or allocates: bytes go in, bytes come out. Functions return 0 (or
 * a byte count) on success and a negative PARLEY_E_* (parley.h) on failure. Every state
 * holding a secret has a *_wipe function that sodium_memzero()s it.
 * Call sodium_init() once before anything here.
 */
#ifndef PARLEY_CRYPTO_H
#define PARLEY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "parley.h"

#define PARLEY_KEY_LEN 32  /* X25519 and ChaCha20-Poly1305 keys, Ed25519 public keys */
#define PARLEY_HASH_LEN 32 /* SHA-256: the handshake hash and the chaining key */
#define PARLEY_SIG_LEN 64
#define PARLEY_NOISE_MSG_MAX 65535 /* a Noise message, and a handshake frame's u16 length */

/* Handshake message lengths, spec §2.1 ([HS-1]). */
#define PARLEY_HS_MSG1_LEN 32
#define PARLEY_HS_MSG2_OVERHEAD (32 + 48 + 16)
#define PARLEY_HS_MSG3_OVERHEAD (48 + 16)
#define PARLEY_HS_PAYLOAD_MAX (PARLEY_NOISE_MSG_MAX - PARLEY_HS_MSG3_OVERHEAD) /* 65471 */

/* ---------------------------------------------------------------- noise.c */

/* Noise CipherState: key k and 64-bit counter n; the 96-bit nonce is 4 zero bytes then n
 * little-endian. n = 2^64-1 is reserved: no call encrypts or decrypts with it. */
struct parley_cipher {
    uint8_t k[PARLEY_KEY_LEN];
    uint64_t n;
    int has_key;
};

/* Noise SymmetricState. */
struct parley_symmetric {
    struct parley_cipher cs;
    uint8_t ck[PARLEY_HASH_LEN];
    uint8_t h[PARLEY_HASH_LEN];
};

/* Noise HandshakeState for the XX pattern, either role. */
struct parley_noise {
    struct parley_symmetric ss;
    uint8_t s_sk[PARLEY_KEY_LEN], s_pk[PARLEY_KEY_LEN];
    uint8_t e_sk[PARLEY_KEY_LEN], e_pk[PARLEY_KEY_LEN];
    uint8_t rs[PARLEY_KEY_LEN], re[PARLEY_KEY_LEN];
    int initiator;
    int next; /* index of the next XX message, 0..2; 3 when the handshake is done */
};

/* InitializeKey(k) then SetNonce(n). */
void parley_cipher_init(struct parley_cipher *cs, const uint8_t k[PARLEY_KEY_LEN], uint64_t n);

/* EncryptWithAd: writes ptlen + 16 bytes to out (out may equal pt), or copies pt when the
 * cipher has no key. Errors: PARLEY_E_STATE when n is 2^64-1 (reserved, the nonce space is
 * spent). */
int parley_cipher_encrypt(struct parley_cipher *cs, const uint8_t *ad, size_t adlen,
                          const uint8_t *pt, size_t ptlen, uint8_t *out);

/* DecryptWithAd: writes ctlen - 16 bytes to out (out may equal ct); n advances only on
 * success. Errors: PARLEY_E_STATE when n is 2^64-1; PARLEY_E_RECORD_AUTH when ct is
 * shorter than the tag or does not authenticate. */
int parley_cipher_decrypt(struct parley_cipher *cs, const uint8_t *ad, size_t adlen,
                          const uint8_t *ct, size_t ctlen, uint8_t *out);

void parley_cipher_wipe(struct parley_cipher *cs);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* FUZZING BUILD ONLY: 1 makes X25519 a cheap stand-in (noise.c dh_public). */
extern int parley_fuzz_cheap_dh;
#endif

/* Initialize(XX, initiator, prologue, s) with the protocol name NOISE_PROTOCOL. The
 * ephemeral key is fresh from randombytes_buf ([HS-12]). static_sk is the node's X25519
 * private key. Errors: none (returns 0). */
int parley_noise_init(struct parley_noise *ns, int initiator, const uint8_t *prologue,
                      size_t prologue_len, const uint8_t static_sk[PARLEY_KEY_LEN]);

/* For test vectors only: replaces the random ephemeral key before it is used. No peer
 * code calls it ([HS-12]). Errors: PARLEY_E_STATE once the ephemeral key has been sent. */
int parley_noise_set_ephemeral_for_test(struct parley_noise *ns,
                                        const uint8_t e_sk[PARLEY_KEY_LEN]);

/* WriteMessage: the next XX message with `payload` into out. Returns its length.
 * Errors: PARLEY_E_STATE (not our turn, or done), PARLEY_E_NOROOM (cap too small or the
 * message would exceed 65535 bytes), PARLEY_E_HANDSHAKE_FAILED (a DH output is zero). */
int parley_noise_write(struct parley_noise *ns, const uint8_t *payload, size_t payload_len,
                       uint8_t *out, size_t cap);

/* ReadMessage: the next XX message from msg; the payload goes to payload (at most cap
 * bytes). Returns the payload length. Errors: PARLEY_E_STATE (not our turn, or done),
 * PARLEY_E_HANDSHAKE_FAILED (too short, a zero DH output, or a decryption failure),
 * PARLEY_E_NOROOM (cap too small). */
int parley_noise_read(struct parley_noise *ns, const uint8_t *msg, size_t len,
                      uint8_t *payload, size_t cap);

/* Split once the three messages are done: c1 protects initiator to responder, c2 the
 * other way. Wipes the handshake secrets (ck, k, s_sk, e_sk). Errors: PARLEY_E_STATE. */
int parley_noise_split(struct parley_noise *ns, struct parley_cipher *c1,
                       struct parley_cipher *c2);

void parley_noise_wipe(struct parley_noise *ns);

/* ----------------------------------------------------------- handshake.c */

/* The identity payload of spec §2.2, decoded. ext points into the decoded buffer (no
 * copy): ext_len bytes of TLVs, already checked to fill the payload exactly. */
struct parley_identity {
    uint8_t identity_key[PARLEY_KEY_LEN];
    uint8_t signature[PARLEY_SIG_LEN];
    uint16_t minor;
    uint32_t capabilities;
    uint16_t max_tags;
    uint32_t max_message;
    uint32_t reassembly_budget;
    uint16_t listen_port;
    const uint8_t *ext;
    size_t ext_len;
};

struct parley_ext_iter {
    const uint8_t *buf;
    size_t len, pos;
};

/* Decodes the layout only. Errors: PARLEY_E_PAYLOAD_MALFORMED (shorter than 114 bytes, or
 * a TLV header or value running past the end) [HS-5]. */
int parley_identity_decode(struct parley_identity *id, const uint8_t *buf, size_t len);

/* Encodes id (fixed part, then ext as is). Returns the length. Errors: PARLEY_E_NOROOM. */
int parley_identity_encode(const struct parley_identity *id, uint8_t *out, size_t cap);

/* Sets identity_key and signature: Ed25519 by ed_sk (libsodium's 64-byte secret key) over
 * "parley-noise-static-key:" || static_pk. Errors: PARLEY_E_INTERNAL. */
int parley_identity_sign(struct parley_identity *id, const uint8_t ed_sk[64],
                         const uint8_t static_pk[PARLEY_KEY_LEN]);

/* Decodes and checks a received payload in the order of spec §2.2: PARLEY_E_PAYLOAD_MALFORMED,
 * PARLEY_E_LIMITS_BELOW_FLOOR, PARLEY_E_REFLECTION (identity_key == own_identity), then
 * PARLEY_E_BAD_SIGNATURE (key or signature over remote_static fails §2.4). */
int parley_identity_validate(struct parley_identity *id, const uint8_t *buf, size_t len,
                             const uint8_t remote_static[PARLEY_KEY_LEN],
                             const uint8_t own_identity[PARLEY_KEY_LEN]);

/* Extension TLVs of a decoded payload: next() returns 1 and one TLV (value points into
 * the payload), 0 at the end, PARLEY_E_PAYLOAD_MALFORMED on an overrun. */
void parley_ext_begin(struct parley_ext_iter *it, const struct parley_identity *id);
int parley_ext_next(struct parley_ext_iter *it, uint16_t *type, const uint8_t **value,
                    uint16_t *len);

/* Strict Ed25519 verification, spec §2.4 ([ID-1]..[ID-5]). Returns 0 or
 * PARLEY_E_BAD_SIGNATURE; when rule is not NULL it is set to the ID that rejected
 * ("ID-1".."ID-5"), or NULL on success. */
int parley_ed25519_verify(const uint8_t pk[PARLEY_KEY_LEN], const uint8_t *msg, size_t len,
                          const uint8_t sig[PARLEY_SIG_LEN], const char **rule);

enum parley_hs_step {
    PARLEY_HS_WRITE, /* call parley_hs_write */
    PARLEY_HS_READ,  /* call parley_hs_read with the bytes received */
    PARLEY_HS_DONE,  /* call parley_hs_finish */
    PARLEY_HS_FAILED /* close the connection */
};

/* The handshake of one connection over the framing of §2.1. Big (it holds the remote
 * payload, up to 65471 bytes): keep it in the connection, not on a small stack. */
struct parley_hs {
    struct parley_noise noise;
    enum parley_hs_step step;
    const uint8_t *own_payload;
    size_t own_len;
    uint8_t own_identity[PARLEY_KEY_LEN];
    struct parley_identity remote; /* valid once DONE; remote.ext points into payload */
    uint8_t remote_static[PARLEY_KEY_LEN];
    uint8_t initiator_ephemeral[PARLEY_KEY_LEN];
    uint8_t handshake_hash[PARLEY_HASH_LEN];
    size_t payload_len;
    uint8_t payload[PARLEY_HS_PAYLOAD_MAX];
};

/* Starts a handshake. prologue is HELLO || ACCEPT as received/sent, byte for byte [HS-2].
 * own_payload is our encoded, signed identity payload (kept by pointer; it must outlive
 * the handshake). Errors: PARLEY_E_STATE (own payload shorter than 114 bytes, or longer
 * than our message allows: 65471 bytes in message 3, 65439 in message 2). */
int parley_hs_init(struct parley_hs *hs, int initiator, const uint8_t *prologue,
                   size_t prologue_len, const uint8_t static_sk[PARLEY_KEY_LEN],
                   const uint8_t *own_payload, size_t own_len);

/* For test vectors only; see parley_noise_set_ephemeral_for_test ([HS-12]). */
int parley_hs_set_ephemeral_for_test(struct parley_hs *hs, const uint8_t e_sk[PARLEY_KEY_LEN]);

/* What the caller does next. */
enum parley_hs_step parley_hs_next(const struct parley_hs *hs);

/* Writes our next framed message (u16 length + Noise message). Returns its length.
 * Errors: PARLEY_E_STATE (not our turn), PARLEY_E_NOROOM, PARLEY_E_HANDSHAKE_FAILED. */
int parley_hs_write(struct parley_hs *hs, uint8_t *out, size_t cap);

/* Reads the peer's next framed message from the received bytes. Returns the bytes
 * consumed; bytes after them are not ours (records once DONE). Errors:
 * PARLEY_E_TRUNCATED (need more bytes; call again with more), PARLEY_E_STATE (not our
 * turn), and the close reasons PARLEY_E_HANDSHAKE_FAILED [HS-1], [HS-3], [HS-4],
 * PARLEY_E_PAYLOAD_MALFORMED, PARLEY_E_LIMITS_BELOW_FLOOR, PARLEY_E_REFLECTION,
 * PARLEY_E_BAD_SIGNATURE. A close reason leaves the handshake FAILED and wiped. */
int parley_hs_read(struct parley_hs *hs, const uint8_t *in, size_t len);

/* Once DONE: Split into the two cipher states and wipe the handshake's secrets. The
 * results stay readable in hs: remote, remote_static, handshake_hash,
 * initiator_ephemeral. Errors: PARLEY_E_STATE. */
int parley_hs_finish(struct parley_hs *hs, struct parley_cipher *c1, struct parley_cipher *c2);

void parley_hs_wipe(struct parley_hs *hs);

/* The handshake deadline ([PRE-7], [HS-11]): the connection started at started_ms; at
 * now_ms (the same clock, milliseconds) the preface and handshake must be complete within
 * HANDSHAKE_TIMEOUT. The core reads no clock: the event loop passes both times.
 * Returns 0 while time is left. Errors: PARLEY_E_TIMEOUT (close the connection). */
int parley_hs_check_deadline(uint64_t started_ms, uint64_t now_ms);

/* -------------------------------------------------------------- record.c */

/* The two directions of an established connection. */
struct parley_records {
    struct parley_cipher send, recv;
    int initiator;
};

#define PARLEY_KEYLOG_LINES_LEN (2 * (11 + 64 + 1 + 64 + 1))

/* Takes the keys of a finished handshake: send = c1 for the initiator, c2 for the
 * responder. Errors: PARLEY_E_STATE (handshake not DONE). */
int parley_records_init(struct parley_records *rec, struct parley_hs *hs);

/* Seals plaintext (whole frames, 8..65519 bytes) into one record: u16 length then the
 * ciphertext. Returns the record's length (2 + ptlen + 16). Errors: PARLEY_E_NOROOM,
 * PARLEY_E_STATE (plaintext length outside 8..65519, or the sending counter would reach
 * 2^64-1 [REC-6]: the caller closes the connection). */
int parley_record_seal(struct parley_cipher *cs, const uint8_t *pt, size_t ptlen,
                       uint8_t *out, size_t cap);

/* Opens the next record from the received bytes into pt (at most cap bytes); *ptlen gets
 * the plaintext length. Returns the bytes consumed. Errors: PARLEY_E_TRUNCATED (need
 * more bytes), PARLEY_E_RECORD_LENGTH [REC-2], PARLEY_E_RECORD_AUTH [REC-3],
 * PARLEY_E_NOROOM, PARLEY_E_STATE (the receiving counter is spent). */
int parley_record_open(struct parley_cipher *cs, const uint8_t *in, size_t len, uint8_t *pt,
                       size_t cap, size_t *ptlen);

/* Wipes both keys ([REC-8]); call it when the connection closes. */
void parley_records_wipe(struct parley_records *rec);

/* Writes the two key-log lines of spec §3.3 ("PARLEY_I2R <ie> <c1>\n" then
 * "PARLEY_R2I <ie> <c2>\n") and a NUL into out. Returns the length without the NUL
 * (PARLEY_KEYLOG_LINES_LEN). Errors: PARLEY_E_NOROOM. */
int parley_keylog_lines(char *out, size_t cap, const uint8_t initiator_ephemeral[PARLEY_KEY_LEN],
                        const struct parley_records *rec);

#endif
