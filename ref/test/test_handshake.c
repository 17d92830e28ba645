/*
 * test_handshake.c - spec/02-handshake.md: the XX exchange over the §2.1 framing, the
 * identity payload and its validation order, and the strict Ed25519 rules of §2.4.
 * Most tests are negative: each breaks one rule and expects exactly its close reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"

#define assert_err(rc, name) assert_string_equal(parley_err_name(rc), name)

static const uint8_t prologue[] = {'P', 'A', 'R', 'L', 'E', 'Y', 1, 1, 1,
                                   'P', 'A', 'R', 'L', 'E', 'Y', 2, 1};

struct node {
    uint8_t ed_sk[64];
    uint8_t x_sk[32], x_pk[32];
    struct parley_identity id;
    uint8_t payload[512];
    size_t plen;
};

/* Each side's handshake is large (it holds up to 64 KiB of remote payload). */
static struct parley_hs hs_i, hs_r;
static uint8_t wire[PARLEY_NOISE_MSG_MAX + 2];

static void node_encode(struct node *n)
{
    int len = parley_identity_encode(&n->id, n->payload, sizeof n->payload);

    assert_true(len >= PARLEY_IDENTITY_FIXED_LEN);
    n->plen = (size_t)len;
}

/* A node whose keys all derive from `seed`, with default limits and a signed payload. */
static void node_make(struct node *n, uint8_t seed, const uint8_t *ext, size_t ext_len)
{
    uint8_t s[32], pk[32];

    memset(n, 0, sizeof *n);
    memset(s, seed, sizeof s);
    crypto_sign_seed_keypair(pk, n->ed_sk, s);
    memset(n->x_sk, seed ^ 0x5a, sizeof n->x_sk);
    crypto_scalarmult_base(n->x_pk, n->x_sk);
    n->id.capabilities = 0xfffffff1u; /* [HS-9] unknown bits too */
    n->id.max_tags = PARLEY_DEFAULT_MAX_TAGS;
    n->id.max_message = PARLEY_DEFAULT_MAX_MESSAGE;
    n->id.reassembly_budget = PARLEY_DEFAULT_REASSEMBLY_BUDGET;
    n->id.listen_port = 4242;
    n->id.ext = ext;
    n->id.ext_len = ext_len;
    assert_int_equal(parley_identity_sign(&n->id, n->ed_sk, n->x_pk), 0);
    node_encode(n);
}

static void start(const struct node *ini, const struct node *resp, const uint8_t *pro_r,
                  size_t pro_r_len)
{
    assert_int_equal(parley_hs_init(&hs_i, 1, prologue, sizeof prologue, ini->x_sk,
                                    ini->payload, ini->plen), 0);
    assert_int_equal(parley_hs_init(&hs_r, 0, pro_r, pro_r_len, resp->x_sk, resp->payload,
                                    resp->plen), 0);
}

/* Carries one message from writer to reader; returns the reader's result. */
static int carry(struct parley_hs *writer, struct parley_hs *reader)
{
    int n = parley_hs_write(writer, wire, sizeof wire);

    assert_true(n > 0);
    return parley_hs_read(reader, wire, (size_t)n);
}

/* Runs the three messages; returns 0 or the first reader error. */
static int run(const struct node *ini, const struct node *resp)
{
    int rc;

    start(ini, resp, prologue, sizeof prologue);
    if ((rc = carry(&hs_i, &hs_r)) < 0 || (rc = carry(&hs_r, &hs_i)) < 0 ||
        (rc = carry(&hs_i, &hs_r)) < 0)
        return rc;
    return 0;
}

/* [HS-1] [HS-6] [HS-9] both sides complete, learn each other's identity and static key,
 * agree on the hash and keys, and ignore unknown TLVs and capability bits. */
static void test_handshake_completes(void **state)
{
    static const uint8_t ext[] = {0xff, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0x00, 0x02, 0x00, 0x00};
    struct node a, b;
    struct parley_records ri, rr;
    struct parley_ext_iter it;
    uint8_t pt[8] = {2, 0, 0, 0, 0, 0, 0, 0}, rec[64], out[64];
    const uint8_t *value;
    uint16_t type, vlen;
    size_t outlen;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, ext, sizeof ext);
    assert_int_equal(run(&a, &b), 0);
    assert_int_equal(parley_hs_next(&hs_i), PARLEY_HS_DONE);
    assert_int_equal(parley_hs_next(&hs_r), PARLEY_HS_DONE);
    assert_memory_equal(hs_i.remote.identity_key, b.id.identity_key, 32);
    assert_memory_equal(hs_r.remote.identity_key, a.id.identity_key, 32);
    assert_memory_equal(hs_i.remote_static, b.x_pk, 32);
    assert_memory_equal(hs_r.remote_static, a.x_pk, 32);
    assert_memory_equal(hs_i.handshake_hash, hs_r.handshake_hash, 32);
    assert_memory_equal(hs_i.initiator_ephemeral, hs_r.initiator_ephemeral, 32);
    assert_int_equal(hs_i.remote.listen_port, 4242);
    parley_ext_begin(&it, &hs_i.remote);
    assert_int_equal(parley_ext_next(&it, &type, &value, &vlen), 1);
    assert_int_equal(type, 0xff01);
    assert_int_equal(vlen, 3);
    assert_memory_equal(value, "abc", 3);
    assert_int_equal(parley_ext_next(&it, &type, &value, &vlen), 1);
    assert_int_equal(type, 2);
    assert_int_equal(vlen, 0);
    assert_int_equal(parley_ext_next(&it, &type, &value, &vlen), 0);

    assert_int_equal(parley_records_init(&ri, &hs_i), 0);
    assert_int_equal(parley_records_init(&rr, &hs_r), 0);
    assert_err(parley_records_init(&rr, &hs_r), "STATE"); /* Split once */
    /* [REC-1] each direction's key opens on the other side, and only there. */
    assert_int_equal(parley_record_seal(&ri.send, pt, 8, rec, sizeof rec), 26);
    assert_int_equal(parley_record_open(&rr.recv, rec, 26, out, sizeof out, &outlen), 26);
    assert_int_equal(parley_record_seal(&rr.send, pt, 8, rec, sizeof rec), 26);
    assert_err(parley_record_open(&rr.recv, rec, 26, out, sizeof out, &outlen), "RECORD_AUTH");
    assert_int_equal(parley_record_open(&ri.recv, rec, 26, out, sizeof out, &outlen), 26);
    parley_records_wipe(&ri);
    parley_records_wipe(&rr);
}

/* [HS-2] a prologue that differs (a tampered HELLO or ACCEPT) breaks message 2. */
static void test_tampered_prologue(void **state)
{
    uint8_t pro[sizeof prologue];
    struct node a, b;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    memcpy(pro, prologue, sizeof pro);
    pro[7] = 2; /* the responder saw another major list */
    start(&a, &b, pro, sizeof pro);
    assert_int_equal(carry(&hs_i, &hs_r), 34);
    assert_err(carry(&hs_r, &hs_i), "HANDSHAKE_FAILED");
    assert_int_equal(parley_hs_next(&hs_i), PARLEY_HS_FAILED);
    assert_err(parley_hs_write(&hs_i, wire, sizeof wire), "STATE");
}

/* [HS-7] a peer that receives its own identity closes, on either side. */
static void test_reflection(void **state)
{
    struct node a, a2;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&a2, 1, NULL, 0);
    memset(a2.x_sk, 0x77, 32); /* another Noise static key, same identity */
    crypto_scalarmult_base(a2.x_pk, a2.x_sk);
    assert_int_equal(parley_identity_sign(&a2.id, a2.ed_sk, a2.x_pk), 0);
    node_encode(&a2);
    assert_err(run(&a, &a2), "REFLECTION"); /* the initiator, on message 2 */
    assert_int_equal(parley_hs_next(&hs_i), PARLEY_HS_FAILED);
}

/* [HS-6] an identity payload copied from another session (signed over another static
 * key) fails, at the responder on message 3. */
static void test_copied_identity(void **state)
{
    struct node a, b, thief;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    node_make(&thief, 3, NULL, 0);
    memcpy(thief.payload, a.payload, a.plen);
    thief.plen = a.plen;
    assert_err(run(&thief, &b), "BAD_SIGNATURE");
    assert_int_equal(parley_hs_next(&hs_r), PARLEY_HS_FAILED);
}

/* [HS-8] limits below the floors close with LIMITS_BELOW_FLOOR. */
static void test_limits_below_floor(void **state)
{
    struct node a, b;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    b.id.max_tags = PARLEY_MIN_MAX_TAGS - 1;
    node_encode(&b);
    assert_err(run(&a, &b), "LIMITS_BELOW_FLOOR");
    b.id.max_tags = PARLEY_MIN_MAX_TAGS;
    b.id.max_message = PARLEY_MIN_MAX_MESSAGE - 1;
    node_encode(&b);
    assert_err(run(&a, &b), "LIMITS_BELOW_FLOOR");
    b.id.max_message = PARLEY_MIN_MAX_MESSAGE;
    b.id.reassembly_budget = PARLEY_MIN_MAX_MESSAGE - 1;
    node_encode(&b);
    assert_err(run(&a, &b), "LIMITS_BELOW_FLOOR");
    b.id.reassembly_budget = PARLEY_MIN_MAX_MESSAGE; /* the floors themselves pass */
    node_encode(&b);
    assert_int_equal(run(&a, &b), 0);
}

/* [HS-1] [HS-3] message 1 is exactly 32 bytes; a wrong length fails as soon as the length
 * field is in, before the body arrives. */
static void test_message1_length(void **state)
{
    struct node a, b;
    struct parley_noise raw;
    uint8_t frame[64] = {0, 33};
    int n;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    start(&a, &b, prologue, sizeof prologue);
    assert_err(parley_hs_read(&hs_r, frame, 2), "HANDSHAKE_FAILED");
    start(&a, &b, prologue, sizeof prologue);
    frame[1] = 31;
    assert_err(parley_hs_read(&hs_r, frame, 2), "HANDSHAKE_FAILED");
    /* [HS-3] a real Noise message 1 with a one-byte payload */
    parley_noise_init(&raw, 1, prologue, sizeof prologue, a.x_sk);
    n = parley_noise_write(&raw, (const uint8_t *)"x", 1, frame + 2, sizeof frame - 2);
    assert_int_equal(n, 33);
    frame[0] = 0;
    frame[1] = 33;
    start(&a, &b, prologue, sizeof prologue);
    assert_err(parley_hs_read(&hs_r, frame, 35), "HANDSHAKE_FAILED");
}

/* [HS-1] messages 2 and 3 shorter than the framing allows fail on the length field. */
static void test_message23_length(void **state)
{
    struct node a, b;
    uint8_t frame[2];

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    start(&a, &b, prologue, sizeof prologue);
    assert_int_equal(carry(&hs_i, &hs_r), 34);
    frame[0] = 0;
    frame[1] = 209; /* 32 + 48 + 16 + 113 */
    assert_err(parley_hs_read(&hs_i, frame, 2), "HANDSHAKE_FAILED");

    start(&a, &b, prologue, sizeof prologue);
    assert_int_equal(carry(&hs_i, &hs_r), 34);
    assert_true(carry(&hs_r, &hs_i) > 0);
    frame[1] = 177; /* 48 + 16 + 113 */
    assert_err(parley_hs_read(&hs_r, frame, 2), "HANDSHAKE_FAILED");
}

/* [HS-4] a flipped bit in message 2 or 3 fails decryption. */
static void test_flipped_bit(void **state)
{
    struct node a, b;
    int n;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    for (size_t at = 2; at < 2 + 96 + 114; at += 37) {
        start(&a, &b, prologue, sizeof prologue);
        assert_int_equal(carry(&hs_i, &hs_r), 34);
        n = parley_hs_write(&hs_r, wire, sizeof wire);
        wire[at] ^= 0x80;
        assert_err(parley_hs_read(&hs_i, wire, (size_t)n), "HANDSHAKE_FAILED");
    }
    start(&a, &b, prologue, sizeof prologue);
    assert_int_equal(carry(&hs_i, &hs_r), 34);
    assert_true(carry(&hs_r, &hs_i) > 0);
    n = parley_hs_write(&hs_i, wire, sizeof wire);
    wire[n - 1] ^= 0x01;
    assert_err(parley_hs_read(&hs_r, wire, (size_t)n), "HANDSHAKE_FAILED");
}

/* [HS-10] a responder that gets a record instead of message 3 closes. */
static void test_record_instead_of_message3(void **state)
{
    struct node a, b;
    uint8_t rec[2 + 200];

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    start(&a, &b, prologue, sizeof prologue);
    assert_int_equal(carry(&hs_i, &hs_r), 34);
    assert_true(carry(&hs_r, &hs_i) > 0);
    memset(rec, 0x42, sizeof rec);
    rec[0] = 0;
    rec[1] = 24; /* a short record */
    assert_err(parley_hs_read(&hs_r, rec, 26), "HANDSHAKE_FAILED");

    start(&a, &b, prologue, sizeof prologue);
    assert_int_equal(carry(&hs_i, &hs_r), 34);
    assert_true(carry(&hs_r, &hs_i) > 0);
    rec[1] = 200; /* long enough to be message 3, but it is not */
    assert_err(parley_hs_read(&hs_r, rec, sizeof rec), "HANDSHAKE_FAILED");
}

/* [HS-1] [HS-10] bytes arrive piecemeal: TRUNCATED until the frame is whole, then exactly
 * the frame is consumed; bytes after it are left to the caller. Calls out of turn are
 * refused. */
static void test_incremental_and_state(void **state)
{
    static uint8_t buf[PARLEY_NOISE_MSG_MAX + 16];
    struct node a, b;
    int n;

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    start(&a, &b, prologue, sizeof prologue);
    assert_err(parley_hs_read(&hs_i, buf, 0), "STATE");
    assert_err(parley_hs_write(&hs_r, buf, sizeof buf), "STATE");
    assert_err(parley_hs_write(&hs_i, buf, 33), "NOROOM");
    n = parley_hs_write(&hs_i, buf, sizeof buf);
    for (int i = 0; i < n; i++)
        assert_err(parley_hs_read(&hs_r, buf, (size_t)i), "TRUNCATED");
    assert_int_equal(parley_hs_read(&hs_r, buf, (size_t)n), n);
    n = parley_hs_write(&hs_r, buf, sizeof buf);
    assert_err(parley_hs_read(&hs_i, buf, (size_t)n - 1), "TRUNCATED");
    memset(buf + n, 0x99, 5);
    assert_int_equal(parley_hs_read(&hs_i, buf, (size_t)n + 5), n);
    n = parley_hs_write(&hs_i, buf, sizeof buf);
    assert_int_equal(parley_hs_read(&hs_r, buf, (size_t)n), n);
    assert_err(parley_hs_read(&hs_r, buf, (size_t)n), "STATE");
}

/* [HS-12] the same two nodes never produce the same handshake twice. */
static void test_handshakes_differ(void **state)
{
    struct node a, b;
    uint8_t h[32];

    (void)state;
    node_make(&a, 1, NULL, 0);
    node_make(&b, 2, NULL, 0);
    assert_int_equal(run(&a, &b), 0);
    memcpy(h, hs_i.handshake_hash, 32);
    assert_int_equal(run(&a, &b), 0);
    assert_memory_not_equal(h, hs_i.handshake_hash, 32);
}

/* [HS-5] our own payload must be a possible identity payload that fits our message. */
static void test_init_refuses_bad_own_payload(void **state)
{
    static uint8_t big[PARLEY_NOISE_MSG_MAX];
    uint8_t sk[32] = {1};

    (void)state;
    assert_err(parley_hs_init(&hs_i, 1, NULL, 0, sk, big, 113), "STATE");
    assert_err(parley_hs_init(&hs_r, 0, NULL, 0, sk, big, 65440), "STATE"); /* message 2 */
    assert_int_equal(parley_hs_init(&hs_r, 0, NULL, 0, sk, big, 65439), 0);
    assert_err(parley_hs_init(&hs_i, 1, NULL, 0, sk, big, 65472), "STATE"); /* message 3 */
    assert_int_equal(parley_hs_init(&hs_i, 1, NULL, 0, sk, big, 65471), 0);
}

/* ------------------------------------------------------- identity payload */

/* [HS-5] shorter than 114 bytes, or TLVs that overrun, is PAYLOAD_MALFORMED. */
static void test_identity_layout(void **state)
{
    struct parley_identity id;
    uint8_t buf[130] = {0};

    (void)state;
    assert_err(parley_identity_decode(&id, buf, 113), "PAYLOAD_MALFORMED");
    assert_int_equal(parley_identity_decode(&id, buf, 114), 0);
    assert_err(parley_identity_decode(&id, buf, 115), "PAYLOAD_MALFORMED"); /* half a type */
    assert_err(parley_identity_decode(&id, buf, 117), "PAYLOAD_MALFORMED"); /* half a length */
    buf[117] = 1; /* length 1, value missing */
    assert_err(parley_identity_decode(&id, buf, 118), "PAYLOAD_MALFORMED");
    assert_int_equal(parley_identity_decode(&id, buf, 119), 0);
    assert_int_equal(id.ext_len, 5);
}

/* The validation order of §2.2: layout, limits, reflection, then the signature. */
static void test_identity_validation_order(void **state)
{
    struct node a;
    struct parley_identity id;
    uint8_t other[32] = {9};

    (void)state;
    node_make(&a, 1, NULL, 0);
    assert_int_equal(parley_identity_validate(&id, a.payload, a.plen, a.x_pk, other), 0);
    a.id.signature[0] ^= 1; /* bad signature ... */
    a.id.max_tags = 1;      /* ... and low limits */
    node_encode(&a);
    /* [HS-5] before everything */
    assert_err(parley_identity_validate(&id, a.payload, 113, a.x_pk, other), "PAYLOAD_MALFORMED");
    /* [HS-8] before reflection and signature */
    assert_err(parley_identity_validate(&id, a.payload, a.plen, a.x_pk, a.id.identity_key),
               "LIMITS_BELOW_FLOOR");
    a.id.max_tags = 256;
    node_encode(&a);
    /* [HS-7] before the signature */
    assert_err(parley_identity_validate(&id, a.payload, a.plen, a.x_pk, a.id.identity_key),
               "REFLECTION");
    /* [HS-6] */
    assert_err(parley_identity_validate(&id, a.payload, a.plen, a.x_pk, other), "BAD_SIGNATURE");
}

/* ---------------------------------------------------------------- Ed25519 */

static const uint8_t ED_L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                 0,    0,    0,    0,    0,    0,    0,    0,
                                 0,    0,    0,    0,    0,    0,    0,    0x10};
/* A point of order 8 (its y, little-endian). */
static const uint8_t ORDER8[32] = {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0,
                                   0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
                                   0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39,
                                   0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05};

static void expect_rule(const uint8_t pk[32], const uint8_t *m, size_t len,
                        const uint8_t sig[64], const char *want)
{
    const char *rule = "unset";
    int rc = parley_ed25519_verify(pk, m, len, sig, &rule);

    if (want == NULL) {
        assert_int_equal(rc, 0);
        assert_null(rule);
    } else {
        assert_err(rc, "BAD_SIGNATURE");
        assert_string_equal(rule, want);
    }
}

/* [ID-1] S = S + L (same value mod L) is refused; [ID-5] a wrong message is refused. */
static void test_ed25519_s_and_equation(void **state)
{
    uint8_t pk[32], sk[64], sig[64];
    unsigned carry = 0;

    (void)state;
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, sk);
    expect_rule(pk, (const uint8_t *)"m", 1, sig, NULL);
    expect_rule(pk, (const uint8_t *)"n", 1, sig, "ID-5");
    for (int i = 0; i < 32; i++) { /* S += L: S < L so the sum fits 256 bits */
        carry += (unsigned)sig[32 + i] + ED_L[i];
        sig[32 + i] = (uint8_t)carry;
        carry >>= 8;
    }
    expect_rule(pk, (const uint8_t *)"m", 1, sig, "ID-1");
}

/* [ID-2] non-canonical y, x = 0 with the sign bit, off-curve; [ID-3] small order. */
static void test_ed25519_public_key(void **state)
{
    uint8_t pk[32], sk[64], sig[64], a[32];

    (void)state;
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, sk);
    memset(a, 0xff, 32); /* y = 2^255 - 1 >= p */
    a[31] = 0x7f;
    expect_rule(a, (const uint8_t *)"m", 1, sig, "ID-2");
    memset(a, 0, 32); /* y = 1 with the sign bit: "x = 0, negative" */
    a[0] = 1;
    a[31] = 0x80;
    expect_rule(a, (const uint8_t *)"m", 1, sig, "ID-2");
    memset(a, 0, 32); /* y = 2 is not on the curve */
    a[0] = 2;
    expect_rule(a, (const uint8_t *)"m", 1, sig, "ID-2");
    memset(a, 0, 32); /* the identity: order 1 */
    a[0] = 1;
    expect_rule(a, (const uint8_t *)"m", 1, sig, "ID-3");
    expect_rule(ORDER8, (const uint8_t *)"m", 1, sig, "ID-3");
    memset(a, 0, 32); /* y = 0: order 4 */
    expect_rule(a, (const uint8_t *)"m", 1, sig, "ID-3");
}

/* [ID-4] R of small order, or not canonical. */
static void test_ed25519_r(void **state)
{
    uint8_t pk[32], sk[64], sig[64];

    (void)state;
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, sk);
    memcpy(sig, ORDER8, 32);
    expect_rule(pk, (const uint8_t *)"m", 1, sig, "ID-4");
    memset(sig, 0xff, 32);
    sig[31] = 0x7f;
    expect_rule(pk, (const uint8_t *)"m", 1, sig, "ID-4");
}

/* [ID-3] a mixed-order key (prime-order point + order-8 point) is not refused by the
 * small-order rule: a signature that satisfies the cofactorless equation verifies. */
static void test_ed25519_mixed_order_key(void **state)
{
    uint8_t seed[32] = {42}, pk[32], sk[64], a[32], h[64], az[64];
    uint8_t mixed[32], r[32], rb[32], t[32], R[32], k[32], s[64], sig[64];
    crypto_hash_sha512_state hs;
    int tries = 0;

    (void)state;
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_hash_sha512(az, seed, 32); /* the signing scalar a, clamped as Ed25519 does */
    az[0] &= 248;
    az[31] &= 127;
    az[31] |= 64;
    memcpy(a, az, 32);
    assert_int_equal(crypto_core_ed25519_add(mixed, pk, ORDER8), 0);
    /* R = [r]B + T for a small-order T; retry until [k]mixed's torsion part cancels T. */
    for (;;) {
        uint8_t kt[32], sum[32], one[32] = {1};
        assert_true(++tries < 200);
        crypto_core_ed25519_scalar_random(r);
        assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(rb, r), 0);
        memcpy(t, ORDER8, 32);
        assert_int_equal(crypto_core_ed25519_add(R, rb, t), 0);
        crypto_hash_sha512_init(&hs);
        crypto_hash_sha512_update(&hs, R, 32);
        crypto_hash_sha512_update(&hs, mixed, 32);
        crypto_hash_sha512_update(&hs, (const uint8_t *)"m", 1);
        crypto_hash_sha512_final(&hs, h);
        crypto_core_ed25519_scalar_reduce(k, h);
        /* [k]T8 + T8 must be the identity: T8 has order 8, so k mod 8 == 7 */
        memcpy(kt, ORDER8, 32);
        for (int i = 1; i < (k[0] & 7); i++)
            assert_int_equal(crypto_core_ed25519_add(kt, kt, ORDER8), 0);
        if ((k[0] & 7) == 0)
            memcpy(kt, one, 32);
        assert_int_equal(crypto_core_ed25519_add(sum, kt, t), 0);
        if (memcmp(sum, one, 32) == 0)
            break;
    }
    crypto_core_ed25519_scalar_mul(s, k, a); /* S = r + k a */
    crypto_core_ed25519_scalar_add(s, s, r);
    memcpy(sig, R, 32);
    memcpy(sig + 32, s, 32);
    expect_rule(mixed, (const uint8_t *)"m", 1, sig, NULL);
    expect_rule(mixed, (const uint8_t *)"n", 1, sig, "ID-5");
}

/* [PRE-7] [HS-11] the preface and handshake must finish within HANDSHAKE_TIMEOUT. */
static void test_handshake_deadline(void **state)
{
    (void)state;
    assert_int_equal(parley_hs_check_deadline(1000, 1000), 0);
    assert_int_equal(parley_hs_check_deadline(1000, 1000 + PARLEY_HANDSHAKE_TIMEOUT_MS - 1), 0);
    assert_int_equal(parley_hs_check_deadline(1000, 1000 + PARLEY_HANDSHAKE_TIMEOUT_MS),
                     PARLEY_E_TIMEOUT);
    assert_int_equal(parley_hs_check_deadline(1000, UINT64_MAX), PARLEY_E_TIMEOUT);
    assert_int_equal(parley_hs_check_deadline(5000, 10), 0); /* clock stepped back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_completes),
        cmocka_unit_test(test_tampered_prologue),
        cmocka_unit_test(test_reflection),
        cmocka_unit_test(test_copied_identity),
        cmocka_unit_test(test_limits_below_floor),
        cmocka_unit_test(test_message1_length),
        cmocka_unit_test(test_message23_length),
        cmocka_unit_test(test_flipped_bit),
        cmocka_unit_test(test_record_instead_of_message3),
        cmocka_unit_test(test_incremental_and_state),
        cmocka_unit_test(test_handshakes_differ),
        cmocka_unit_test(test_init_refuses_bad_own_payload),
        cmocka_unit_test(test_identity_layout),
        cmocka_unit_test(test_identity_validation_order),
        cmocka_unit_test(test_ed25519_s_and_equation),
        cmocka_unit_test(test_ed25519_public_key),
        cmocka_unit_test(test_ed25519_r),
        cmocka_unit_test(test_ed25519_mixed_order_key),
        cmocka_unit_test(test_handshake_deadline),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
