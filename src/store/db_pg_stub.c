/*
 * db_pg_stub.c - stands in for db_pg.c (the PostgreSQL backend, libpq)
 * until it lands: opening a PostgreSQL store fails cleanly.
 */
#include "common.h"

#include <stdio.h>

#include "store/db.h"

int
db_open_pg(struct db **db_r, const char *conninfo, char *errbuf,
    size_t errlen)
{
	(void)conninfo;
	*db_r = NULL;
	snprintf(errbuf, errlen, "PostgreSQL support not built");
	return -1;
}
