/*
 * codec.h - the non-crypto wire codec: preface (spec/01-preface.md), frames and the
 * receive state machine (spec/04-frames.md), message payloads (spec/05-messages.md).
 *
 * Decoders return the bytes they consumed (or 0 / a count where said) and a negative
 * PARLEY_E_* on error; encoders take (out, outlen) and return the bytes written or
 * PARLEY_E_NOROOM. Decoded values point into the caller's input: nothing is copied and
 * nothing is allocated, except by the session (reassembly and decompression buffers,
 * bounded by its limits).
 */
#ifndef PARLEY_CODEC_H
#define PARLEY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cursor.h"
#include "parley.h"

/* ---- Preface, spec/01-preface.md ---------------------------------------------------- */

enum parley_preface_kind {
    PARLEY_PREFACE_HELLO = 1,
    PARLEY_PREFACE_ACCEPT = 2,
    PARLEY_PREFACE_REFUSE = 3
};

#define PARLEY_PREFACE_MAX_LEN (PARLEY_MAGIC_LEN + 2 + PARLEY_MAX_MAJORS)

struct parley_preface {
    uint8_t kind;                     /* enum parley_preface_kind */
    uint8_t major;                    /* ACCEPT */
    uint8_t count;                    /* HELLO, REFUSE: 1..16 */
    uint8_t majors[PARLEY_MAX_MAJORS]; /* HELLO, REFUSE: 1..255, strictly descending */
};

/* Decodes a HELLO as the responder reads it, field by field ([PRE-9]): call it again on
 * a growing buffer while it says TRUNCATED. Returns the HELLO's length (bytes after it
 * are not read).
 * Errors: PREFACE_BAD_MAGIC at the first byte that differs from the magic;
 *         PREFACE_MALFORMED for a kind other than HELLO, a count outside 1..16, a major 0
 *         or majors not strictly descending; TRUNCATED when more bytes may complete it. */
int parley_hello_decode(const uint8_t *buf, size_t len, struct parley_preface *out);

/* Decodes ACCEPT or REFUSE as the initiator reads it, field by field. Returns its length.
 * Errors: PREFACE_BAD_MAGIC, PREFACE_MALFORMED (a kind other than 2 or 3, a REFUSE count
 *         or major list as for HELLO, an ACCEPT major 0), TRUNCATED. */
int parley_answer_decode(const uint8_t *buf, size_t len, struct parley_preface *out);

/* The initiator's verdict on a decoded answer to its HELLO ([PRE-6]). Returns the major.
 * Errors: PREFACE_BAD_CHOICE (ACCEPT of a major not offered), NO_COMMON_MAJOR (REFUSE). */
int parley_answer_check(const struct parley_preface *hello, const struct parley_preface *answer);

/* Encodes p. Returns the length written.
 * Errors: STATE when p is not a valid preface (bad kind, count, majors or major 0);
 *         NOROOM. */
int parley_preface_encode(uint8_t *out, size_t outlen, const struct parley_preface *p);

struct parley_negotiation {
    int result;       /* the chosen major (> 0) or the error, as returned */
    size_t hello_len; /* bytes of buf that make the HELLO, when it was complete */
    size_t answer_len; /* bytes of answer to send; 0: send nothing */
    uint8_t answer[PARLEY_PREFACE_MAX_LEN];
};

/* The responder's side of [PRE-2]..[PRE-5]: reads a HELLO from buf and fills n with the
 * exact answer. ours[count] are the responder's majors, strictly descending.
 * Returns the chosen major (answer: ACCEPT).
 * Errors: PREFACE_BAD_MAGIC (answer empty), PREFACE_MALFORMED and NO_COMMON_MAJOR
 *         (answer: REFUSE with ours), TRUNCATED (answer empty: wait for more bytes),
 *         STATE when ours is not a valid major list. */
int parley_preface_negotiate(const uint8_t *ours, size_t count, const uint8_t *buf, size_t len,
                             struct parley_negotiation *n);

/* ---- Frames, spec/04-frames.md §4.1 -------------------------------------------------- */

struct parley_frame_header {
    uint8_t opcode;
    uint8_t flags;   /* PARLEY_FLAG_* */
    uint16_t tag;
    uint32_t length; /* payload bytes */
};

struct parley_frame {
    struct parley_frame_header h;
    const uint8_t *payload; /* h.length bytes inside the record plaintext */
};

/* Compression settings, spec/05-messages.md §5.9; NONE when no setting is in force. */
enum parley_setting {
    PARLEY_SETTING_NONE = -1,
    PARLEY_SETTING_BZ2 = 0,
    PARLEY_SETTING_GZIP = 1,
    PARLEY_SETTING_LZMA = 2,
    PARLEY_SETTING_ZLIB = 3,
    PARLEY_SETTING_SNAPPY = 4
};

/* Decodes the 8-byte header. Returns 8. Errors: TRUNCATED. */
int parley_frame_header_decode(const uint8_t *buf, size_t len, struct parley_frame_header *h);

/* Encodes the 8-byte header. Returns 8. Errors: NOROOM. */
int parley_frame_header_encode(uint8_t *out, size_t outlen, const struct parley_frame_header *h);

/* Header checks 2.. of §4.1 in their order (the record check is the splitter's);
 * `compression` says whether a setting is in force ([OPT-3]). Returns 0.
 * Errors: FRAME_TOO_LARGE, BAD_FLAGS, MALFORMED (ABORT with a payload), BAD_FRAGMENT
 *         (MORE on tag 0), UNKNOWN_OPCODE. */
int parley_frame_header_check(const struct parley_frame_header *h, int compression);

/* Encodes header and payload (h->length bytes). Returns 8 + h->length. Errors: NOROOM. */
int parley_frame_encode(uint8_t *out, size_t outlen, const struct parley_frame_header *h,
                        const uint8_t *payload);

/* Takes the next frame of a record plaintext ([FRAME-1], [REC-5]). Returns 1 with *f
 * set, 0 at the end of the plaintext. Errors: FRAME_OVERRUN (r is left unchanged). */
int parley_plaintext_next(struct parley_rd *r, struct parley_frame *f);

/* Checks that buf[len] is whole frames. Returns the number of frames.
 * Errors: FRAME_OVERRUN. */
int parley_plaintext_check(const uint8_t *buf, size_t len);

/* Inflates zlib data (RFC 1950) into out[cap], stopping at cap ([OPT-6]); with out NULL
 * it only measures. Sets *outlen. Returns 0.
 * Errors: MESSAGE_TOO_LARGE (more than cap bytes), DECOMPRESSION_FAILED (not one whole
 *         zlib stream), NOMEM (zlib could not allocate its state). */
int parley_inflate(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/* ---- Messages, spec/05-messages.md --------------------------------------------------- */

#define PARLEY_NODE_ID_LEN 32

/* SET_CONNECTION_OPT options. */
#define PARLEY_OPT_COMPRESSION 0
#define PARLEY_OPT_PREFERRED_COMPRESSION 1

/* PEERS entry flags. */
#define PARLEY_PEER_OUTBOUND 0x01u

/* STATS counter ids 1..10 (§5.8). */
#define PARLEY_STAT_MAX_ID 10
#define PARLEY_STAT_ENTRY_LEN 10

/* A list as it travels: `count` entries in `len` bytes (already validated). */
struct parley_list {
    uint16_t count;
    const uint8_t *bytes;
    size_t len;
};

struct parley_peer {
    const uint8_t *node_id; /* 32 bytes */
    uint8_t family;         /* 4 or 6 */
    const uint8_t *address; /* 4 or 16 bytes */
    size_t address_len;
    uint16_t port;
    uint8_t flags; /* PARLEY_PEER_OUTBOUND */
};

/* One decoded payload. Which members mean something depends on opcode (and for ACK on
 * req_opcode); the others are zero. Pointers point into the decoded payload. */
struct parley_msg {
    uint8_t opcode;       /* the frame's opcode */
    uint8_t req_opcode;   /* ACK, NACK */
    const uint8_t *data;  /* PING; ACK to PING; ACK to a draft opcode (opaque) */
    size_t data_len;
    uint8_t option;       /* SET_CONNECTION_OPT; ACK to it */
    uint8_t setting;
    uint16_t code;        /* NACK: the wire code */
    uint16_t reason;      /* BYE */
    const uint8_t *text;  /* NACK, BYE: UTF-8 */
    size_t text_len;
    struct parley_list list; /* ACK to PEERS: entries; ACK to STATS: counters */
};

/* Checks UTF-8 as [CONV-1] defines it. Returns 0. Errors: BAD_UTF8. */
int parley_utf8_check(const uint8_t *s, size_t len);

/* Decodes the payload of a message with this opcode (a whole, decompressed message);
 * every byte belongs to it. Returns 0. Every SET_CONNECTION_OPT setting 0..4 decodes:
 * whether it is implemented (zlib, [OPT-2]) is the answering code's check ([OPT-1]).
 * Errors: MALFORMED (layout, [MSG-3], [ACK-2]), BAD_UTF8, UNSUPPORTED (a reserved
 *         SET_CONNECTION_OPT option), NOT_IMPLEMENTED (a draft opcode's request),
 *         UNKNOWN_OPCODE (an unassigned opcode). */
int parley_msg_decode(uint8_t opcode, const uint8_t *payload, size_t len, struct parley_msg *m);

/* Encodes m as a payload. Returns the length written.
 * Errors: NOROOM; STATE when m could not be decoded back (a text over TEXT_MAX, PING data
 *         over PING_MAX, an opcode with no payload layout here). */
int parley_msg_encode(uint8_t *out, size_t outlen, const struct parley_msg *m);

/* The admin rules for a decoded request on `tag` ([ADMIN-2], then [ADMIN-1]); admin says
 * whether the remote is the configured admin key. Returns 0.
 * Errors: MALFORMED (an admin request on tag 0), UNAUTHORIZED. */
int parley_msg_check_admin(const struct parley_msg *m, uint16_t tag, int admin);

/* Iterates the entries of a decoded PEERS list: rd_init(it, list.bytes, list.len) first.
 * Returns 1 with *p set, 0 at the end. Errors: MALFORMED. */
int parley_peers_next(struct parley_rd *it, struct parley_peer *p);

/* The i-th counter of a decoded STATS list. Returns 0. Errors: STATE (i out of range). */
int parley_stats_get(const struct parley_list *l, size_t i, uint16_t *id, uint64_t *value);

/* Encodes one PEERS entry, to build a list's bytes. Returns the length written.
 * Errors: NOROOM; STATE for a family other than 4/6, a wrong address length or
 *         reserved flag bits. */
int parley_peer_encode(uint8_t *out, size_t outlen, const struct parley_peer *p);

/* Encodes one STATS entry. Returns 10. Errors: NOROOM. */
int parley_stat_encode(uint8_t *out, size_t outlen, uint16_t id, uint64_t value);

/* ---- The receive state machine, spec/04-frames.md §4.5 ------------------------------- */

struct parley_limits {
    uint16_t max_tags;          /* the values we advertised ([HS-8]) */
    uint32_t max_message;
    uint32_t reassembly_budget;
};

/* A set of u16 tags: a sorted array, allocated on first use. */
struct parley_tagset {
    uint16_t *tags;
    size_t n;
    size_t cap;
};

/* A message in progress on (tag, RESPONSE bit). */
struct parley_inflight {
    uint16_t tag;
    uint8_t response; /* the RESPONSE bit */
    uint8_t opcode;   /* of the first fragment */
    uint8_t flags;
    uint32_t total;     /* bytes reserved against the budget */
    uint32_t got;
    uint32_t cap;
    uint8_t *buf;
};

struct parley_session {
    struct parley_limits limits; /* ours: what the remote may send us */
    struct parley_limits remote; /* the remote's: what we may send it ([LIMIT-2]) */
    int compression; /* enum parley_setting in force */
    int admin;       /* the remote is the admin key */
    int closed;      /* the close reason once closed, else 0 */
    int bye_sent;    /* we sent BYE: no new request ([BYE-3]) */
    int shutting_down; /* requests are answered SHUTTING_DOWN ([ADMIN-5]) */
    struct parley_tagset ours;   /* our requests awaiting a response */
    struct parley_tagset theirs; /* the remote's requests we have not answered */
    struct parley_tagset discarding[2]; /* [FRAG-3] by RESPONSE bit: drop to MORE clear */
    struct parley_inflight *inflight; /* at most max_tags requests + our requests */
    size_t n_inflight;
    size_t cap_inflight;
    uint64_t reserved; /* sum of totals of messages in progress ([FRAG-4]) */
    uint8_t *held;     /* the buffer the last event's message points into */
};

enum parley_event_kind {
    PARLEY_EV_MESSAGE = 1, /* a valid request, complete; it stays outstanding */
    PARLEY_EV_RESPONSE,    /* a valid response to one of ours; its tag is freed */
    PARLEY_EV_PARTIAL,     /* a fragment kept */
    PARLEY_EV_NACK,        /* answer NACK(tag, req_opcode = opcode, code of err) */
    PARLEY_EV_IGNORED,     /* nothing to send */
    PARLEY_EV_CLOSE        /* close the connection for reason err */
};

struct parley_event {
    enum parley_event_kind kind;
    uint16_t tag;
    uint8_t opcode; /* MESSAGE, RESPONSE: the message's; NACK: the req_opcode */
    uint8_t flags;  /* MESSAGE, RESPONSE: flags of the first frame */
    int err;        /* NACK: the error; CLOSE: the reason; IGNORED: why, 0 if nothing wrong */
    struct parley_msg msg; /* MESSAGE, RESPONSE: valid until the next feed */
};

/* Starts a session with our limits, the compression setting in force and whether the
 * remote is the admin. Allocates nothing. */
void parley_session_init(struct parley_session *s, const struct parley_limits *limits,
                         int compression, int admin);

/* Frees every buffer of the session. */
void parley_session_free(struct parley_session *s);

/* Feeds one whole frame (header and payload, as parley_plaintext_next gives it) and sets
 * *ev to its one outcome, applying §4.5 in order ([FRAME-9]). Returns ev->kind.
 *  - MESSAGE: the request stays outstanding until parley_session_answered.
 *  - RESPONSE: our tag is freed; an ACK to SET_CONNECTION_OPT option 0 puts its setting in
 *    force ([OPT-3]).
 *  - NACK: the caller sends NACK(tag, req_opcode = ev->opcode, parley_err_wire_code(err));
 *    the request counts as answered (except TAG_IN_USE, whose earlier request stays).
 *  - IGNORED: err says why when something was wrong (an invalid response: our request on
 *    that tag then completed as failed, [TAG-6]).
 *  - CLOSE: err is the close reason (FRAME_OVERRUN when frame[] is not exactly one frame);
 *    a closed session answers CLOSE again.
 * The message may point into frame[] (which must stay valid until the event is handled)
 * or into a session buffer freed by the next feed. */
int parley_session_feed(struct parley_session *s, const uint8_t *frame, size_t len,
                        struct parley_event *ev);

/* The same for a frame already cut from a record by parley_plaintext_next: what the
 * receive path of a connection uses, so that a frame is parsed once. */
int parley_session_frame(struct parley_session *s, const struct parley_frame *f,
                         struct parley_event *ev);

/* Frees the buffer the last event's message points into (a reassembled or decompressed
 * message) now rather than at the next feed, so an idle session holds no message
 * ([LIMIT-4]). The event's message must no longer be used. */
void parley_session_release(struct parley_session *s);

/* Records a request we send on tag (1..65535) and await ([TAG-1]). Returns 0.
 * Errors: STATE (tag 0 or already outstanding, or we sent BYE: [BYE-3]),
 *         TOO_MANY_TAGS (the remote's max_tags of our requests are outstanding:
 *         [LIMIT-2], wait for an answer), NOMEM. */
int parley_session_expect(struct parley_session *s, uint16_t tag);

/* Records that we answered the remote's request on tag ([TAG-2]). Returns 0.
 * Errors: STATE (no such request outstanding). */
int parley_session_answered(struct parley_session *s, uint16_t tag);

/* Sets the limits the remote advertised in its identity payload ([LIMIT-2]); until then
 * the floors of spec §2.2 apply. */
void parley_session_set_remote_limits(struct parley_session *s, const struct parley_limits *l);

/* Checks that a message of len payload bytes may be sent to the remote ([LIMIT-2]).
 * Returns 0. Errors: MESSAGE_TOO_LARGE (above the remote's max_message). */
int parley_session_check_send(const struct parley_session *s, size_t len);

/* We sent BYE: from now on parley_session_expect refuses new requests ([BYE-3]). */
void parley_session_bye_sent(struct parley_session *s);

/* We are shutting down: complete valid requests are answered SHUTTING_DOWN ([ADMIN-5]). */
void parley_session_shutting_down(struct parley_session *s);

/* Sets the compression setting in force ([OPT-3]). */
void parley_session_set_compression(struct parley_session *s, int setting);

#endif
