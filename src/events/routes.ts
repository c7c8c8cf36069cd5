import type { Api } from '../api.js';
import { AppError } from '../errors.js';
import { beforeAllIds, PageQuery, pageRequest } from '../pagination.js';
import { IdParams, bearerSecurity, errorResponses } from '../schemas.js';
import { CreatedWebhook, CreateWebhook, DeliveryBody, DeliveryList, DeliveryParams, PatchWebhook, WebhookBody, WebhookList } from './schemas.js';
import { checkEventTypes, registerWebhook, webhookMessages } from './service.js';
import { deleteWebhook, findWebhook, listDeliveries, listWebhooks, requeueDelivery, updateWebhook } from './webhook-queries.js';

const tags = ['webhooks'];

function webhookNotFound(): AppError {
  return new AppError('WEBHOOK_NOT_FOUND', webhookMessages.notFound);
}

export async function webhookRoutes(api: Api): Promise<void> {
  const { db, cursors, requireAdmin, config } = api;
  const admin = { onRequest: requireAdmin };

  api.post(
    '/admin/webhooks',
    { ...admin, schema: { tags, security: bearerSecurity, body: CreateWebhook, response: { 201: CreatedWebhook, ...errorResponses(403, 409) } } },
    async (request, reply) => {
      const webhook = await registerWebhook(db, request.body, config.events.webhookAllowPrivate);
      return reply.code(201).send({ webhook });
    },
  );

  api.get(
    '/admin/webhooks',
    { ...admin, schema: { tags, security: bearerSecurity, querystring: PageQuery, response: { 200: WebhookList, ...errorResponses(403) } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const afterId = cursors.idOf('webhooks', cursor, 0);
      const page = cursors.page('webhooks', await listWebhooks(db, afterId, limit + 1), limit, (webhook) => [webhook.id]);
      return { webhooks: page.items, nextCursor: page.nextCursor };
    },
  );

  api.patch(
    '/admin/webhooks/:id',
    {
      ...admin,
      schema: { tags, security: bearerSecurity, params: IdParams, body: PatchWebhook, response: { 200: WebhookBody, ...errorResponses(403, 404) } },
    },
    async (request) => {
      if (request.body.eventTypes !== undefined) checkEventTypes(request.body.eventTypes);
      const webhook = await updateWebhook(db, Number(request.params.id), request.body);
      if (webhook === undefined) throw webhookNotFound();
      return { webhook };
    },
  );

  api.delete(
    '/admin/webhooks/:id',
    { ...admin, schema: { tags, security: bearerSecurity, params: IdParams, response: { ...errorResponses(403, 404) } } },
    async (request, reply) => {
      if (!(await deleteWebhook(db, Number(request.params.id)))) throw webhookNotFound();
      return reply.code(204).send(undefined as never);
    },
  );

  api.get(
    '/admin/webhooks/:id/deliveries',
    {
      ...admin,
      schema: { tags, security: bearerSecurity, params: IdParams, querystring: PageQuery, response: { 200: DeliveryList, ...errorResponses(403, 404) } },
    },
    async (request) => {
      const webhookId = Number(request.params.id);
      if ((await findWebhook(db, webhookId)) === undefined) throw webhookNotFound();
      const { limit, cursor } = pageRequest(request.query);
      const beforeId = cursors.idOf(`deliveries:${webhookId}`, cursor, beforeAllIds);
      const rows = await listDeliveries(db, webhookId, beforeId, limit + 1);
      const page = cursors.page(`deliveries:${webhookId}`, rows, limit, (delivery) => [delivery.id]);
      return { deliveries: page.items, nextCursor: page.nextCursor };
    },
  );

  api.post(
    '/admin/webhooks/:id/deliveries/:deliveryId/retry',
    { ...admin, schema: { tags, security: bearerSecurity, params: DeliveryParams, response: { 202: DeliveryBody, ...errorResponses(403, 404) } } },
    async (request, reply) => {
      const webhookId = Number(request.params.id);
      if ((await findWebhook(db, webhookId)) === undefined) throw webhookNotFound();
      const delivery = await requeueDelivery(db, webhookId, Number(request.params.deliveryId));
      if (delivery === undefined) throw new AppError('DELIVERY_NOT_FOUND', webhookMessages.deliveryNotFound);
      return reply.code(202).send({ delivery });
    },
  );
}
