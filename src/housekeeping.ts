/**
 * What autovacuum does for a PostgreSQL table, done by the service where
 * nothing else does it: always on PGlite (it runs no autovacuum), and on
 * PostgreSQL for the tables autovacuum skips (`autovacuum = off`, or
 * `autovacuum_enabled = false` on the table).
 *
 * Statistics matter beyond the planner's first guess: prepared statements
 * and the PL/pgSQL functions keep their plans for the session, until the
 * statistics of a table they read change. Before the payment's and the
 * claim's lookups were written to stay keyed whatever the statistics
 * (migrations/015_keyed_lookups.sql), a plan made while `orders` was empty
 * hashed the whole table on every call once it held a hundred thousand rows
 * (measured: 4–8 × slower flash sales until the next ANALYZE). So a table is
 * analysed each time it has doubled in size since its last analysis, which
 * also makes every session plan again.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from './db.js';

/** SQL: no autovacuum looks after table `c`; `$1` is true on PGlite. */
const unattended = `($1::boolean OR current_setting('autovacuum') = 'off'
  OR 'autovacuum_enabled=false' = ANY (coalesce(c.reloptions, '{}')))`;

/** Pages a table may hold before its first analysis (128 kB). */
const firstAnalysisPages = 16;

/** Whether the service must vacuum `table` itself (see above). */
export async function needsOwnVacuum(db: Database, table: string): Promise<boolean> {
  const rows = await db.query(`SELECT 1 FROM pg_class c WHERE c.oid = $2::regclass AND ${unattended}`, [db.kind === 'pglite', table]);
  return rows.length > 0;
}

/**
 * Analyses every table of the schema that no autovacuum looks after and that
 * has at least doubled (in pages) since it was last analysed or vacuumed.
 * Returns their names.
 */
export async function analyzeGrownTables(db: Database): Promise<string[]> {
  const grown = await db.query<{ name: string }>(
    `SELECT format('%I', c.relname) AS name FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND ${unattended}
        AND pg_relation_size(c.oid) / current_setting('block_size')::int >= 2 * greatest(c.relpages, 0) + $2`,
    [db.kind === 'pglite', firstAnalysisPages],
  );
  for (const { name } of grown) await db.query(`ANALYZE ${name}`);
  return grown.map((row) => row.name);
}

/** One step of the statistics keeper's loop: analyse what grew, say what. */
export async function keepStatistics(db: Database, log: FastifyBaseLogger): Promise<boolean> {
  const analyzed = await analyzeGrownTables(db);
  if (analyzed.length > 0) log.debug({ tables: analyzed }, 'tables analysed');
  return false;
}
