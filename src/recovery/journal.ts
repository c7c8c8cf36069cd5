/**
 * The fallback store for orders whose outcome is unknown (SPEC §8, seed 4-5
 * 임시 저장소): an append-only file under DATA_DIR, fsync'd before the client
 * hears 202, so the promise survives the database being unreachable and the
 * process being killed.
 *
 * Each instance appends to its own file and touches a heartbeat file while it
 * lives. An instance whose heartbeat is stale is dead: a live one adopts its
 * file by renaming it (the rename succeeds for exactly one adopter), copies
 * what is still unsettled into its own journal, then deletes it. Every
 * instance also follows the other journals (peers.ts), so that none reports
 * `success` for an order another one answered 202.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { applyLine, recordLine, type JournalRecord, type PendingEntry } from './entries.js';
import { PeerJournals } from './peers.js';

const heartbeatIntervalMs = 1_000;
/** A heartbeat older than this means the instance is gone. */
export const heartbeatStaleMs = 5_000;

export class PendingJournal {
  readonly instanceId = randomUUID();
  readonly #unsettled = new Map<string, PendingEntry>();
  #file: FileHandle | undefined;
  /** The journals of the other instances sharing this directory. */
  #peers: PeerJournals | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Appends wait here so that concurrent ones share one write and one fsync. */
  #batch: { lines: string[]; done: Promise<void> } | undefined;

  /** `dir` undefined keeps the journal in memory only (the in-memory database has nothing to outlive). */
  constructor(readonly dir: string | undefined) {}

  get #path() {
    return join(this.dir!, `${this.instanceId}.jsonl`);
  }

  async open(): Promise<void> {
    if (this.dir === undefined) return;
    await mkdir(this.dir, { recursive: true });
    this.#file = await open(this.#path, 'a');
    await this.#touch();
    this.#heartbeat = setInterval(() => void this.#touch().catch(() => {}), heartbeatIntervalMs);
    this.#heartbeat.unref();
    this.#peers = new PeerJournals(this.dir, this.instanceId);
    this.#peers.start();
  }

  async #touch(): Promise<void> {
    const beat = join(this.dir!, `${this.instanceId}.alive`);
    const now = new Date();
    await utimes(beat, now, now).catch(async () => (await open(beat, 'w')).close());
  }

  async #write(record: JournalRecord): Promise<void> {
    if (this.#file === undefined) return;
    if (this.#batch === undefined) {
      const lines: string[] = [];
      const done = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.#batch = undefined;
          const file = this.#file!;
          file.appendFile(lines.join('')).then(() => file.datasync()).then(resolve, reject);
        });
      });
      this.#batch = { lines, done };
    }
    this.#batch.lines.push(recordLine(record));
    return this.#batch.done;
  }

  /** Durable once this resolves. */
  async append(entry: PendingEntry): Promise<void> {
    this.#unsettled.set(entry.orderId, entry);
    await this.#write({ type: 'pending', entry });
  }

  /** The database now holds the order's fate; the journal may forget it. */
  async settle(orderId: string): Promise<void> {
    if (!this.#unsettled.delete(orderId)) return;
    await this.#write({ type: 'settled', orderId });
  }

  /** This instance's entries not yet in the database. */
  unsettled(): PendingEntry[] {
    return [...this.#unsettled.values()];
  }

  /** Entries in the other journals under this directory: their instances answered 202 for them. */
  peerEntries(): PendingEntry[] {
    return this.#peers?.entries() ?? [];
  }

  /** An order answered 202 by this instance or by one sharing its directory, and not yet in the database as such. */
  find(orderId: string): PendingEntry | undefined {
    return this.#unsettled.get(orderId) ?? this.#peers?.find(orderId);
  }

  findByKey(userId: string, key: string): PendingEntry | undefined {
    for (const entry of this.#unsettled.values()) if (entry.userId === userId && entry.key === key) return entry;
    return this.#peers?.findByKey(userId, key);
  }

  /**
   * Reads what the peers' journals gained since the last look, so that `find`
   * is exact as of this call: for an answer about to say `success` or `failed`.
   */
  catchUp(): void {
    this.#peers?.catchUp();
  }

  findNow(orderId: string): PendingEntry | undefined {
    this.catchUp();
    return this.find(orderId);
  }

  /** Takes over the journals of instances whose heartbeat stopped (including this process's previous life). */
  async adoptDead(nowMs = Date.now()): Promise<number> {
    if (this.dir === undefined) return 0;
    let adopted = 0;
    for (const name of await readdir(this.dir)) {
      const match = /^([0-9a-f-]{36})\.jsonl$/.exec(name);
      if (match === null || match[1] === this.instanceId) continue;
      const beat = await stat(join(this.dir, `${match[1]}.alive`)).catch(() => undefined);
      if (beat !== undefined && nowMs - beat.mtimeMs < heartbeatStaleMs) continue;
      const claimed = join(this.dir, `${name}.adopted-by-${this.instanceId}`);
      try {
        await rename(join(this.dir, name), claimed);
      } catch {
        continue; // Another instance adopted it first.
      }
      for (const entry of parseJournal(await readFile(claimed, 'utf8'))) {
        if (!this.#unsettled.has(entry.orderId)) await this.append(entry);
        adopted++;
      }
      await rm(claimed);
      await rm(join(this.dir, `${match[1]}.alive`), { force: true });
    }
    return adopted;
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#peers?.stop();
    await this.#batch?.done.catch(() => {});
    await this.#file?.close();
    this.#file = undefined;
    // A clean exit with nothing unsettled leaves nothing to adopt.
    if (this.dir !== undefined && this.#unsettled.size === 0) {
      await rm(this.#path, { force: true });
      await rm(join(this.dir, `${this.instanceId}.alive`), { force: true });
    }
  }
}

/** Unsettled entries of a journal's text. */
export function parseJournal(text: string): PendingEntry[] {
  const unsettled = new Map<string, PendingEntry>();
  for (const line of text.split('\n')) applyLine(unsettled, line);
  return [...unsettled.values()];
}
