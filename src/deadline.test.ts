/**
 * Deadlines on other processes' answers: an answer that arrived while this
 * process was stalled past the deadline counts as on time, one that never
 * comes is called late, and a cleared deadline never fires. The answer comes
 * over a real socket from a process of its own, which marks a file once it
 * has sent it, so that the stall lasts until the answer is in this side's
 * socket whatever the machine's load.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setDeadline, withinDeadline } from './deadline.js';

const dir = mkdtempSync(join(tmpdir(), 'deadline-'));
const sent = join(dir, 'sent');
const echoServer = spawn(
  process.execPath,
  [
    '-e',
    `const fs = require('node:fs');
     require('node:net').createServer((s) => s.on('data', (d) => s.write(d, () => fs.writeFileSync(${JSON.stringify(sent)}, '1'))))
       .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
after(() => {
  echoServer.kill();
  rmSync(dir, { recursive: true, force: true });
});
const [portLine] = (await once(echoServer.stdout!, 'data')) as [Buffer];
const echoPort = Number(portLine.toString().trim());

/** A stall of this process (no timer, no I/O runs) of at least `ms`, until `done` holds (at most 10 s). */
function stall(ms: number, done: () => boolean): void {
  const startedMs = performance.now();
  while (performance.now() - startedMs < ms || (!done() && performance.now() - startedMs < 10_000)) {
    // Busy.
  }
}

describe('deadlines', () => {
  it('count an answer that arrived while the process stalled past the deadline as on time', async () => {
    const socket = connect(echoPort, '127.0.0.1');
    await once(socket, 'connect');
    try {
      const answered = once(socket, 'data').then(() => 'answered');
      socket.write('ping');
      const judged = withinDeadline(answered, 20, 'the echo');
      // Past the deadline, and until the echo is sent: when the loop runs again, its timer is due before that I/O is read.
      stall(100, () => existsSync(sent));
      assert.ok(existsSync(sent), 'the echo was sent during the stall');
      assert.equal(await judged, 'answered');
    } finally {
      socket.destroy();
    }
  });

  it('call an answer that does not come late, pass a failure through, and never fire once cleared', async () => {
    await assert.rejects(withinDeadline(new Promise(() => {}), 20, 'Redis'), /Redis did not answer within 20 ms/);
    await assert.rejects(withinDeadline(Promise.reject(new Error('connection refused')), 1_000, 'Redis'), /connection refused/);
    let fired = 0;
    setDeadline(() => fired++, 5);
    setDeadline(() => fired++, 5).clear();
    // Deadlines fire in the order they fall due, so by the time a later one fires, both earlier would have.
    await new Promise<void>((resolve) => setDeadline(resolve, 50));
    assert.equal(fired, 1);
  });
});
