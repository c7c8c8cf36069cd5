/** The typed client's generated file must match what the service documents today. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { renderClientTypes, schemaFile } from '../scripts/generate-client.js';
import { call, setupApp } from './helper.js';

const { app } = await setupApp();

it('client/src/schema.ts is generated from the current /openapi.json (npm run generate:client)', async () => {
  const { status, body } = await call(app, { method: 'GET', url: '/openapi.json' });
  assert.equal(status, 200);
  const expected = await renderClientTypes(body);
  const committed = await readFile(schemaFile, 'utf8');
  // A plain equality keeps the failure short; the fix is always the same command.
  assert.ok(committed === expected, 'client/src/schema.ts is stale: run `npm run generate:client` and commit the result');
});

it('the generated types name every documented route', async () => {
  const { body } = await call(app, { method: 'GET', url: '/openapi.json' });
  const committed = await readFile(schemaFile, 'utf8');
  for (const path of Object.keys(body.paths)) assert.ok(committed.includes(`"${path}": {`), `${path} is in the client`);
  assert.ok(Object.keys(body.paths).includes('/api/admin/orders/{id}/cancel'));
});
