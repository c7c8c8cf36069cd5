/**
 * The limiter's deadline on Redis: an answer that arrived while this
 * process was stalled past the deadline counts as on time, and one that
 * never comes is called late. The answer comes over a real socket from a
 * process of its own, so it arrives during the stall.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { withinDeadline } from './rate-limit.js';

const echoServer = spawn(
  process.execPath,
  ['-e', "require('node:net').createServer((s) => s.pipe(s)).listen(0, '127.0.0.1', function () { console.log(this.address().port); })"],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
after(() => echoServer.kill());
const [portLine] = (await once(echoServer.stdout!, 'data')) as [Buffer];
const echoPort = Number(portLine.toString().trim());

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // A stall of this process: no timer, no I/O runs.
  }
}

describe('withinDeadline', () => {
  it('counts an answer that arrived while the process stalled past the deadline as on time', async () => {
    const socket = connect(echoPort, '127.0.0.1');
    await once(socket, 'connect');
    try {
      const answered = once(socket, 'data').then(() => 'answered');
      socket.write('ping');
      const judged = withinDeadline(answered, 20, 'the echo');
      // The echo comes back during the stall; when the loop runs again its timer is due before that I/O is read.
      busyWait(300);
      assert.equal(await judged, 'answered');
    } finally {
      socket.destroy();
    }
  });

  it('calls an answer that does not come late, and passes a failure through', async () => {
    await assert.rejects(withinDeadline(new Promise(() => {}), 20, 'Redis'), /Redis did not answer within 20 ms/);
    await assert.rejects(withinDeadline(Promise.reject(new Error('connection refused')), 1_000, 'Redis'), /connection refused/);
  });
});
