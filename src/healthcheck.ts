/**
 * The container's HEALTHCHECK: exits 0 when this machine's service answers
 * `GET /ready` with 200 within `healthcheckTimeoutMs`, 1 otherwise. It reads
 * the same configuration as the service, so it asks the port the service
 * listens on.
 */
import { loadConfig } from './config.js';

const healthcheckTimeoutMs = 2_000;

async function main(): Promise<number> {
  const config = loadConfig();
  // A service bound to every address answers on loopback.
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  try {
    const response = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${config.port}/ready`, { signal: AbortSignal.timeout(healthcheckTimeoutMs) });
    await response.arrayBuffer();
    return response.status === 200 ? 0 : 1;
  } catch {
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`healthcheck: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
