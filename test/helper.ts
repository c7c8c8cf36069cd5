/**
 * Test plumbing: one real database per test file (PGlite in memory, or the
 * PostgreSQL database that scripts/test.mjs created for this run, chosen by
 * TEST_DB), the app built on it, tokens, and a real HTTP listener for the
 * concurrency tests.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import type { Api } from '../src/api.js';
import { buildApp, type BuildOptions } from '../src/app.js';
import { Authenticator } from '../src/auth.js';
import { loadConfig, type Config } from '../src/config.js';
import { openDatabase, type Database } from '../src/db.js';
import { operatingOff } from './support/service-process.js';

export const testDb = process.env.TEST_DB === 'postgres' ? 'postgres' : 'pglite';
export const jwtSecret = 'test-secret-0123456789abcdef';

export function testConfig(env: Record<string, string> = {}): Config {
  const databaseUrl = testDb === 'postgres' ? process.env.TEST_DATABASE_URL : undefined;
  if (testDb === 'postgres' && databaseUrl === undefined) throw new Error('TEST_DATABASE_URL is required with TEST_DB=postgres');
  return loadConfig({
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'silent',
    DATA_DIR: ':memory:',
    ...operatingOff,
    ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
    ...env,
  });
}

export type TestApp = {
  app: Api;
  db: Database;
  config: Config;
  auth: Authenticator;
  /** Base URL of a real listener on 127.0.0.1, started on first use. */
  url(): Promise<string>;
};

const adminPgUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminPgUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export type SetupOptions = BuildOptions & {
  /**
   * On PostgreSQL, a database of this file's own instead of the run's shared
   * one: for tests whose recovery sweeps, or whose deliberately broken data,
   * must not meet other files' orders.
   */
  ownDatabase?: boolean;
};

/** On PostgreSQL, a fresh database of the caller's own: its URL, and how to drop it once nothing uses it. */
export async function ownPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `orders_test_own_${process.pid}_${randomUUID().slice(0, 8)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(adminPgUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * Builds the app on a fresh database (or this run's PostgreSQL) and closes it
 * after the file. The recovery worker is off unless asked for: on the shared
 * PostgreSQL database it would sweep other files' pending orders.
 */
export async function setupApp(env: Record<string, string> = {}, options: SetupOptions = {}): Promise<TestApp> {
  let own: Awaited<ReturnType<typeof ownPostgresDatabase>> | undefined;
  if (options.ownDatabase === true && testDb === 'postgres') {
    own = await ownPostgresDatabase();
    // The first connections to a database just created read its catalogs cold, beside every other
    // test file on two cores: more than the 2 s default once (the test asks for its own if it cares).
    env = { DB_CONNECT_TIMEOUT_MS: '10000', ...env, DATABASE_URL: own.url };
  }
  const config = testConfig(env);
  const db = options.db ?? (await openDatabase(config, () => {}));
  const app = await buildApp(config, { recovery: false, ...options, db });
  let listening: Promise<string> | undefined;
  after(async () => {
    await app.close();
    if (options.db === undefined) await db.close();
    await own?.drop();
  });
  return {
    app,
    db,
    config,
    auth: new Authenticator(config.jwtSecret),
    url: () => {
      listening ??= app.listen({ port: 0, host: '127.0.0.1' }).then(() => {
        const { port } = app.server.address() as AddressInfo;
        return `http://127.0.0.1:${port}`;
      });
      return listening;
    },
  };
}

export function uniqueUser(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}

export async function bearer(auth: Authenticator, userId: string, admin = false): Promise<Record<string, string>> {
  return { authorization: `Bearer ${auth.sign(userId, { admin })}` };
}

type InjectArgs = { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; headers?: Record<string, string>; body?: unknown };

/** `app.inject` with a JSON body (or raw text when `body` is a string) and a parsed JSON answer. */
export async function call(app: Api, args: InjectArgs): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...args.headers };
  let payload: string | undefined;
  if (args.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = typeof args.body === 'string' ? args.body : JSON.stringify(args.body);
  }
  const response = await app.inject({ method: args.method, url: args.url, headers, ...(payload === undefined ? {} : { payload }) });
  let body: unknown = response.body;
  try {
    body = response.json();
  } catch {
    // Not JSON (the docs page): keep the text.
  }
  return { status: response.statusCode, body, headers: response.headers };
}

/** The same over real HTTP, for tests that need real parallel connections. */
export async function httpCall(baseUrl: string, args: InjectArgs): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...args.headers };
  let payload: string | undefined;
  if (args.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    payload = typeof args.body === 'string' ? args.body : JSON.stringify(args.body);
  }
  const response = await fetch(baseUrl + args.url, { method: args.method, headers, body: payload });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Keep the text.
  }
  return { status: response.status, body, headers: response.headers };
}

/** Asserts a body is an error with this code and a non-empty message and no stack. */
export function isError(body: any, code: string): boolean {
  return body !== null && typeof body === 'object' && body.code === code && typeof body.message === 'string' && body.message.length > 0 && !('stack' in body);
}
