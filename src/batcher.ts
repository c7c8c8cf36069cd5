/**
 * Group commit in the application. Work items that would each wait for the
 * same row lock and then pay a whole commit while holding it (claims of one
 * coupon campaign, orders of one hot product) are gathered by key and done by
 * one statement, one transaction, one commit.
 *
 * Nothing waits on a timer: an item that finds no batch of its key in flight
 * starts one at once, alone; the items that arrive meanwhile form the next
 * batch, which starts as soon as the one in flight is answered. So an idle
 * key costs no latency, and a hot key's batches grow with its load.
 */

type Waiter<In, Out> = { input: In; resolve: (output: Out) => void; reject: (error: unknown) => void };

export class KeyedBatcher<K, In, Out> {
  /**
   * Items waiting for the next batch, by key. A key has an entry exactly while
   * a batch of it is in flight. The queue needs no bound of its own: it never
   * holds more items than there are requests in progress.
   */
  readonly #queues = new Map<K, Array<Waiter<In, Out>>>();

  constructor(
    /** Does one batch; answers one output per input, in order. */
    private readonly run: (key: K, inputs: In[]) => Promise<Out[]>,
    readonly batchSizeMax: number,
  ) {}

  /** Resolves with this item's output; rejects, for every item of the batch, when the batch fails. */
  submit(key: K, input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      const waiter = { input, resolve, reject };
      const queue = this.#queues.get(key);
      if (queue !== undefined) {
        queue.push(waiter);
        return;
      }
      const started = [waiter];
      this.#queues.set(key, started);
      void this.#drain(key, started);
    });
  }

  async #drain(key: K, queue: Array<Waiter<In, Out>>): Promise<void> {
    while (queue.length > 0) {
      await this.#runBatch(key, queue.splice(0, this.batchSizeMax));
    }
    // No await since the queue was seen empty: no item can have joined it.
    this.#queues.delete(key);
  }

  async #runBatch(key: K, batch: Array<Waiter<In, Out>>): Promise<void> {
    let outputs: Out[];
    try {
      outputs = await this.run(key, batch.map((waiter) => waiter.input));
      if (outputs.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${outputs.length} outputs`);
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
      return;
    }
    batch.forEach((waiter, index) => waiter.resolve(outputs[index]!));
  }
}
