/**
 * The embedded database's own thread (db.ts starts it). PGlite runs
 * PostgreSQL compiled to WebAssembly synchronously, fsync included; on the
 * main thread every statement and every commit's disk flush held the event
 * loop, so `/health` and load shedding waited for the disk. Here they wait
 * only for this thread.
 *
 * Messages carry a request id; a transaction is opened, used and ended by
 * messages, and PGlite's own lock keeps other calls out of it meanwhile.
 */
import { PGlite, types } from '@electric-sql/pglite';
import { parentPort, workerData } from 'node:worker_threads';
import type { Transaction } from '@electric-sql/pglite';

export type ThreadRequest =
  | { id: number; op: 'query'; text: string; params: unknown[] | undefined }
  | { id: number; op: 'begin' }
  | { id: number; op: 'txQuery'; tx: number; text: string; params: unknown[] | undefined }
  | { id: number; op: 'txExec'; tx: number; script: string }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'close' };

export type ThreadError = { message: string; fields: Record<string, unknown> };
export type ThreadReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ThreadError };

/** The fields of a PostgreSQL error that callers read (SQLSTATE, constraint, detail). */
const errorFields = ['code', 'constraint', 'detail', 'table', 'column', 'schema', 'severity'] as const;

function toThreadError(error: unknown): ThreadError {
  const fields: Record<string, unknown> = {};
  for (const name of errorFields) {
    const value = (error as Record<string, unknown> | null)?.[name];
    if (typeof value === 'string') fields[name] = value;
  }
  return { message: error instanceof Error ? error.message : String(error), fields };
}

/** Thrown inside PGlite's transaction to make it roll back. */
class Rollback extends Error {}

type OpenTransaction = { inner: Transaction; end: (commit: boolean) => void };

async function serve(): Promise<void> {
  const port = parentPort!;
  const pglite = await PGlite.create({
    dataDir: (workerData as { dataDir: string }).dataDir,
    parsers: { [types.INT8]: (value: string) => Number(value) },
  });
  const transactions = new Map<number, OpenTransaction>();
  const reply = (message: ThreadReply) => port.postMessage(message);
  const answer = (id: number, work: () => Promise<unknown>) =>
    work().then(
      (value) => reply({ id, ok: true, value }),
      (error: unknown) => reply({ id, ok: false, error: toThreadError(error) }),
    );

  const begin = (id: number) => {
    let ended: ((commit: boolean) => void) | undefined;
    const endRequested = new Promise<boolean>((resolve) => (ended = resolve));
    let endId = -1;
    let started = false;
    const done = pglite.transaction(async (inner) => {
      started = true;
      transactions.set(id, {
        inner,
        end: (commit) => ended!(commit),
      });
      reply({ id, ok: true, value: id });
      const commit = await endRequested;
      if (!commit) throw new Rollback();
    });
    done
      .then(
        () => reply({ id: endId, ok: true, value: null }),
        (error: unknown) => {
          if (error instanceof Rollback) reply({ id: endId, ok: true, value: null });
          else reply({ id: started ? endId : id, ok: false, error: toThreadError(error) });
        },
      )
      .finally(() => transactions.delete(id));
    return (request: { id: number; commit: boolean }) => {
      endId = request.id;
      transactions.get(id)?.end(request.commit);
    };
  };
  const enders = new Map<number, (request: { id: number; commit: boolean }) => void>();

  port.on('message', (request: ThreadRequest) => {
    switch (request.op) {
      case 'query':
        void answer(request.id, async () => (await pglite.query(request.text, request.params)).rows);
        return;
      case 'begin':
        enders.set(request.id, begin(request.id));
        return;
      case 'txQuery':
        void answer(request.id, async () => (await transactions.get(request.tx)!.inner.query(request.text, request.params)).rows);
        return;
      case 'txExec':
        void answer(request.id, async () => {
          await transactions.get(request.tx)!.inner.exec(request.script);
          return null;
        });
        return;
      case 'end': {
        const end = enders.get(request.tx);
        enders.delete(request.tx);
        if (end === undefined) reply({ id: request.id, ok: false, error: { message: 'no such transaction', fields: {} } });
        else end(request);
        return;
      }
      case 'close':
        void answer(request.id, () => pglite.close());
        return;
    }
  });
  port.postMessage({ ready: true });
}

serve().catch((error: unknown) => {
  parentPort!.postMessage({ ready: false, error: toThreadError(error) });
});
