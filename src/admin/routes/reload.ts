// POST /reload: re-read the config file, the same as SIGHUP. Refusals answer 400
// INVALID_CONFIG with every problem; the running config stays.
import type { FastifyInstance } from 'fastify';
import { ConfigError, SwitchyardError } from '../../errors.js';
import type { AdminContext } from '../context.js';

export function reloadRoutes(app: FastifyInstance, context: AdminContext): void {
  app.post('/reload', async () => {
    try {
      return { reloaded: true, ...(await context.reload() as object) };
    } catch (err) {
      if (err instanceof ConfigError) throw new SwitchyardError('INVALID_CONFIG', err.message, { problems: err.problems });
      throw err;
    }
  });
}
