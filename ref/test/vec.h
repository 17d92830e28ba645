/*
 * vec.h - loading the golden vectors (vectors/NAME.json) in cmocka tests.
 */
#ifndef PARLEY_TEST_VEC_H
#define PARLEY_TEST_VEC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Parses vectors/<name>.json (directory from $PARLEY_VECTORS, default "vectors").
 * Aborts the test program with a message when the file is missing or not JSON. */
cJSON *vec_load(const char *name);

/* Decodes lowercase hex into out (at most cap bytes). Returns the length, or
 * (size_t)-1 when the string is not hex or does not fit. */
size_t vec_hex(const char *hex, uint8_t *out, size_t cap);

/* Decodes hex into a fresh malloc'd buffer (at least 1 byte). Aborts on bad hex. */
uint8_t *vec_hex_alloc(const char *hex, size_t *len);

/* A string member of obj, or aborts when missing. */
const char *vec_str(const cJSON *obj, const char *key);
/* An integer member of obj (as long long), or aborts when missing. */
long long vec_int(const cJSON *obj, const char *key);

/* Counts, for the final line of a test program: cases run per file. */
#define VEC_FOREACH_TEST(root, group, test)                                                \
    for (const cJSON *group = cJSON_GetObjectItem(root, "testGroups")->child; group;        \
         group = group->next)                                                               \
        for (const cJSON *test = cJSON_GetObjectItem(group, "tests")->child; test;          \
             test = test->next)

#endif
