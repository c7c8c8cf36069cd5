/**
 * Group commit in the application. Work items that would each wait for the
 * same row lock and then pay a whole commit while holding it (claims of one
 * coupon campaign, orders of one hot product) are gathered by key and done by
 * one statement, one transaction, one commit.
 *
 * Nothing waits on a timer: an item that finds fewer than `inFlightMax`
 * batches of its key in flight starts one at once; the items that arrive
 * meanwhile form the next batch, which starts as soon as one in flight is
 * answered. So an idle key costs no latency, and a hot key's batches grow
 * with its load. More than one batch in flight lets one batch's commit
 * overlap the next one's work.
 */

type Waiter<In, Out> = { input: In; resolve: (output: Out) => void; reject: (error: unknown) => void };

type Queue<In, Out> = { waiting: Array<Waiter<In, Out>>; inFlight: number };

export class KeyedBatcher<K, In, Out> {
  /**
   * By key, the items waiting for a batch and the batches in flight. A key has
   * an entry exactly while it has a batch in flight. The queue needs no bound
   * of its own: it never holds more items than there are requests in progress.
   */
  readonly #queues = new Map<K, Queue<In, Out>>();

  constructor(
    /** Does one batch; answers one output per input, in order. */
    private readonly run: (key: K, inputs: In[]) => Promise<Out[]>,
    readonly batchSizeMax: number,
    readonly inFlightMax = 1,
  ) {}

  /** Resolves with this item's output; rejects, for every item of the batch, when the batch fails. */
  submit(key: K, input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(key);
      if (queue === undefined) {
        queue = { waiting: [], inFlight: 0 };
        this.#queues.set(key, queue);
      }
      queue.waiting.push({ input, resolve, reject });
      this.#start(key, queue);
    });
  }

  #start(key: K, queue: Queue<In, Out>): void {
    while (queue.inFlight < this.inFlightMax && queue.waiting.length > 0) {
      const batch = queue.waiting.splice(0, this.batchSizeMax);
      queue.inFlight++;
      void this.#runBatch(key, batch).then(() => {
        queue.inFlight--;
        if (queue.inFlight === 0 && queue.waiting.length === 0) this.#queues.delete(key);
        else this.#start(key, queue);
      });
    }
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
