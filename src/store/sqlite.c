/* sqlite.c - placeholder so the library links while the SQLite store is
 * being written; replaced by the real implementation in the next commit. */
#include "store_internal.h"

int tg__sqlite_store_ops(tg_store_ops *ops, const char *path)
{
    (void)ops; (void)path;
    return tg__error(TG_ESTORE, "sqlite store: not implemented yet");
}
