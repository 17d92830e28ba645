/*
 * test_codec.c - every golden vector of the non-crypto codec: vectors/preface.json,
 * frame_header.json, messages.json, session.json and the record_plaintext groups of
 * records.json. A valid case must decode to exactly its fields (compared as JSON) and
 * re-encode to exactly its hex; an invalid one must fail with exactly its error name.
 * Each file prints how many cases ran, and fails when it ran none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "codec.h"
#include "vec.h"

struct tally {
    const char *file;
    int run;
    int failed;
};

static void fail_case(struct tally *t, const cJSON *test, const char *fmt, ...)
{
    va_list ap;
    const cJSON *c = cJSON_GetObjectItem(test, "comment");

    t->failed++;
    fprintf(stderr, "FAIL %s tcId %lld (%s): ", t->file, vec_int(test, "tcId"),
            cJSON_IsString(c) ? c->valuestring : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void finish(const struct tally *t)
{
    printf("%s: %d cases run, %d failed\n", t->file, t->run, t->failed);
    assert_true(t->run > 0);
    assert_int_equal(t->failed, 0);
}

static char *hex_of(const uint8_t *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    s[2 * n] = '\0';
    return s;
}

static void add_hex(cJSON *o, const char *key, const uint8_t *b, size_t n)
{
    char *s = hex_of(b, n);
    cJSON_AddStringToObject(o, key, s);
    free(s);
}

static void add_text(cJSON *o, const char *key, const uint8_t *t, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    if (n > 0)
        memcpy(s, t, n);
    s[n] = '\0';
    cJSON_AddStringToObject(o, key, s);
    free(s);
}

static int is_draft(int op)
{
    return (op >= PARLEY_OP_SHOUT && op <= PARLEY_OP_STORE) ||
           (op >= PARLEY_OP_LOCK && op <= PARLEY_OP_RELAY);
}

/* vectors/README.md "Message bodies". */
static cJSON *body_json(const struct parley_msg *m)
{
    cJSON *o = cJSON_CreateObject();
    int op = m->opcode;

    if (op == PARLEY_OP_NACK || op == PARLEY_OP_ACK) {
        cJSON_AddNumberToObject(o, "req_opcode", m->req_opcode);
        op = op == PARLEY_OP_ACK ? m->req_opcode : -1;
        if (m->opcode == PARLEY_OP_NACK) {
            cJSON_AddNumberToObject(o, "code", m->code);
            add_text(o, "text", m->text, m->text_len);
        }
    }
    if (op == PARLEY_OP_PING || (m->opcode == PARLEY_OP_ACK && is_draft(op))) {
        add_hex(o, "data", m->data, m->data_len);
    } else if (op == PARLEY_OP_SET_CONNECTION_OPT) {
        cJSON_AddNumberToObject(o, "option", m->option);
        cJSON_AddNumberToObject(o, "setting", m->setting);
    } else if (op == PARLEY_OP_BYE && m->opcode == PARLEY_OP_BYE) {
        cJSON_AddNumberToObject(o, "reason", m->reason);
        add_text(o, "text", m->text, m->text_len);
    } else if (op == PARLEY_OP_PEERS && m->opcode == PARLEY_OP_ACK) {
        cJSON *a = cJSON_AddArrayToObject(o, "peers");
        struct parley_rd it;
        struct parley_peer p;
        rd_init(&it, m->list.bytes, m->list.len);
        while (parley_peers_next(&it, &p) == 1) {
            cJSON *e = cJSON_CreateObject();
            add_hex(e, "node_id", p.node_id, PARLEY_NODE_ID_LEN);
            cJSON_AddNumberToObject(e, "family", p.family);
            add_hex(e, "address", p.address, p.address_len);
            cJSON_AddNumberToObject(e, "port", p.port);
            cJSON_AddNumberToObject(e, "flags", p.flags);
            cJSON_AddItemToArray(a, e);
        }
    } else if (op == PARLEY_OP_STATS && m->opcode == PARLEY_OP_ACK) {
        cJSON *a = cJSON_AddArrayToObject(o, "counters");
        for (size_t i = 0; i < m->list.count; i++) {
            cJSON *e = cJSON_CreateObject();
            uint16_t id;
            uint64_t value;
            assert_int_equal(parley_stats_get(&m->list, i, &id, &value), 0);
            cJSON_AddNumberToObject(e, "id", id);
            cJSON_AddNumberToObject(e, "value", (double)value);
            cJSON_AddItemToArray(a, e);
        }
    }
    return o;
}

/* Compares got (consumed) with want; reports the difference. */
static int same_json(struct tally *t, const cJSON *test, cJSON *got, const cJSON *want,
                     const char *what)
{
    int ok = cJSON_Compare(got, want, 1);
    if (!ok) {
        char *g = cJSON_PrintUnformatted(got), *w = cJSON_PrintUnformatted(want);
        fail_case(t, test, "%s: got %s, want %s", what, g, w ? w : "(none)");
        free(g);
        free(w);
    }
    cJSON_Delete(got);
    return ok;
}

static int same_hex(struct tally *t, const cJSON *test, const uint8_t *b, size_t n,
                    const char *want, const char *what)
{
    char *g = hex_of(b, n);
    int ok = strcmp(g, want) == 0;
    if (!ok)
        fail_case(t, test, "%s: got %s, want %s", what, g, want);
    free(g);
    return ok;
}

static int same_error(struct tally *t, const cJSON *test, int rc)
{
    const char *want = vec_str(test, "error");
    if (rc >= 0 || strcmp(parley_err_name(rc), want) != 0) {
        fail_case(t, test, "got %s (%d), want error %s", rc >= 0 ? "success" : parley_err_name(rc),
                  rc, want);
        return 0;
    }
    return 1;
}

static int is_valid(const cJSON *test)
{
    return strcmp(vec_str(test, "result"), "valid") == 0;
}

static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* ---- preface.json -------------------------------------------------------------------- */

static cJSON *preface_json(const struct parley_preface *p)
{
    static const char *const kinds[] = {"?", "HELLO", "ACCEPT", "REFUSE"};
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kinds[p->kind <= 3 ? p->kind : 0]);
    if (p->kind == PARLEY_PREFACE_ACCEPT) {
        cJSON_AddNumberToObject(o, "major", p->major);
    } else {
        cJSON *a = cJSON_AddArrayToObject(o, "majors");
        for (size_t i = 0; i < p->count; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(p->majors[i]));
    }
    return o;
}

static size_t majors_of(const cJSON *arr, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const cJSON *e = arr ? arr->child : NULL; e != NULL && n < cap; e = e->next)
        out[n++] = (uint8_t)e->valueint;
    return n;
}

static void preface_case(struct tally *t, const cJSON *g, const cJSON *test)
{
    const cJSON *params = member(g, "params");
    size_t len;
    uint8_t *buf = vec_hex_alloc(vec_str(test, "hex"), &len);

    if (strcmp(vec_str(g, "type"), "negotiate") == 0) { /* [PRE-2]..[PRE-5] */
        uint8_t ours[32];
        struct parley_negotiation n;
        size_t count = majors_of(member(params, "responder_majors"), ours, sizeof ours);
        int rc = parley_preface_negotiate(ours, count, buf, len, &n);
        if (!same_hex(t, test, n.answer, n.answer_len, vec_str(test, "answer"), "answer")) {
        } else if (is_valid(test)) {
            const cJSON *f = member(test, "fields");
            if (rc <= 0)
                fail_case(t, test, "got %s, want a major", parley_err_name(rc));
            else if (member(f, "major") && member(f, "major")->valueint != rc)
                fail_case(t, test, "chose %d", rc);
        } else {
            (void)same_error(t, test, rc);
        }
    } else { /* "preface": decoded as the responder or the initiator reads it */
        struct parley_preface p;
        int answer = strcmp(vec_str(params, "expect"), "answer") == 0;
        int rc = answer ? parley_answer_decode(buf, len, &p) : parley_hello_decode(buf, len, &p);
        const cJSON *offered = member(params, "offered");
        if (rc >= 0 && (size_t)rc != len) {
            fail_case(t, test, "decoded %d of %zu bytes", rc, len);
            free(buf);
            return;
        }
        if (rc >= 0 && answer && offered != NULL) { /* [PRE-6] */
            struct parley_preface hello = {.kind = PARLEY_PREFACE_HELLO};
            hello.count = (uint8_t)majors_of(offered, hello.majors, PARLEY_MAX_MAJORS);
            int chk = parley_answer_check(&hello, &p);
            if (chk < 0 && chk != PARLEY_E_NO_COMMON_MAJOR)
                rc = chk;
        }
        if (!is_valid(test)) {
            (void)same_error(t, test, rc);
        } else if (rc < 0) {
            fail_case(t, test, "got %s, want valid", parley_err_name(rc));
        } else if (same_json(t, test, preface_json(&p), member(test, "fields"), "fields")) {
            uint8_t out[PARLEY_PREFACE_MAX_LEN];
            int n = parley_preface_encode(out, sizeof out, &p);
            (void)same_hex(t, test, out, n < 0 ? 0 : (size_t)n, vec_str(test, "hex"), "re-encoded");
        }
    }
    free(buf);
}

/* ---- frame_header.json --------------------------------------------------------------- */

static int compression_of(const cJSON *params)
{
    const cJSON *c = member(params, "compression");
    if (c == NULL || cJSON_IsNull(c) || cJSON_IsFalse(c))
        return PARLEY_SETTING_NONE;
    if (cJSON_IsTrue(c) || (cJSON_IsString(c) && strcmp(c->valuestring, "zlib") == 0))
        return PARLEY_SETTING_ZLIB;
    fprintf(stderr, "unknown compression parameter\n");
    abort();
}

static cJSON *header_json(const struct parley_frame_header *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "opcode", h->opcode);
    cJSON_AddNumberToObject(o, "flags", h->flags);
    cJSON_AddNumberToObject(o, "tag", h->tag);
    cJSON_AddNumberToObject(o, "length", h->length);
    return o;
}

static void frame_header_case(struct tally *t, const cJSON *g, const cJSON *test)
{
    struct parley_frame_header h;
    size_t len;
    uint8_t *buf = vec_hex_alloc(vec_str(test, "hex"), &len);
    int rc = parley_frame_header_decode(buf, len, &h);

    if (rc >= 0 && (size_t)rc != len)
        fail_case(t, test, "header is %zu bytes", len);
    else if (rc >= 0)
        rc = parley_frame_header_check(&h, compression_of(member(g, "params")) >= 0);
    if (!is_valid(test)) {
        (void)same_error(t, test, rc);
    } else if (rc < 0) {
        fail_case(t, test, "got %s, want valid", parley_err_name(rc));
    } else if (same_json(t, test, header_json(&h), member(test, "fields"), "fields")) {
        uint8_t out[PARLEY_FRAME_HEADER_LEN];
        assert_int_equal(parley_frame_header_encode(out, sizeof out, &h), 8);
        (void)same_hex(t, test, out, sizeof out, vec_str(test, "hex"), "re-encoded");
    }
    free(buf);
}

/* ---- records.json: record_plaintext --------------------------------------------------- */

static void plaintext_case(struct tally *t, const cJSON *test)
{
    size_t len, n = 0;
    uint8_t *buf = vec_hex_alloc(vec_str(test, "hex"), &len);
    uint8_t *out = malloc(len + 1);
    cJSON *fields = cJSON_CreateObject(), *frames = cJSON_AddArrayToObject(fields, "frames");
    struct parley_rd r;
    struct parley_frame f;
    int rc;

    assert_non_null(out);
    rd_init(&r, buf, len);
    while ((rc = parley_plaintext_next(&r, &f)) == 1) { /* [FRAME-1], [REC-5] */
        cJSON *o = header_json(&f.h);
        int w = parley_frame_encode(out + n, len + 1 - n, &f.h, f.payload);
        add_hex(o, "payload", f.payload, f.h.length);
        cJSON_AddItemToArray(frames, o);
        assert_true(w > 0);
        n += (size_t)w;
    }
    if (!is_valid(test)) {
        (void)same_error(t, test, rc);
        cJSON_Delete(fields);
    } else if (rc < 0) {
        fail_case(t, test, "got %s, want valid", parley_err_name(rc));
        cJSON_Delete(fields);
    } else if (same_json(t, test, fields, member(test, "fields"), "fields")) {
        (void)same_hex(t, test, out, n, vec_str(test, "hex"), "re-encoded");
    }
    free(out);
    free(buf);
}

/* ---- session.json and messages.json --------------------------------------------------- */

static void session_start(struct parley_session *s, const cJSON *params)
{
    struct parley_limits l = {PARLEY_DEFAULT_MAX_TAGS, PARLEY_DEFAULT_MAX_MESSAGE,
                              PARLEY_DEFAULT_REASSEMBLY_BUDGET};
    const cJSON *v;

    if ((v = member(params, "max_tags")) != NULL)
        l.max_tags = (uint16_t)v->valuedouble;
    if ((v = member(params, "max_message")) != NULL)
        l.max_message = (uint32_t)v->valuedouble;
    if ((v = member(params, "reassembly_budget")) != NULL)
        l.reassembly_budget = (uint32_t)v->valuedouble;
    parley_session_init(s, &l, compression_of(params), cJSON_IsTrue(member(params, "admin")));
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "shutting_down")))
        parley_session_shutting_down(s); /* [ADMIN-5] */
    v = member(params, "outstanding");
    for (const cJSON *e = v ? v->child : NULL; e != NULL; e = e->next)
        assert_int_equal(parley_session_expect(s, (uint16_t)e->valueint), 0);
}

static cJSON *event_json(const struct parley_event *ev)
{
    static const char *const kinds[] = {"?",    "message", "response", "partial",
                                        "nack", "ignored", "close"};
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "event", kinds[ev->kind]);
    if (ev->kind == PARLEY_EV_CLOSE) {
        cJSON_AddStringToObject(o, "reason", parley_err_name(ev->err));
        return o;
    }
    cJSON_AddNumberToObject(o, "tag", ev->tag);
    if (ev->kind == PARLEY_EV_NACK) {
        cJSON_AddNumberToObject(o, "req_opcode", ev->opcode);
        cJSON_AddStringToObject(o, "code", parley_err_name(ev->err));
    } else if (ev->kind == PARLEY_EV_MESSAGE || ev->kind == PARLEY_EV_RESPONSE) {
        cJSON_AddNumberToObject(o, "opcode", ev->opcode);
        if (ev->kind == PARLEY_EV_MESSAGE)
            cJSON_AddNumberToObject(o, "flags", ev->flags);
        cJSON_AddItemToObject(o, "body", body_json(&ev->msg));
    }
    return o;
}

static void session_case(struct tally *t, const cJSON *g, const cJSON *test)
{
    struct parley_session s;
    const cJSON *frame = member(test, "frames")->child, *want = member(test, "events")->child;
    int i = 0;

    session_start(&s, member(g, "params"));
    if (member(test, "params") != NULL) { /* per-case parameters, if a case has them */
        parley_session_free(&s);
        session_start(&s, member(test, "params"));
    }
    for (; frame != NULL; frame = frame->next, want = want ? want->next : NULL, i++) {
        struct parley_event ev;
        size_t len;
        uint8_t *buf = vec_hex_alloc(frame->valuestring, &len);
        char what[32];
        (void)parley_session_feed(&s, buf, len, &ev);
        snprintf(what, sizeof what, "frame %d", i);
        if (want == NULL) {
            fail_case(t, test, "%s: no event listed", what);
            free(buf);
            break;
        }
        if (!same_json(t, test, event_json(&ev), want, what)) {
            free(buf);
            break;
        }
        free(buf);
    }
    parley_session_free(&s);
}

/* Re-encodes a decoded message as a frame; a compressed one is compressed the way the
 * generator does (zlib's default level). */
static void reencode_message(struct tally *t, const cJSON *test, const struct parley_frame_header *h,
                             const struct parley_msg *m)
{
    size_t cap = 2 * PARLEY_FRAME_MAX_PAYLOAD + 64;
    uint8_t *payload = malloc(cap), *z = malloc(cap), *out = malloc(cap + 8);
    struct parley_frame_header eh = *h;
    int n;

    assert_non_null(payload);
    assert_non_null(z);
    assert_non_null(out);
    n = parley_msg_encode(payload, cap, m);
    assert_true(n >= 0);
    eh.length = (uint32_t)n;
    if (h->flags & PARLEY_FLAG_COMPRESSED) {
        uLongf zl = (uLongf)cap;
        assert_int_equal(compress2(z, &zl, payload, (uLong)n, Z_DEFAULT_COMPRESSION), Z_OK);
        memcpy(payload, z, zl);
        eh.length = (uint32_t)zl;
    }
    n = parley_frame_encode(out, cap + 8, &eh, payload);
    assert_true(n > 0);
    (void)same_hex(t, test, out, (size_t)n, vec_str(test, "hex"), "re-encoded");
    free(payload);
    free(z);
    free(out);
}

/* A message vector is decoded with the codec functions, in the order of §4.5: the frame,
 * its header, decompression, the payload, then [ADMIN-2]. Authorization ([ADMIN-1]) is
 * session.json's business, so the remote counts as the admin here. */
static void message_case(struct tally *t, const cJSON *g, const cJSON *test)
{
    struct parley_rd r;
    struct parley_frame f;
    struct parley_msg m;
    size_t len, n = 0;
    uint8_t *buf = vec_hex_alloc(vec_str(test, "hex"), &len), *plain = NULL;
    const uint8_t *payload;
    int rc;

    rd_init(&r, buf, len);
    rc = parley_plaintext_next(&r, &f);
    if (rc == 1 && rd_left(&r) != 0)
        rc = PARLEY_E_FRAME_OVERRUN;
    if (rc == 1)
        rc = parley_frame_header_check(&f.h, compression_of(member(g, "params")) >= 0);
    payload = f.payload;
    n = f.h.length;
    if (rc == 0 && (f.h.flags & PARLEY_FLAG_COMPRESSED)) { /* [OPT-6] */
        rc = parley_inflate(f.payload, f.h.length, NULL, PARLEY_DEFAULT_MAX_MESSAGE, &n);
        if (rc == 0) {
            plain = malloc(n + 1);
            assert_non_null(plain);
            rc = parley_inflate(f.payload, f.h.length, plain, n, &n);
            payload = plain;
        }
    }
    if (rc == 0)
        rc = parley_msg_decode(f.h.opcode, payload, n, &m);
    if (rc == 0 && !(f.h.flags & PARLEY_FLAG_RESPONSE))
        rc = parley_msg_check_admin(&m, f.h.tag, 1); /* [ADMIN-2] */
    if (!is_valid(test)) {
        (void)same_error(t, test, rc);
    } else if (rc < 0) {
        fail_case(t, test, "got %s, want valid", parley_err_name(rc));
    } else {
        cJSON *got = header_json(&f.h);
        cJSON_DeleteItemFromObject(got, "length");
        cJSON_AddItemToObject(got, "body", body_json(&m));
        if (same_json(t, test, got, member(test, "fields"), "fields"))
            reencode_message(t, test, &f.h, &m);
    }
    free(plain);
    free(buf);
}

/* ---- Running a file ------------------------------------------------------------------- */

static void run_file(const char *name, const char *only_type)
{
    struct tally t = {name, 0, 0};
    cJSON *root = vec_load(name);

    VEC_FOREACH_TEST(root, g, test)
    {
        const char *type = vec_str(g, "type");
        if (only_type != NULL && strcmp(type, only_type) != 0)
            continue;
        t.run++;
        if (strcmp(type, "preface") == 0 || strcmp(type, "negotiate") == 0)
            preface_case(&t, g, test);
        else if (strcmp(type, "frame_header") == 0)
            frame_header_case(&t, g, test);
        else if (strcmp(type, "record_plaintext") == 0)
            plaintext_case(&t, test);
        else if (strcmp(type, "message") == 0)
            message_case(&t, g, test);
        else if (strcmp(type, "session") == 0)
            session_case(&t, g, test);
        else
            fail_case(&t, test, "unknown group type %s", type);
    }
    cJSON_Delete(root);
    finish(&t);
}

/* [PRE-1]..[PRE-9] */
static void test_preface_vectors(void **state)
{
    (void)state;
    run_file("preface", NULL);
}

/* [FRAME-2]..[FRAME-7], [TAG-3] */
static void test_frame_header_vectors(void **state)
{
    (void)state;
    run_file("frame_header", NULL);
}

/* [FRAME-1], [REC-5] */
static void test_record_plaintext_vectors(void **state)
{
    (void)state;
    run_file("records", "record_plaintext");
}

/* [MSG-1]..[MSG-4], [CONV-1], [CONV-2] */
static void test_message_vectors(void **state)
{
    (void)state;
    run_file("messages", NULL);
}

/* [FRAME-9] */
static void test_session_vectors(void **state)
{
    (void)state;
    run_file("session", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preface_vectors),
        cmocka_unit_test(test_frame_header_vectors),
        cmocka_unit_test(test_record_plaintext_vectors),
        cmocka_unit_test(test_message_vectors),
        cmocka_unit_test(test_session_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
