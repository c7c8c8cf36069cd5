#!/usr/bin/env node
/**
 * Runs the whole test suite twice: on the embedded PGlite, then on a fresh
 * PostgreSQL database created for this run (and dropped after it).
 * PostgreSQL is found at TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 * `npm test -- pglite` or `npm test -- postgres` runs one side; further
 * arguments are test files. Browser tests (`*.browser.test.ts`) need the
 * built admin console: it is built first whenever one of them is to run.
 * test/cluster/ is not part of it: `npm run test:cluster` runs it (it
 * brings up PostgreSQL, PgBouncer and HAProxy of its own).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const args = process.argv.slice(2);
const sides = args.filter((arg) => arg === 'pglite' || arg === 'postgres');
const files = args.filter((arg) => arg.endsWith('.ts'));

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === join('test', 'cluster')) return [];
    if (statSync(path).isDirectory()) return findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}
const testFiles = files.length > 0 ? files : [...findTests('test'), ...findTests('src'), ...findTests('console/src')].sort();

if (testFiles.some((file) => file.endsWith('.browser.test.ts'))) {
  const build = spawnSync('npm', ['run', '--silent', 'build:console'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

// Files named *.solo.test.ts assert a latency bound of the service under a
// burst they generate themselves; they run after the others, one at a time,
// so that another test file's load does not take the cores from the service.
const soloFiles = testFiles.filter((file) => file.endsWith('.solo.test.ts'));
const sharedFiles = testFiles.filter((file) => !file.endsWith('.solo.test.ts'));

function runFiles(files, concurrency, env) {
  if (files.length === 0) return 0;
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  return result.status ?? 1;
}

function runSuite(env) {
  const shared = runFiles(sharedFiles, 2, env);
  const solo = runFiles(soloFiles, 1, env);
  return shared !== 0 ? shared : solo;
}

const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
async function withFreshDatabase(fn) {
  const name = `orders_test_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  }
}

let failed = false;
for (const side of sides.length > 0 ? sides : ['pglite', 'postgres']) {
  console.log(`\n=== test suite on ${side} ===\n`);
  const status =
    side === 'pglite'
      ? runSuite({ TEST_DB: 'pglite' })
      : await withFreshDatabase((url) => runSuite({ TEST_DB: 'postgres', TEST_DATABASE_URL: url }));
  if (status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
