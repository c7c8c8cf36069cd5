/**
 * Coupons as a plugin: this instance's `CouponIssuer` (its caches and its
 * claim batcher live as long as the app) and the coupon routes under /api.
 */
import { apiRoutes, type Api } from '../api.js';
import { couponRoutes } from './routes.js';
import { CouponIssuer } from './service.js';

export async function coupons(app: Api): Promise<void> {
  const issuer = new CouponIssuer(app.db, app.now);
  await apiRoutes(app, (api) => couponRoutes(api, issuer));
}
