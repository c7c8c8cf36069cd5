/**
 * Plain-SQL migrations from `migrations/NNN_name.sql`, applied in order at
 * startup. All pending files and their bookkeeping rows run in one
 * transaction, under an advisory lock that makes two instances starting at
 * once take turns: a failing file leaves the schema as it was.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Database } from './db.js';

const migrationsDir = fileURLToPath(new URL('../migrations/', import.meta.url));
// Any constant works; it only has to be the same for every instance.
const migrationLockId = 7_310_442_001;

/** Applies the pending migrations, or with `through` only those up to that file (a schema as an older release left it). */
export async function migrate(db: Database, through?: string): Promise<string[]> {
  const files = (await readdir(migrationsDir)).filter((name) => /^\d{3}_[\w-]+\.sql$/.test(name) && (through === undefined || name <= through)).sort();
  return db.transaction(async (tx) => {
    // Transaction-scoped: released by COMMIT or ROLLBACK, even on a crash.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [migrationLockId]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name));
    const applied: string[] = [];
    for (const name of files) {
      if (done.has(name)) continue;
      await tx.exec(await readFile(migrationsDir + name, 'utf8'));
      await tx.query('INSERT INTO schema_migrations (name) VALUES ($1)', [name]);
      applied.push(name);
    }
    return applied;
  });
}
