/**
 * The console's views, in navigation order. This list is the one place a view
 * is added: the navigation, the routes (`#/<path>`) and the page title all
 * come from it. `name` is the accessible name of the navigation link.
 */
import type { FunctionComponent } from 'preact';
import { CouponsView } from './views/Coupons.js';
import { OrdersView } from './views/Orders.js';
import { ProductsView } from './views/Products.js';
import { RecoveryView } from './views/Recovery.js';
import { WalletsView } from './views/Wallets.js';
import { WebhooksView } from './views/Webhooks.js';

export type View = {
  path: string;
  name: string;
  /** Korean, shown beside the name and as the view's heading. */
  title: string;
  /** Gets what follows the path in the address (`#/orders/<orderId>`), if anything. */
  component: FunctionComponent<{ param: string | undefined }>;
};

export const views: readonly View[] = [
  { path: 'products', name: 'Products', title: '상품', component: ProductsView },
  { path: 'coupons', name: 'Coupons', title: '쿠폰', component: CouponsView },
  { path: 'orders', name: 'Orders', title: '주문', component: OrdersView },
  { path: 'wallets', name: 'Wallets', title: '지갑', component: WalletsView },
  { path: 'recovery', name: 'Recovery', title: '복구', component: RecoveryView },
  { path: 'webhooks', name: 'Webhooks', title: '웹훅', component: WebhooksView },
];
