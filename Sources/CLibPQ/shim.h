#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H
// PostgreSQL's client library (Debian's libpq-dev), for the fleet store.
#include <postgresql/libpq-fe.h>

static void CLibPQ_ignoreNotice(void *arg, const char *message) { (void)arg; (void)message; }

/// Notices ("relation already exists, skipping") are not printed: libpq writes them to stderr.
static inline void CLibPQ_quiet(PGconn *c) { PQsetNoticeProcessor(c, CLibPQ_ignoreNotice, 0); }

/// The SQLSTATE of a failed result ("40P01": deadlock), or NULL. PG_DIAG_SQLSTATE is a
/// character macro Swift does not import.
static inline const char *CLibPQ_sqlstate(const PGresult *r) { return PQresultErrorField(r, PG_DIAG_SQLSTATE); }
#endif
