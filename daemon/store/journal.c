/* kinerjad — the store's journal tables (journal.h). */
#include "journal.h"

#include <stddef.h>

int kj_journal_walk(MDB_env *env, MDB_txn *txn, MDB_dbi dbi, kj_journal_fn fn, void *ctx)
{
    MDB_txn *own = NULL;
    MDB_cursor *cur;
    int rc = txn ? 0 : mdb_txn_begin(env, NULL, MDB_RDONLY, &own);
    if (!rc) rc = mdb_cursor_open(txn ? txn : own, dbi, &cur);
    if (rc) {
        if (own) mdb_txn_abort(own);
        return rc;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rc = k.mv_size == JOURNAL_KEY ? fn(ctx, get_be64(k.mv_data), &v) : MDB_CORRUPTED;
        if (rc) break;
    }
    mdb_cursor_close(cur);
    if (own) mdb_txn_abort(own);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
