/**
 * The set-up the PostgreSQL fault tests share: a database of the file's own
 * (the services' recovery workers sweep every pending order they can see), a
 * token signer, and TCP proxies in front of it that the test can cut. Every
 * service process and proxy is stopped after the file.
 */
import { after } from 'node:test';
import { Authenticator } from '../../src/auth.js';
import { jwtSecret, setupApp } from '../helper.js';
import { stopAll } from './service-process.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export async function faultRig() {
  const { db, config } = await setupApp({}, { ownDatabase: true });
  const auth = new Authenticator(jwtSecret);
  const pgUrl = new URL(config.databaseUrl!);
  const proxies: TcpProxy[] = [];
  after(async () => {
    await stopAll();
    await Promise.all(proxies.map((proxy) => proxy.close().catch(() => {})));
  });
  /** A proxy to this file's database; `proxy.url(pgUrl.toString())` is the DATABASE_URL through it. */
  async function openProxy(): Promise<TcpProxy> {
    const proxy = await startTcpProxy({ targetPort: Number(pgUrl.port || 5432) });
    proxies.push(proxy);
    return proxy;
  }
  return { db, auth, pgUrl, openProxy };
}
