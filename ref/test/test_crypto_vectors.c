/*
 * test_crypto_vectors.c - every case of the crypto golden vectors: handshake.json,
 * identity.json, ed25519.json and the "record" groups of records.json. A valid case gives
 * exactly the listed fields (and re-encodes to exactly its bytes); an invalid case fails
 * with exactly the listed error. Prints per file how many cases ran; zero cases fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"
#include "vec.h"

#define assert_err(rc, name) assert_string_equal(parley_err_name(rc), name)

/* Decodes obj[key] into buf and returns its length. */
static size_t hexbuf(const cJSON *obj, const char *key, uint8_t *buf, size_t cap)
{
    size_t n = vec_hex(vec_str(obj, key), buf, cap);

    assert_true(n != (size_t)-1);
    return n;
}

/* obj[key] equals the n bytes at p. */
static void assert_hex(const cJSON *obj, const char *key, const uint8_t *p, size_t n)
{
    static uint8_t want[PARLEY_NOISE_MSG_MAX + 2];
    size_t len = hexbuf(obj, key, want, sizeof want);

    assert_int_equal(len, n);
    assert_memory_equal(p, want, n);
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    assert_non_null(v);
    return v;
}

static void report(const char *file, int valid, int invalid)
{
    printf("%s: %d cases (%d valid, %d invalid)\n", file, valid + invalid, valid, invalid);
    assert_true(valid + invalid > 0);
}

/* ------------------------------------------------------------- handshake */

/* One side of a vector handshake, built from params as the spec says a peer builds it. */
struct side {
    uint8_t ed_pk[32], ed_sk[64];
    uint8_t static_sk[32], static_pk[32], eph_sk[32];
    uint8_t ext[PARLEY_HS_PAYLOAD_MAX];
    uint8_t payload[PARLEY_HS_PAYLOAD_MAX];
    size_t plen;
};

static struct side ini, resp;
static struct parley_hs hs_i, hs_r;
static uint8_t wire[PARLEY_NOISE_MSG_MAX + 2];

static void side_build(struct side *s, const cJSON *params, const char *role)
{
    char key[64];
    uint8_t seed[32];
    const cJSON *p, *e;
    struct parley_identity id;
    size_t ext_len = 0;
    int n;

    memset(&id, 0, sizeof id);
    snprintf(key, sizeof key, "%s_identity_seed", role);
    assert_int_equal(hexbuf(params, key, seed, sizeof seed), 32);
    crypto_sign_seed_keypair(s->ed_pk, s->ed_sk, seed);
    snprintf(key, sizeof key, "%s_static_private", role);
    assert_int_equal(hexbuf(params, key, s->static_sk, 32), 32);
    crypto_scalarmult_base(s->static_pk, s->static_sk);
    snprintf(key, sizeof key, "%s_ephemeral_private", role);
    assert_int_equal(hexbuf(params, key, s->eph_sk, 32), 32);

    snprintf(key, sizeof key, "%s_payload", role);
    p = member(params, key);
    id.minor = (uint16_t)vec_int(p, "minor");
    id.capabilities = (uint32_t)vec_int(p, "capabilities");
    id.max_tags = (uint16_t)vec_int(p, "max_tags");
    id.max_message = (uint32_t)vec_int(p, "max_message");
    id.reassembly_budget = (uint32_t)vec_int(p, "reassembly_budget");
    id.listen_port = (uint16_t)vec_int(p, "listen_port");
    cJSON_ArrayForEach(e, member(p, "extensions"))
    {
        long long type = vec_int(e, "type");
        size_t vlen = hexbuf(e, "value", s->ext + ext_len + 4, sizeof s->ext - ext_len - 4);
        s->ext[ext_len] = (uint8_t)(type >> 8);
        s->ext[ext_len + 1] = (uint8_t)type;
        s->ext[ext_len + 2] = (uint8_t)(vlen >> 8);
        s->ext[ext_len + 3] = (uint8_t)vlen;
        ext_len += 4 + vlen;
    }
    id.ext = s->ext;
    id.ext_len = ext_len;
    assert_int_equal(parley_identity_sign(&id, s->ed_sk, s->static_pk), 0);
    n = parley_identity_encode(&id, s->payload, sizeof s->payload);
    assert_true(n > 0);
    s->plen = (size_t)n;
}

static void hs_start(struct parley_hs *hs, int initiator, const struct side *s,
                     const uint8_t *prologue, size_t prologue_len)
{
    assert_int_equal(parley_hs_init(hs, initiator, prologue, prologue_len, s->static_sk,
                                    s->payload, s->plen), 0);
    assert_int_equal(parley_hs_set_ephemeral_for_test(hs, s->eph_sk), 0);
}

/* Writer sends one message; it must be exactly fields[key]; reader consumes all of it. */
static void hs_carry(struct parley_hs *writer, struct parley_hs *reader, const cJSON *fields,
                     const char *key)
{
    int n = parley_hs_write(writer, wire, sizeof wire);

    assert_true(n > 0);
    assert_hex(fields, key, wire, (size_t)n);
    assert_int_equal(parley_hs_read(reader, wire, (size_t)n), n);
}

/* Seals plaintext `pt_key` with tx: exactly `rec_key`; rx opens it back. */
static void record_check(struct parley_cipher *tx, struct parley_cipher *rx, const cJSON *f,
                         const char *pt_key, const char *rec_key)
{
    static uint8_t pt[PARLEY_RECORD_MAX], rec[PARLEY_RECORD_MAX + 2], out[PARLEY_RECORD_MAX];
    size_t ptlen = hexbuf(f, pt_key, pt, sizeof pt), outlen = 0;
    int n = parley_record_seal(tx, pt, ptlen, rec, sizeof rec);

    assert_true(n > 0);
    assert_hex(f, rec_key, rec, (size_t)n);
    assert_int_equal(parley_record_open(rx, rec, (size_t)n, out, sizeof out, &outlen), n);
    assert_int_equal(outlen, ptlen);
    assert_memory_equal(out, pt, ptlen);
}

static void prologue_of(const cJSON *params, uint8_t *pro, size_t cap, size_t *len)
{
    size_t h = hexbuf(params, "hello", pro, cap);

    *len = h + hexbuf(params, "accept", pro + h, cap - h);
}

/* [HS-1] [HS-2] [HS-5] [HS-6] [HS-9] [REC-1] [KEYLOG-1] fixed keys give exactly the listed
 * messages, payloads, hash, split keys, key log and first records. */
static void handshake_valid(const cJSON *params, const cJSON *f)
{
    struct parley_records ri, rr;
    uint8_t pro[128];
    size_t pro_len;
    char keylog[PARLEY_KEYLOG_LINES_LEN + 1], want[PARLEY_KEYLOG_LINES_LEN + 1];
    const cJSON *lines = member(f, "keylog");

    side_build(&ini, params, "initiator");
    side_build(&resp, params, "responder");
    prologue_of(params, pro, sizeof pro, &pro_len);
    assert_hex(f, "prologue", pro, pro_len); /* [PRE-8] HELLO || ACCEPT */
    assert_hex(f, "initiator_identity", ini.ed_pk, 32);
    assert_hex(f, "responder_identity", resp.ed_pk, 32);
    assert_hex(f, "initiator_static_public", ini.static_pk, 32);
    assert_hex(f, "responder_static_public", resp.static_pk, 32);
    assert_hex(f, "initiator_payload", ini.payload, ini.plen);
    assert_hex(f, "responder_payload", resp.payload, resp.plen);

    hs_start(&hs_i, 1, &ini, pro, pro_len);
    hs_start(&hs_r, 0, &resp, pro, pro_len);
    assert_hex(f, "initiator_ephemeral_public", hs_i.noise.e_pk, 32);
    assert_hex(f, "responder_ephemeral_public", hs_r.noise.e_pk, 32);
    hs_carry(&hs_i, &hs_r, f, "msg1");
    hs_carry(&hs_r, &hs_i, f, "msg2");
    hs_carry(&hs_i, &hs_r, f, "msg3");
    assert_int_equal(parley_hs_next(&hs_i), PARLEY_HS_DONE);
    assert_int_equal(parley_hs_next(&hs_r), PARLEY_HS_DONE);
    assert_hex(f, "handshake_hash", hs_i.handshake_hash, 32);
    assert_hex(f, "handshake_hash", hs_r.handshake_hash, 32);
    assert_hex(f, "responder_identity", hs_i.remote.identity_key, 32);
    assert_hex(f, "initiator_identity", hs_r.remote.identity_key, 32);
    assert_hex(f, "responder_static_public", hs_i.remote_static, 32);
    assert_hex(f, "initiator_static_public", hs_r.remote_static, 32);
    assert_hex(f, "responder_payload", hs_i.payload, hs_i.payload_len);
    assert_hex(f, "initiator_payload", hs_r.payload, hs_r.payload_len);
    assert_hex(f, "initiator_ephemeral_public", hs_r.initiator_ephemeral, 32);

    assert_int_equal(parley_records_init(&ri, &hs_i), 0);
    assert_int_equal(parley_records_init(&rr, &hs_r), 0);
    assert_hex(f, "i2r_key", ri.send.k, 32);
    assert_hex(f, "i2r_key", rr.recv.k, 32);
    assert_hex(f, "r2i_key", ri.recv.k, 32);
    assert_hex(f, "r2i_key", rr.send.k, 32);
    assert_int_equal(cJSON_GetArraySize(lines), 2);
    snprintf(want, sizeof want, "%s\n%s\n", cJSON_GetArrayItem(lines, 0)->valuestring,
             cJSON_GetArrayItem(lines, 1)->valuestring);
    assert_int_equal(parley_keylog_lines(keylog, sizeof keylog, hs_i.initiator_ephemeral, &ri),
                     PARLEY_KEYLOG_LINES_LEN);
    assert_string_equal(keylog, want);
    assert_int_equal(parley_keylog_lines(keylog, sizeof keylog, hs_r.initiator_ephemeral, &rr),
                     PARLEY_KEYLOG_LINES_LEN);
    assert_string_equal(keylog, want);

    record_check(&ri.send, &rr.recv, f, "i2r_plaintext_0", "i2r_record_0");
    record_check(&rr.send, &ri.recv, f, "r2i_plaintext_0", "r2i_record_0");
    record_check(&ri.send, &rr.recv, f, "i2r_plaintext_1", "i2r_record_1");
    record_check(&rr.send, &ri.recv, f, "r2i_plaintext_1", "r2i_record_1");
    parley_records_wipe(&ri);
    parley_records_wipe(&rr);
}

/* The side under test receives `messages` in order (writing its own in between) and fails
 * on Noise message `failing_message` with exactly `error`. */
static void handshake_invalid(const cJSON *params, const cJSON *t)
{
    static uint8_t msg[PARLEY_NOISE_MSG_MAX + 2];
    int initiator = strcmp(vec_str(t, "receiver"), "initiator") == 0;
    struct side *s = initiator ? &ini : &resp;
    const cJSON *m = member(t, "messages")->child;
    uint8_t pro[128];
    size_t len, pro_len = hexbuf(t, "prologue", pro, sizeof pro);
    int rc = 0, msgno = 0;

    side_build(s, params, initiator ? "initiator" : "responder");
    hs_start(&hs_i, initiator, s, pro, pro_len);
    while (rc >= 0 && parley_hs_next(&hs_i) != PARLEY_HS_DONE) {
        msgno = hs_i.noise.next + 1;
        if (parley_hs_next(&hs_i) == PARLEY_HS_WRITE) {
            rc = parley_hs_write(&hs_i, wire, sizeof wire);
            assert_true(rc > 0);
            continue;
        }
        assert_true(cJSON_IsString(m)); /* the vector lists a message for every read */
        len = vec_hex(m->valuestring, msg, sizeof msg);
        assert_true(len != (size_t)-1);
        rc = parley_hs_read(&hs_i, msg, len);
        m = m->next;
    }
    assert_true(rc < 0);
    assert_err(rc, vec_str(t, "error"));
    assert_int_equal(msgno, vec_int(t, "failing_message"));
    assert_int_equal(parley_hs_next(&hs_i), PARLEY_HS_FAILED);
}

static void test_handshake_vectors(void **state)
{
    cJSON *root = vec_load("handshake");
    int valid = 0, invalid = 0;

    (void)state;
    VEC_FOREACH_TEST(root, g, t)
    {
        const cJSON *params = member(g, "params");
        if (strcmp(vec_str(t, "result"), "valid") == 0) {
            handshake_valid(params, member(t, "fields"));
            valid++;
        } else {
            handshake_invalid(params, t);
            invalid++;
        }
    }
    report("handshake.json", valid, invalid);
    cJSON_Delete(root);
}

/* -------------------------------------------------------------- identity */

static void identity_fields(const struct parley_identity *id, const cJSON *f)
{
    struct parley_ext_iter it;
    const cJSON *e;
    const uint8_t *value;
    uint16_t type, vlen;

    assert_hex(f, "identity_key", id->identity_key, 32);
    assert_hex(f, "signature", id->signature, 64);
    assert_int_equal(id->minor, vec_int(f, "minor"));
    assert_int_equal(id->capabilities, vec_int(f, "capabilities"));
    assert_int_equal(id->max_tags, vec_int(f, "max_tags"));
    assert_int_equal(id->max_message, vec_int(f, "max_message"));
    assert_int_equal(id->reassembly_budget, vec_int(f, "reassembly_budget"));
    assert_int_equal(id->listen_port, vec_int(f, "listen_port"));
    parley_ext_begin(&it, id);
    cJSON_ArrayForEach(e, member(f, "extensions"))
    {
        assert_int_equal(parley_ext_next(&it, &type, &value, &vlen), 1);
        assert_int_equal(type, vec_int(e, "type"));
        assert_hex(e, "value", value, vlen);
    }
    assert_int_equal(parley_ext_next(&it, &type, &value, &vlen), 0);
}

/* [HS-5]..[HS-9], [ID-*]: decode and validate in the order of §2.2. */
static void test_identity_vectors(void **state)
{
    static uint8_t buf[PARLEY_HS_PAYLOAD_MAX + 1], out[PARLEY_HS_PAYLOAD_MAX];
    cJSON *root = vec_load("identity");
    int valid = 0, invalid = 0;

    (void)state;
    VEC_FOREACH_TEST(root, g, t)
    {
        const cJSON *params = member(g, "params");
        uint8_t remote_static[32], own[32];
        struct parley_identity id;
        size_t len = hexbuf(t, "hex", buf, sizeof buf);
        int rc;

        assert_int_equal(hexbuf(params, "remote_static", remote_static, 32), 32);
        assert_int_equal(hexbuf(params, "own_identity", own, 32), 32);
        rc = parley_identity_validate(&id, buf, len, remote_static, own);
        if (strcmp(vec_str(t, "result"), "valid") == 0) {
            assert_int_equal(rc, 0);
            identity_fields(&id, member(t, "fields"));
            assert_int_equal(parley_identity_encode(&id, out, sizeof out), (int)len);
            assert_memory_equal(out, buf, len);
            valid++;
        } else {
            assert_err(rc, vec_str(t, "error"));
            invalid++;
        }
    }
    report("identity.json", valid, invalid);
    cJSON_Delete(root);
}

/* --------------------------------------------------------------- ed25519 */

/* [ID-1]..[ID-5]: the verdict, and for a rejection the first rule that rejects. */
static void test_ed25519_vectors(void **state)
{
    static uint8_t msg[4096];
    cJSON *root = vec_load("ed25519");
    int valid = 0, invalid = 0;

    (void)state;
    VEC_FOREACH_TEST(root, g, t)
    {
        uint8_t pk[32], sig[64];
        size_t len = hexbuf(t, "msg", msg, sizeof msg);
        const char *rule = NULL;
        int rc;

        assert_int_equal(hexbuf(t, "pk", pk, sizeof pk), 32);
        assert_int_equal(hexbuf(t, "sig", sig, sizeof sig), 64);
        rc = parley_ed25519_verify(pk, msg, len, sig, &rule);
        if (strcmp(vec_str(t, "result"), "valid") == 0) {
            assert_int_equal(rc, 0);
            valid++;
        } else {
            assert_err(rc, vec_str(t, "error"));
            assert_non_null(rule);
            assert_string_equal(rule, vec_str(t, "rule"));
            invalid++;
        }
    }
    report("ed25519.json", valid, invalid);
    cJSON_Delete(root);
}

/* --------------------------------------------------------------- records */

/* [REC-1]..[REC-3]: open with params.key at counter params.nonce; a valid case re-seals to
 * exactly its bytes. */
static void test_record_vectors(void **state)
{
    static uint8_t rec[PARLEY_RECORD_MAX + 2], pt[PARLEY_RECORD_MAX], out[PARLEY_RECORD_MAX + 2];
    cJSON *root = vec_load("records");
    int valid = 0, invalid = 0;

    (void)state;
    VEC_FOREACH_TEST(root, g, t)
    {
        const cJSON *params = member(g, "params");
        struct parley_cipher cs;
        uint8_t key[32];
        uint64_t nonce;
        size_t len, ptlen = 0;
        int rc;

        if (strcmp(vec_str(g, "type"), "record") != 0)
            continue;
        assert_int_equal(hexbuf(params, "key", key, sizeof key), 32);
        nonce = (uint64_t)vec_int(params, "nonce");
        len = hexbuf(t, "hex", rec, sizeof rec);
        parley_cipher_init(&cs, key, nonce);
        rc = parley_record_open(&cs, rec, len, pt, sizeof pt, &ptlen);
        if (strcmp(vec_str(t, "result"), "valid") == 0) {
            assert_int_equal(rc, (int)len);
            assert_hex(member(t, "fields"), "plaintext", pt, ptlen);
            parley_cipher_init(&cs, key, nonce);
            assert_int_equal(parley_record_seal(&cs, pt, ptlen, out, sizeof out), (int)len);
            assert_memory_equal(out, rec, len);
            valid++;
        } else {
            assert_err(rc, vec_str(t, "error"));
            invalid++;
        }
        parley_cipher_wipe(&cs);
    }
    report("records.json (record groups)", valid, invalid);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_vectors),
        cmocka_unit_test(test_identity_vectors),
        cmocka_unit_test(test_ed25519_vectors),
        cmocka_unit_test(test_record_vectors),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
