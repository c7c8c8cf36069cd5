/** What the admin console needs, as a plugin: the built console at /admin, and the admin API under /api. */
import { apiRoutes, type Api } from '../api.js';
import { adminConsole } from './console.js';
import { adminRoutes } from './routes.js';

export async function admin(app: Api): Promise<void> {
  await app.register(adminConsole);
  await apiRoutes(app, adminRoutes);
}
