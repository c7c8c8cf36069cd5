/** Prints a bearer token for development: `npm run token -- <userId> [--admin] [--expires 24h]`. */
import { Authenticator } from '../src/auth.js';
import { loadConfig } from '../src/config.js';

const args = process.argv.slice(2);
const userId = args.find((arg, i) => !arg.startsWith('--') && args[i - 1] !== '--expires');
if (userId === undefined || userId.length > 64) {
  console.error('usage: npm run token -- <userId> [--admin] [--expires 24h]');
  process.exit(2);
}
const expiresIndex = args.indexOf('--expires');
const expiresIn = expiresIndex >= 0 ? args[expiresIndex + 1] : '24h';
const auth = new Authenticator(loadConfig().jwtSecret);
console.log(auth.sign(userId, { admin: args.includes('--admin'), expiresIn }));
