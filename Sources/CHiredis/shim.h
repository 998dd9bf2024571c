#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <string.h>

/// One pipelined command of up to five arguments (the sink's commands: LPUSH/RPUSH/PUBLISH key
/// value, XADD key * field value, XADD key MAXLEN ~ N * field value), queued in the context's
/// output buffer (hiredis copies the bytes before returning). REDIS_OK or REDIS_ERR.
static inline int CHiredis_append(redisContext *c, int argc, const char *const *argv, const size_t *lens) {
    return redisAppendCommandArgv(c, argc, (const char **)argv, lens);
}

/// The next reply (flushing what is queued first): 1 when it is not an error reply, 0 when the
/// server answered with an error (its text in `error`, cut to `cap` bytes), -1 when the
/// connection failed (`c->err`, `c->errstr`).
static inline int CHiredis_reply(redisContext *c, char *error, size_t cap) {
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || r == NULL) return -1;
    redisReply *reply = (redisReply *)r;
    int ok = reply->type != REDIS_REPLY_ERROR;
    if (!ok && cap > 0) {
        size_t n = reply->len < cap - 1 ? reply->len : cap - 1;
        if (reply->str) memcpy(error, reply->str, n);
        error[n] = 0;
    }
    freeReplyObject(reply);
    return ok;
}

/// The context's error text (empty when none).
static inline const char *CHiredis_errstr(const redisContext *c) { return c->errstr; }
static inline int CHiredis_err(const redisContext *c) { return c->err; }
#endif
