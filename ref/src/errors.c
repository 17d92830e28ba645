/*
 * errors.c - the error registry, spec/06-errors.md.
 */
#include <string.h>

#include "parley.h"

struct err_entry {
    int err;
    const char *name;
};

static const struct err_entry registry[] = {
    {PARLEY_OK, "OK"},
    {PARLEY_E_MALFORMED, "MALFORMED"},
    {PARLEY_E_UNKNOWN_OPCODE, "UNKNOWN_OPCODE"},
    {PARLEY_E_NOT_IMPLEMENTED, "NOT_IMPLEMENTED"},
    {PARLEY_E_UNSUPPORTED, "UNSUPPORTED"},
    {PARLEY_E_BAD_FLAGS, "BAD_FLAGS"},
    {PARLEY_E_FRAME_TOO_LARGE, "FRAME_TOO_LARGE"},
    {PARLEY_E_MESSAGE_TOO_LARGE, "MESSAGE_TOO_LARGE"},
    {PARLEY_E_BUDGET_EXCEEDED, "BUDGET_EXCEEDED"},
    {PARLEY_E_TOO_MANY_TAGS, "TOO_MANY_TAGS"},
    {PARLEY_E_TAG_IN_USE, "TAG_IN_USE"},
    {PARLEY_E_BAD_FRAGMENT, "BAD_FRAGMENT"},
    {PARLEY_E_LENGTH_MISMATCH, "LENGTH_MISMATCH"},
    {PARLEY_E_BAD_UTF8, "BAD_UTF8"},
    {PARLEY_E_UNAUTHORIZED, "UNAUTHORIZED"},
    {PARLEY_E_DECOMPRESSION_FAILED, "DECOMPRESSION_FAILED"},
    {PARLEY_E_SHUTTING_DOWN, "SHUTTING_DOWN"},
    {PARLEY_E_BUSY, "BUSY"},
    {PARLEY_E_INTERNAL, "INTERNAL"},
    {PARLEY_E_PREFACE_BAD_MAGIC, "PREFACE_BAD_MAGIC"},
    {PARLEY_E_PREFACE_MALFORMED, "PREFACE_MALFORMED"},
    {PARLEY_E_PREFACE_BAD_CHOICE, "PREFACE_BAD_CHOICE"},
    {PARLEY_E_NO_COMMON_MAJOR, "NO_COMMON_MAJOR"},
    {PARLEY_E_HANDSHAKE_FAILED, "HANDSHAKE_FAILED"},
    {PARLEY_E_PAYLOAD_MALFORMED, "PAYLOAD_MALFORMED"},
    {PARLEY_E_BAD_SIGNATURE, "BAD_SIGNATURE"},
    {PARLEY_E_REFLECTION, "REFLECTION"},
    {PARLEY_E_LIMITS_BELOW_FLOOR, "LIMITS_BELOW_FLOOR"},
    {PARLEY_E_RECORD_LENGTH, "RECORD_LENGTH"},
    {PARLEY_E_RECORD_AUTH, "RECORD_AUTH"},
    {PARLEY_E_FRAME_OVERRUN, "FRAME_OVERRUN"},
    {PARLEY_E_TIMEOUT, "TIMEOUT"},
    {PARLEY_E_TRUNCATED, "TRUNCATED"},
    {PARLEY_E_NOROOM, "NOROOM"},
    {PARLEY_E_STATE, "STATE"},
    {PARLEY_E_NOMEM, "NOMEM"},
};

#define REGISTRY_LEN (sizeof registry / sizeof registry[0])

uint16_t parley_err_wire_code(int err)
{
    if (err <= -1 && err >= -PARLEY_WIRE_LAST)
        return (uint16_t)-err;
    return 0;
}

int parley_err_is_close(int err)
{
    return err <= PARLEY_E_PREFACE_BAD_MAGIC && err >= PARLEY_E_TIMEOUT;
}

const char *parley_err_name(int err)
{
    for (size_t i = 0; i < REGISTRY_LEN; i++)
        if (registry[i].err == err)
            return registry[i].name;
    return "?";
}

int parley_err_from_name(const char *name)
{
    for (size_t i = 0; i < REGISTRY_LEN; i++)
        if (strcmp(registry[i].name, name) == 0)
            return registry[i].err;
    return PARLEY_OK;
}

const char *parley_wire_code_name(uint16_t code)
{
    if (code == 0 || code > PARLEY_WIRE_LAST)
        return NULL;
    return parley_err_name(-(int)code);
}
