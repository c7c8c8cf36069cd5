/**
 * The deploy files, checked with what runs on this machine (no Docker
 * engine does): the Dockerfile is linted and read for its contract
 * (multi-stage, non-root, `npm ci --omit=dev`, HEALTHCHECK on /ready);
 * compose.yaml goes through `docker-compose config`; HAProxy checks its
 * configuration. Then, on the PostgreSQL side, the image's own commands
 * run: its `npm ci --omit=dev` in a folder laid out as the image is, two
 * instances started by its CMD, its HEALTHCHECK, and HAProxy with
 * deploy/haproxy.cfg in front of them.
 *
 * Needs `docker-compose` and `haproxy` (Debian packages).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { parse } from 'yaml';
import { Authenticator } from '../src/auth.js';
import { jwtSecret, setupApp, testDb } from './helper.js';
import { fundWallet, makeProduct } from './fixtures.js';
import { api, ownPort, scrape, startRedis, tokenHeader, sampleValue, type RedisServer } from './support/ops.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const dockerfileText = await readFile(join(root, 'Dockerfile'), 'utf8');
const instructions = DockerfileParser.parse(dockerfileText).getInstructions();
const stages: Instruction[][] = [];
for (const instruction of instructions) {
  if (instruction.getKeyword() === 'FROM') stages.push([]);
  stages.at(-1)?.push(instruction);
}
const runtime = stages.at(-1)!;
const args = (instruction: Instruction) => instruction.getArgumentsContent() ?? '';
const only = (keyword: string) => runtime.filter((i) => i.getKeyword() === keyword);
const secret = 'compose-secret-0123456789';

function composeConfig(env: Record<string, string>) {
  return spawnSync('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
}

function haproxyCheck(env: Record<string, string>) {
  return spawnSync('haproxy', ['-c', '-f', 'deploy/haproxy.cfg'], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
}

describe('Dockerfile', () => {
  it('lints clean', () => {
    assert.deepEqual(validate(dockerfileText), []);
  });

  it('builds in one stage and runs from another, as a user that is not root', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    const runtimeText = dockerfileText.slice(dockerfileText.lastIndexOf('\nFROM '));
    assert.match(runtimeText, /^COPY --from=build \/app\/dist \.\/dist$/m, 'the runtime copies the build output');
    const users = only('USER').map(args);
    assert.equal(users.length, 1);
    assert.doesNotMatch(users[0]!, /^(root|0)(:|$)/);
    // Nothing runs as root after USER: it is the last instruction that runs anything.
    const userAt = runtime.findIndex((i) => i.getKeyword() === 'USER');
    assert.ok(runtime.slice(userAt).every((i) => i.getKeyword() !== 'RUN'));
  });

  it('installs the runtime dependencies only, and checks its health on /ready', async () => {
    assert.ok(only('RUN').some((i) => /\bnpm ci --omit=dev\b/.test(args(i))));
    assert.ok(stages.slice(0, -1).flat().some((i) => i.getKeyword() === 'RUN' && /npm run build/.test(args(i))));
    const [healthcheck] = only('HEALTHCHECK');
    assert.match(args(healthcheck!), /CMD \["node", "dist\/healthcheck\.js"\]/);
    assert.match(await readFile(join(root, 'src/healthcheck.ts'), 'utf8'), /\/ready`/);
    assert.deepEqual(JSON.parse(args(only('CMD')[0]!)), ['node', 'dist/server.js']);
  });
});

describe('compose.yaml', () => {
  it('is valid for docker-compose, and refuses to start without JWT_SECRET', () => {
    const ok = composeConfig({ JWT_SECRET: secret });
    assert.equal(ok.status, 0, ok.stderr);
    const refused = composeConfig({});
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /JWT_SECRET/);
  });

  it('runs PostgreSQL, Redis, NATS, two service instances of one image and HAProxy in front', () => {
    const config = parse(composeConfig({ JWT_SECRET: secret }).stdout) as { services: Record<string, any> };
    assert.deepEqual(Object.keys(config.services).sort(), ['app1', 'app2', 'haproxy', 'nats', 'postgres', 'redis']);
    const [app1, app2] = [config.services.app1, config.services.app2];
    assert.equal(app1.image, app2.image);
    assert.deepEqual(app1.environment, app2.environment);
    assert.equal(app1.environment.JWT_SECRET, secret);
    assert.match(app1.environment.DATABASE_URL, /@postgres:5432\//);
    assert.match(app1.environment.REDIS_URL, /^redis:\/\/redis:6379/);
    assert.deepEqual(app1.volumes.map((v: any) => (typeof v === 'string' ? v : `${v.source}:${v.target}`).replace(/:rw$/, '')), ['journal:/var/lib/orders'], 'one journal volume, shared');
    assert.equal(app1.depends_on.postgres.condition, 'service_healthy');
    assert.equal(config.services.haproxy.depends_on.app1.condition, 'service_healthy');
    assert.equal(config.services.haproxy.depends_on.app2.condition, 'service_healthy');
  });
});

describe('deploy/haproxy.cfg', () => {
  it('passes haproxy -c with the addresses compose gives it', () => {
    const checked = haproxyCheck({ LISTEN: ':8080', APP1: 'app1:3000', APP2: 'app2:3000' });
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout + checked.stderr, /Configuration file is valid/);
  });
});

if (testDb === 'postgres') {
  describe("the image's commands, run here", async () => {
    const { db, config } = await setupApp({}, { ownDatabase: true });
    const image = await mkdtemp(join(tmpdir(), 'image-'));
    const children: ChildProcess[] = [];
    let redis: RedisServer | undefined;
    after(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await redis?.stop();
      await rm(image, { recursive: true, force: true });
    });

    /** ENV of the runtime stage, with this machine's addresses where compose would give its own. */
    function imageEnv(overrides: Record<string, string>): Record<string, string> {
      const env: Record<string, string> = { PATH: process.env.PATH! };
      for (const instruction of only('ENV')) {
        for (const pair of args(instruction).split(/\s+/).filter((p) => p.includes('='))) {
          const [name, value] = pair.split('=') as [string, string];
          env[name] = value;
        }
      }
      return { ...env, ...overrides };
    }

    async function waitFor(url: string, timeoutMs = 60_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          if ((await fetch(url)).status === 200) return;
        } catch {
          // Not up yet.
        }
        if (Date.now() > deadline) throw new Error(`${url} did not answer 200`);
        await sleep(100);
      }
    }

    it('lays out the runtime stage: npm ci --omit=dev, the compiled code, the migrations', async () => {
      await cp(join(root, 'package.json'), join(image, 'package.json'));
      await cp(join(root, 'package-lock.json'), join(image, 'package-lock.json'));
      const install = only('RUN').map(args).find((command) => command.startsWith('npm ci --omit=dev'))!;
      // The image also cleans npm's cache afterwards; here that would be this machine's cache.
      const npmCi = install.split('&&')[0]!.trim();
      const installed = spawnSync('sh', ['-c', npmCi], { cwd: image, encoding: 'utf8', env: { ...process.env, npm_config_prefer_offline: 'true' } });
      assert.equal(installed.status, 0, installed.stderr);
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', join(image, 'dist')]);
      await cp(join(root, 'migrations'), join(image, 'migrations'), { recursive: true });
      assert.equal(spawnSync(process.execPath, ['-e', "require.resolve('tsx')"], { cwd: image }).status, 1, 'no development dependency in the image');
    });

    it('starts two instances with its CMD, passes its HEALTHCHECK, and serves through HAProxy', async () => {
      redis = await startRedis(ownPort(6393));
      const ports = [ownPort(7340), ownPort(7342)];
      const [cmd, ...cmdArgs] = JSON.parse(args(only('CMD')[0]!)) as string[];
      const [, checkCmd, ...checkArgs] = /CMD (\[.*\])/.exec(args(only('HEALTHCHECK')[0]!))!.slice(0, 2).flatMap((m, i) => (i === 0 ? [m] : JSON.parse(m))) as string[];
      const envs = ports.map((port) =>
        imageEnv({
          HOST: '127.0.0.1',
          PORT: String(port),
          METRICS_PORT: String(port + 1),
          DATABASE_URL: config.databaseUrl!,
          REDIS_URL: redis!.url,
          JWT_SECRET: jwtSecret,
          DATA_DIR: join(image, 'data'),
          LOG_LEVEL: 'warn',
        }),
      );
      const healthcheck = (env: Record<string, string>) => spawnSync(checkCmd!, checkArgs, { cwd: image, env, timeout: 10_000 }).status;
      assert.equal(healthcheck(envs[0]!), 1, 'unhealthy before it runs');

      for (const env of envs) {
        const child = spawn(cmd === 'node' ? process.execPath : cmd!, cmdArgs, { cwd: image, env, stdio: 'ignore' });
        children.push(child);
        await waitFor(`http://127.0.0.1:${env.PORT}/ready`);
        assert.equal(healthcheck(env), 0);
      }

      const front = ownPort(7344);
      const haproxy = spawn('haproxy', ['-f', join(root, 'deploy/haproxy.cfg')], {
        env: { PATH: process.env.PATH!, LISTEN: `127.0.0.1:${front}`, APP1: `127.0.0.1:${ports[0]}`, APP2: `127.0.0.1:${ports[1]}` },
        stdio: 'ignore',
      });
      children.push(haproxy);
      const frontUrl = `http://127.0.0.1:${front}`;
      await waitFor(`${frontUrl}/ready`);

      const auth = new Authenticator(jwtSecret);
      const productId = await makeProduct(db, 1_000, 100);
      const users = Array.from({ length: 10 }, () => `front-${randomUUID().slice(0, 8)}`);
      for (const userId of users) await fundWallet(db, userId, 10_000);
      const answers = [];
      for (const userId of users) {
        answers.push(await api(frontUrl, 'POST', '/api/orders', { ...tokenHeader(auth, userId), 'idempotency-key': randomUUID() }, { items: [{ productId, quantity: 1 }] }));
      }
      assert.deepEqual(answers.map((a) => a.status), Array(users.length).fill(200));
      // HAProxy gives every request an id when the client sent none, and the service echoes it.
      assert.ok(answers.every((a) => /^[0-9a-f-]{36}$/i.test(a.headers.get('x-request-id') ?? '')));
      const kept = await api(frontUrl, 'GET', '/health', { 'x-request-id': 'from-the-client' });
      assert.equal(kept.headers.get('x-request-id'), 'from-the-client');
      // Both instances took orders.
      for (const port of ports) {
        const samples = await scrape(`http://127.0.0.1:${port + 1}`);
        assert.ok(sampleValue(samples, 'orders_total', { outcome: 'paid' }) > 0, `instance on ${port} took no order`);
      }

      const [first] = children;
      const exited = new Promise<number | null>((resolve) => first!.once('exit', (code) => resolve(code)));
      first!.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(healthcheck(envs[0]!), 1, 'unhealthy once stopped');
    });
  });
}
