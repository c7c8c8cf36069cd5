/**
 * Polls `GET /health` from a worker thread, so that the load a test generates
 * on its main thread does not delay the measurement: what it records is how
 * long the service took to answer, plus the loopback.
 */
import { Worker } from 'node:worker_threads';

export type HealthProbe = { stop(): Promise<{ latenciesMs: number[]; failures: number }> };

const probeSource = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const latenciesMs = [];
let failures = 0;
let stopping = false;
parentPort.on('message', () => { stopping = true; });
function once() {
  return new Promise((resolve) => {
    const started = performance.now();
    const request = http.get(workerData.url + '/health', { agent, timeout: workerData.timeoutMs }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode === 200) latenciesMs.push(performance.now() - started);
        else failures++;
        resolve();
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => { failures++; resolve(); });
  });
}
(async () => {
  await once();
  while (!stopping) {
    await once();
    await new Promise((resolve) => setTimeout(resolve, workerData.intervalMs));
  }
  agent.destroy();
  parentPort.postMessage({ latenciesMs, failures });
})();
`;

/** Starts polling every `intervalMs`; a call that takes `timeoutMs` counts as a failure. */
export function probeHealth(url: string, intervalMs = 5, timeoutMs = 2_000): HealthProbe {
  const worker = new Worker(probeSource, { eval: true, workerData: { url, intervalMs, timeoutMs } });
  const result = new Promise<{ latenciesMs: number[]; failures: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      worker.postMessage('stop');
      const outcome = await result;
      await worker.terminate();
      return outcome;
    },
  };
}
