/**
 * Group commit in the application. Work items that would each pay a whole
 * commit (and, for hot rows, wait for one row lock and then pay that commit
 * while holding it) are gathered and done by one statement, one transaction,
 * one commit.
 *
 * Nothing waits on a timer: an item that finds fewer than `inFlightMax`
 * batches in flight starts one at once; the items that arrive meanwhile form
 * the next batch, which starts as soon as one in flight is answered. So an
 * idle queue costs no latency, and a busy one's batches grow with its load.
 * More than one batch in flight lets one batch's commit overlap the next
 * one's work.
 */

type Waiter<In, Out> = { input: In; resolve: (output: Out) => void; reject: (error: unknown) => void };

export class Batcher<In, Out> {
  /** Never longer than the number of requests in progress, so it needs no bound of its own. */
  readonly #waiting: Array<Waiter<In, Out>> = [];
  #inFlight = 0;

  constructor(
    /** Does one batch; answers one output per input, in order. */
    private readonly run: (inputs: In[]) => Promise<Out[]>,
    readonly batchSizeMax: number,
    readonly inFlightMax = 1,
    /** Called when the last batch in flight is answered and nothing waits. */
    private readonly onIdle?: () => void,
  ) {}

  /** Items waiting for a batch (not those in flight). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with this item's output; rejects, for every item of the batch, when the batch fails. */
  submit(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      this.#start();
    });
  }

  #start(): void {
    while (this.#inFlight < this.inFlightMax && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.batchSizeMax);
      this.#inFlight++;
      void this.#runBatch(batch);
    }
  }

  async #runBatch(batch: Array<Waiter<In, Out>>): Promise<void> {
    let handOut: () => void;
    try {
      const outputs = await this.run(batch.map((waiter) => waiter.input));
      if (outputs.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${outputs.length} outputs`);
      handOut = () => {
        for (const [index, waiter] of batch.entries()) waiter.resolve(outputs[index]!);
      };
    } catch (error) {
      handOut = () => {
        for (const waiter of batch) waiter.reject(error);
      };
    }
    this.#inFlight--;
    // The next batch is on its way before this one's outputs are handed out:
    // each output's work (an HTTP answer written to its socket) runs in
    // promise jobs, and would otherwise go first — the connection pool hands
    // the next batch its connection in a process.nextTick, which runs only
    // once the promise jobs are done. setImmediate runs after both.
    this.#start();
    setImmediate(handOut);
    if (this.#inFlight === 0) this.onIdle?.();
  }
}

/** One `Batcher` per key, for work whose items only go together when they share a key (one campaign's claims). */
export class KeyedBatcher<K, In, Out> {
  /** A key has an entry exactly while it has items waiting or in flight. */
  readonly #queues = new Map<K, Batcher<In, Out>>();

  constructor(
    private readonly run: (key: K, inputs: In[]) => Promise<Out[]>,
    readonly batchSizeMax: number,
    readonly inFlightMax = 1,
  ) {}

  submit(key: K, input: In): Promise<Out> {
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = new Batcher<In, Out>((inputs) => this.run(key, inputs), this.batchSizeMax, this.inFlightMax, () => this.#queues.delete(key));
      this.#queues.set(key, queue);
    }
    return queue.submit(input);
  }
}
