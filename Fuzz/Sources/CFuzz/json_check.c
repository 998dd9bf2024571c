// A strict JSON validator for one event line: see CFuzz.h.
#include "CFuzz.h"

#include <string.h>

enum { MAX_DEPTH = 64, MAX_KEYS = 256 };

struct cursor {
    const uint8_t *b;
    size_t i, n;
    const char *error;
};

static int fail(struct cursor *c, const char *why) {
    if (!c->error) c->error = why;
    return 0;
}

static int peek(const struct cursor *c) { return c->i < c->n ? c->b[c->i] : -1; }

static int value(struct cursor *c, int depth);

static int utf8(struct cursor *c) {
    uint8_t lead = c->b[c->i];
    size_t extra;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) extra = 1;
    else if (lead == 0xE0) { extra = 2; lo = 0xA0; }
    else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) extra = 2;
    else if (lead == 0xED) { extra = 2; hi = 0x9F; }  // no surrogates
    else if (lead == 0xF0) { extra = 3; lo = 0x90; }
    else if (lead >= 0xF1 && lead <= 0xF3) extra = 3;
    else if (lead == 0xF4) { extra = 3; hi = 0x8F; }   // at most U+10FFFF
    else return fail(c, "invalid UTF-8");
    if (c->n - c->i <= extra) return fail(c, "invalid UTF-8");
    if (c->b[c->i + 1] < lo || c->b[c->i + 1] > hi) return fail(c, "invalid UTF-8");
    for (size_t k = 2; k <= extra; k++)
        if ((c->b[c->i + k] & 0xC0) != 0x80) return fail(c, "invalid UTF-8");
    c->i += extra + 1;
    return 1;
}

static int is_hex(int ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int string(struct cursor *c) {
    c->i++;  // the opening quote
    for (;;) {
        int ch = peek(c);
        if (ch < 0) return fail(c, "unterminated string");
        if (ch == '"') { c->i++; return 1; }
        if (ch < 0x20) return fail(c, "raw control character in a string");
        if (ch == '\\') {
            c->i++;
            int e = peek(c);
            if (e < 0) return fail(c, "unterminated escape");
            c->i++;
            if (e == 'u') {
                for (int k = 0; k < 4; k++, c->i++)
                    if (!is_hex(peek(c))) return fail(c, "bad \\u escape");
            } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
                return fail(c, "bad escape");
            }
        } else if (ch >= 0x80) {
            if (!utf8(c)) return 0;
        } else {
            c->i++;
        }
    }
}

static size_t digits(struct cursor *c) {
    size_t s = c->i;
    while (peek(c) >= '0' && peek(c) <= '9') c->i++;
    return c->i - s;
}

static int number(struct cursor *c) {
    if (peek(c) == '-') c->i++;
    if (peek(c) == '0') c->i++;
    else if (!digits(c)) return fail(c, "bad number");
    if (peek(c) == '.') {
        c->i++;
        if (!digits(c)) return fail(c, "bad fraction");
    }
    if (peek(c) == 'e' || peek(c) == 'E') {
        c->i++;
        if (peek(c) == '+' || peek(c) == '-') c->i++;
        if (!digits(c)) return fail(c, "bad exponent");
    }
    return 1;
}

static int literal(struct cursor *c, const char *word) {
    size_t len = strlen(word);
    if (c->n - c->i < len || memcmp(c->b + c->i, word, len) != 0) return fail(c, "bad literal");
    c->i += len;
    return 1;
}

static int object(struct cursor *c, int depth) {
    // Keys of this object as (start, length) of their raw bytes: the writer escapes a name
    // one way only, so equal names are equal bytes.
    size_t starts[MAX_KEYS], lengths[MAX_KEYS], count = 0;
    c->i++;
    if (peek(c) == '}') { c->i++; return 1; }
    for (;;) {
        if (peek(c) != '"') return fail(c, "expected a key");
        size_t start = c->i;
        if (!string(c)) return 0;
        size_t length = c->i - start;
        for (size_t k = 0; k < count; k++)
            if (lengths[k] == length && memcmp(c->b + starts[k], c->b + start, length) == 0) {
                c->i = start;
                return fail(c, "duplicate key");
            }
        if (count < MAX_KEYS) { starts[count] = start; lengths[count] = length; count++; }
        if (peek(c) != ':') return fail(c, "expected ':'");
        c->i++;
        if (!value(c, depth + 1)) return 0;
        if (peek(c) == ',') { c->i++; continue; }
        if (peek(c) != '}') return fail(c, "expected ',' or '}'");
        c->i++;
        return 1;
    }
}

static int array(struct cursor *c, int depth) {
    c->i++;
    if (peek(c) == ']') { c->i++; return 1; }
    for (;;) {
        if (!value(c, depth + 1)) return 0;
        if (peek(c) == ',') { c->i++; continue; }
        if (peek(c) != ']') return fail(c, "expected ',' or ']'");
        c->i++;
        return 1;
    }
}

static int value(struct cursor *c, int depth) {
    if (depth > MAX_DEPTH) return fail(c, "nested too deep");
    int ch = peek(c);
    switch (ch) {
    case '{': return object(c, depth);
    case '[': return array(c, depth);
    case '"': return string(c);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default:
        if (ch == '-' || (ch >= '0' && ch <= '9')) return number(c);
        return fail(c, "expected a value");
    }
}

const char *CFuzz_jsonObjectProblem(const uint8_t *bytes, size_t count, size_t *offset) {
    struct cursor c = { bytes, 0, count, NULL };
    if (peek(&c) != '{') fail(&c, "not an object");
    else if (value(&c, 0) && c.i != c.n) fail(&c, "bytes after the object");
    *offset = c.i;
    return c.error;
}
