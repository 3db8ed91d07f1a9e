// Which admin API a client command talks to: --admin, else SWITCHYARD_ADMIN_URL, else the
// default. A value that is not an http(s) URL is bad usage (exit 2), caught before any call.
import { UsageError } from './result.js';

export const DEFAULT_ADMIN = 'http://127.0.0.1:9901';

/** The admin URL to use; throws UsageError naming where a malformed one came from. */
export function adminUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const [value, from] = flag !== undefined ? [flag, '--admin'] : env.SWITCHYARD_ADMIN_URL ? [env.SWITCHYARD_ADMIN_URL, 'SWITCHYARD_ADMIN_URL'] : [DEFAULT_ADMIN, ''];
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new UsageError(`${from} takes the admin API's http(s) URL, like ${DEFAULT_ADMIN}; got "${value}"`);
  }
  return value;
}
