/**
 * Starts the service: parse configuration, build the app, listen. On SIGTERM
 * or SIGINT it shuts down gracefully (shutdown.ts) and exits 0.
 */
import cluster from 'node:cluster';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { shutDown } from './shutdown.js';
import { shareWithPrimary } from './metrics.js';
import { serveMetrics } from './observability.js';
import { runPrimary } from './primary.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }

  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
  const app = await buildApp(config);
  if (cluster.isWorker) shareWithPrimary();
  else await serveMetrics(app, config);
  if (config.workersRefused !== undefined) {
    app.log.warn({ workers: config.workersRefused }, 'WORKERS is 1 on the embedded database (one process owns it): running one process');
  }
  if (config.jwtSecretIsDefault) {
    app.log.warn('JWT_SECRET is not set: using the development secret. Never do this in production.');
  }

  // A library bug must not take down every in-flight payment with it: log it loudly instead.
  process.on('unhandledRejection', (reason) => app.log.error({ err: reason }, 'unhandled rejection'));

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    void shutDown(app, config.shutdownTimeoutMs).then((code) => process.exit(code));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
}

main().catch((error: unknown) => {
  console.error('failed to start:', error);
  process.exit(1);
});
