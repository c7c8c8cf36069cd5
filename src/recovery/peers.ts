/**
 * What the other instances sharing this DATA_DIR hold in doubt (SPEC §8).
 * Their journals sit next to ours; an order in one of them was answered 202
 * by its instance, so this instance must not report it `success` either —
 * even while that instance cannot reach the database and the database still
 * holds the payment as committed.
 *
 * The files are watched (inotify through fs.watch, and a rescan every second
 * in case an event is missed) and read incrementally into memory, so a
 * request looks up a Map. `catchUp()` makes the view exact as of the call:
 * one fstat per peer file, and a read only of what was appended since.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { applyLine, type PendingEntry } from './entries.js';

type PeerFile = { fd: number; offset: number; partial: Buffer; entries: Map<string, PendingEntry> };

const rescanIntervalMs = 1_000;
/** A journal (`<instance>.jsonl`) or one being adopted (`<instance>.jsonl.adopted-by-<instance>`). */
const journalName = /^[0-9a-f-]{36}\.jsonl(\.adopted-by-[0-9a-f-]{36})?$/;

export class PeerJournals {
  readonly #files = new Map<string, PeerFile>();
  #watcher: FSWatcher | undefined;
  #rescan: NodeJS.Timeout | undefined;
  #scheduled = false;

  constructor(
    readonly dir: string,
    /** This instance's id: its own journal, and files it is adopting, are not peers. */
    readonly ownId: string,
  ) {}

  start(): void {
    this.#scan();
    try {
      // Heartbeats and this instance's own appends change nothing here.
      this.#watcher = watch(this.dir, { persistent: false }, (_event, name) => {
        if (name === null || (!name.endsWith('.alive') && !name.includes(this.ownId))) this.#schedule();
      });
      this.#watcher.on('error', () => {});
    } catch {
      // No watch on this file system: the rescan alone keeps the view within a second.
    }
    this.#rescan = setInterval(() => this.#scan(), rescanIntervalMs);
    this.#rescan.unref();
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#rescan);
    for (const file of this.#files.values()) closeSync(file.fd);
    this.#files.clear();
  }

  find(orderId: string): PendingEntry | undefined {
    for (const file of this.#files.values()) {
      const entry = file.entries.get(orderId);
      if (entry !== undefined) return entry;
    }
    return undefined;
  }

  findByKey(userId: string, key: string): PendingEntry | undefined {
    for (const file of this.#files.values()) {
      for (const entry of file.entries.values()) if (entry.userId === userId && entry.key === key) return entry;
    }
    return undefined;
  }

  entries(): PendingEntry[] {
    return [...this.#files.values()].flatMap((file) => [...file.entries.values()]);
  }

  /** Reads what the known peer files gained since the last look: afterwards the view is exact for them. */
  catchUp(): void {
    for (const file of this.#files.values()) this.#readTail(file);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#scan();
    });
  }

  /** Picks up new files, forgets removed ones, and reads every tail. Never throws. */
  #scan(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((name) => journalName.test(name) && !name.includes(this.ownId));
    } catch {
      return;
    }
    const present = new Set(names);
    for (const [name, file] of this.#files) {
      if (present.has(name)) continue;
      closeSync(file.fd);
      this.#files.delete(name);
    }
    for (const name of names) {
      if (this.#files.has(name)) continue;
      try {
        this.#files.set(name, { fd: openSync(join(this.dir, name), 'r'), offset: 0, partial: Buffer.alloc(0), entries: new Map() });
      } catch {
        // Removed between the listing and the open: nothing to follow.
      }
    }
    this.catchUp();
  }

  #readTail(file: PeerFile): void {
    const size = fstatSync(file.fd).size;
    if (size <= file.offset) return;
    const bytes = Buffer.alloc(size - file.offset);
    const read = readSync(file.fd, bytes, 0, bytes.length, file.offset);
    file.offset += read;
    const tail = Buffer.concat([file.partial, bytes.subarray(0, read)]);
    // Bytes after the last newline are a line still being written: kept as bytes, a character may be cut.
    const end = tail.lastIndexOf(0x0a) + 1;
    file.partial = tail.subarray(end);
    for (const line of tail.subarray(0, end).toString('utf8').split('\n')) applyLine(file.entries, line);
  }
}
