/**
 * Deadlines on answers from other processes (Redis, NATS, the database).
 * A process whose event loop stalled past a deadline runs its expired timers
 * before the I/O that arrived meanwhile, so a plain timer would call late an
 * answer that is already in the socket. These look once more after that
 * I/O (in a `setImmediate`): a stall of this process is not a slow peer.
 */

export type Deadline = { clear(): void };

/** Calls `onLate` once `ms` have passed and the I/O that came in meanwhile has been read, unless cleared first. */
export function setDeadline(onLate: () => void, ms: number): Deadline {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(onLate);
  }, ms);
  return {
    clear: () => {
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    },
  };
}

/** `promise`, or a rejection naming `what` once `ms` have passed without its answer. */
export function withinDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const deadline = setDeadline(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        deadline.clear();
        resolve(value);
      },
      (error: unknown) => {
        deadline.clear();
        reject(error);
      },
    );
  });
}
