/** The wallet as a plugin: its routes under /api. It owns nothing long-lived: every charge is one statement. */
import { apiRoutes, type Api } from '../api.js';
import { pointRoutes } from './routes.js';

export async function points(app: Api): Promise<void> {
  await apiRoutes(app, pointRoutes);
}
