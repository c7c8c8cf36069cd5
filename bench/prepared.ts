/**
 * `npx tsx bench/prepared.ts`: what dropping named prepared statements costs
 * (DB_POOL_MODE=transaction sends every statement unnamed, parsed each
 * time). Eight loops call the product read and the product page through the
 * service's database layer, on a scratch database at 127.0.0.1:5432, with
 * named statements and without, alternating three times.
 */
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db.js';
import { findProducts, listProducts } from '../src/products/queries.js';
import { createDatabase, dropDatabase } from './seed.js';
import { pgAdminUrl } from './options.js';
import { migrate } from '../src/migrate.js';

const loops = 8;
const durationMs = 3_000;

async function rate(db: Database, call: (db: Database, i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const until = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      for (let i = loop; performance.now() < until; i += loops) {
        await call(db, i);
        done++;
      }
    }),
  );
  return done / (durationMs / 1000);
}

const name = `prepared_${process.pid}`;
const url = await createDatabase(pgAdminUrl, name);
try {
  const open = (mode: string) => openDatabase(loadConfig({ DATABASE_URL: url, DB_POOL_MODE: mode, DB_POOL_SIZE: String(loops) }), () => {});
  const setup = await open('session');
  await migrate(setup);
  await setup.query(`INSERT INTO products (name, price, stock) SELECT 'p' || g, 1000, 10 FROM generate_series(1, 10000) g`);
  await setup.query('ANALYZE products');
  await setup.close();
  const calls = {
    'product by id': (db: Database, i: number) => findProducts(db, [1 + (i % 10_000)]),
    'page of 20': (db: Database, i: number) => listProducts(db, i % 9_000, 20),
  };
  for (const [label, call] of Object.entries(calls)) {
    const figures: Record<string, number[]> = { named: [], unnamed: [] };
    for (let round = 0; round < 3; round++) {
      for (const [mode, key] of [['session', 'named'], ['transaction', 'unnamed']] as const) {
        const db = await open(mode);
        await rate(db, call); // warm the pool and the plans
        figures[key]!.push(await rate(db, call));
        await db.close();
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`${label}: named ${mean(figures.named!).toFixed(0)}/s, unnamed ${mean(figures.unnamed!).toFixed(0)}/s, ratio ${(mean(figures.unnamed!) / mean(figures.named!)).toFixed(3)} (rounds: ${JSON.stringify(figures)})`);
  }
} finally {
  await dropDatabase(pgAdminUrl, name);
}
