#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *vec_load(const char *name)
{
    const char *dir = getenv("PARLEY_VECTORS");
    char path[1024];
    FILE *f;
    long n;
    char *text;
    cJSON *root;

    if (dir == NULL)
        dir = "vectors";
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "vec_load: cannot open %s\n", path);
        abort();
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "vec_load: cannot size %s\n", path);
        abort();
    }
    text = malloc((size_t)n + 1);
    if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "vec_load: cannot read %s\n", path);
        abort();
    }
    text[n] = '\0';
    fclose(f);
    root = cJSON_Parse(text);
    free(text);
    if (root == NULL) {
        fprintf(stderr, "vec_load: %s is not JSON\n", path);
        abort();
    }
    return root;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t vec_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap)
        return (size_t)-1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return (size_t)-1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

uint8_t *vec_hex_alloc(const char *hex, size_t *len)
{
    size_t cap = strlen(hex) / 2 + 1;
    uint8_t *buf = malloc(cap);
    if (buf == NULL || (*len = vec_hex(hex, buf, cap)) == (size_t)-1) {
        fprintf(stderr, "vec_hex_alloc: bad hex\n");
        abort();
    }
    return buf;
}

const char *vec_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v)) {
        fprintf(stderr, "vector: missing string member '%s'\n", key);
        abort();
    }
    return v->valuestring;
}

long long vec_int(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) {
        fprintf(stderr, "vector: missing number member '%s'\n", key);
        abort();
    }
    return (long long)v->valuedouble;
}
