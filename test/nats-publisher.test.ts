/**
 * The JetStream publisher (src/events/nats.ts) against a nats-server of the
 * test's own: every message counts as published only once the stream
 * acknowledges it on the publisher's one reply subscription; a republish is
 * acknowledged as a duplicate and stored once; with no stream to take it, or
 * no broker to answer, a message is reported not published (and the relay
 * keeps it), and publishing works again once the stream or the broker is back.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import Fastify from 'fastify';
import type { EventMessage, EventType } from '../src/events/envelope.js';
import { JetStreamPublisher, streamName } from '../src/events/nats.js';
import { ownNatsServer, readShopStream } from './support/nats-server.js';
import { waitFor } from './support/webhook-receiver.js';

const nats = await ownNatsServer(4234);
// A short acknowledgement timeout, so that the broker-down case ends soon.
const publisher = new JetStreamPublisher(nats.url, Fastify().log, 1_000);
publisher.start();
after(() => publisher.close());

function message(type: EventType = 'order.paid'): EventMessage {
  const id = randomUUID();
  return { id, type, json: JSON.stringify({ specversion: '1.0', id, type, data: { n: 1 } }) };
}

/** Publishes until the publisher is connected (it connects in the background) and the batch is stored. */
async function publishStored(batch: readonly EventMessage[]): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await publisher.publish(batch)).published.every(Boolean);
      } catch {
        return false;
      }
    },
    20_000,
    'the publisher to store a batch',
  );
}

describe('JetStream publisher', () => {
  it('stores each message once, and counts a republish as a duplicate', async () => {
    await publishStored([]);
    const batch = [message(), message('points.charged'), message('coupon.issued')];
    const first = await publisher.publish(batch);
    assert.deepEqual(first, { published: [true, true, true], duplicates: 0 });
    const again = await publisher.publish(batch);
    assert.deepEqual(again, { published: [true, true, true], duplicates: 3 });
    const stored = await readShopStream(nats.url);
    const ids = batch.map((event) => event.id);
    assert.deepEqual(stored.filter((m) => m.msgId !== undefined && ids.includes(m.msgId)).map((m) => m.msgId), ids);
    assert.deepEqual(stored.filter((m) => ids.includes(m.msgId ?? '')).map((m) => m.subject), ['shop.order.paid', 'shop.points.charged', 'shop.coupon.issued']);
  });

  it('reports a message not published when no stream takes it, and stores it once the stream is made again', async () => {
    await publishStored([message()]);
    const connection = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(connection)).streams.delete(streamName);
    } finally {
      await connection.close();
    }
    const lost = message();
    assert.deepEqual(await publisher.publish([lost]), { published: [false], duplicates: 0 });
    // The failure makes the publisher look for the stream again, and create it.
    assert.deepEqual(await publisher.publish([lost]), { published: [true], duplicates: 0 });
    assert.deepEqual((await readShopStream(nats.url)).map((m) => m.msgId), [lost.id]);
  });

  it('gives up on messages no broker acknowledges, and publishes again once the broker is back', async () => {
    await publishStored([message()]);
    await nats.stop();
    const waiting = message();
    const outcome = await publisher.publish([waiting]).catch(() => ({ published: [false], duplicates: 0 }));
    assert.deepEqual(outcome.published, [false]);
    await nats.start();
    await publishStored([waiting]);
    assert.ok((await readShopStream(nats.url)).some((m) => m.msgId === waiting.id));
  });
});
