import type { Api } from '../api.js';
import { productNotFound } from '../errors.js';
import { PageQuery, pageRequest } from '../pagination.js';
import { IdParams, bearerSecurity, errorResponses } from '../schemas.js';
import { insertProduct, listProducts, updateProduct } from './queries.js';
import { CreateProduct, PatchProduct, PopularList, ProductBody, ProductList } from './schemas.js';

const tags = ['products'];

export async function productRoutes(api: Api): Promise<void> {
  const { db, reads, cursors, requireAdmin, productCache, popular } = api;

  api.get(
    '/products',
    { schema: { tags, security: bearerSecurity, querystring: PageQuery, response: { 200: ProductList, ...errorResponses() } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const afterId = cursors.idOf('products', cursor, 0);
      const { value: rows } = await reads.read((source) => listProducts(source, afterId, limit + 1));
      const page = cursors.page('products', rows, limit, (product) => [product.id]);
      return { products: page.items, nextCursor: page.nextCursor };
    },
  );

  // A static segment: the router tries it before '/products/:id'.
  api.get(
    '/products/popular',
    { schema: { tags, security: bearerSecurity, response: { 200: PopularList, ...errorResponses() } } },
    // The body is serialized once per refresh; a string is sent as it is (the schema still documents it).
    // Usually it is at hand, and the answer needs no promise at all.
    (_request, reply) => {
      const send = (body: string) => {
        reply.type('application/json; charset=utf-8').send(body as never);
      };
      const body = popular.bodyNow();
      if (body === undefined) return popular.body().then(send);
      send(body);
    },
  );

  api.get(
    '/products/:id',
    { schema: { tags, security: bearerSecurity, params: IdParams, response: { 200: ProductBody, ...errorResponses(404) } } },
    async (request) => {
      const product = await productCache.fresh(reads, Number(request.params.id));
      if (product === undefined) throw productNotFound();
      return { product };
    },
  );

  api.post(
    '/admin/products',
    {
      onRequest: requireAdmin,
      schema: { tags, security: bearerSecurity, body: CreateProduct, response: { 201: ProductBody, ...errorResponses(403) } },
    },
    async (request, reply) => {
      const product = await insertProduct(db, request.body);
      productCache.remember(product);
      return reply.code(201).send({ product });
    },
  );

  api.patch(
    '/admin/products/:id',
    {
      onRequest: requireAdmin,
      schema: {
        tags,
        security: bearerSecurity,
        params: IdParams,
        body: PatchProduct,
        response: { 200: ProductBody, ...errorResponses(403, 404) },
      },
    },
    async (request) => {
      const product = await updateProduct(db, Number(request.params.id), request.body);
      if (product === undefined) throw productNotFound();
      productCache.remember(product);
      return { product };
    },
  );
}
