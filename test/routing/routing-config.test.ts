// The config keys of per-request routing: routing.stickyCookie, routing.overrideHeader,
// routing.overrideAllow (and routing.poolHeader's name check), as the loader reports them.
import t from 'tap';
import { parseConfigText } from '../../src/config/load.js';
import { planReload } from '../../src/config/reload-plan.js';
import { ConfigError } from '../../src/errors.js';

const BLUE = 'pools:\n  blue:\n    targets: ["http://127.0.0.1:3001"]\n';

function refuse(text: string): string[] {
  try {
    parseConfigText(text, {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

t.test('overrideAllow: CIDRs and bare addresses load as written; absent stays absent', async (t) => {
  const allow = ['10.0.0.0/8', '127.0.0.1/32', '::1/128', 'fd00::/8', '192.168.1.7'];
  const config = parseConfigText(`routing: { overrideHeader: x-pool, overrideAllow: ${JSON.stringify(allow)} }\n${BLUE}`, {});
  t.strictSame(config.routing.overrideAllow, allow);
  t.equal(config.routing.overrideHeader, 'x-pool');
  t.notOk('overrideAllow' in parseConfigText(BLUE, {}).routing);
  t.strictSame(parseConfigText(`routing: { overrideAllow: [] }\n${BLUE}`, {}).routing.overrideAllow, [], 'an empty list (nobody) is allowed');
});

t.test('overrideAllow: one problem line per bad entry', async (t) => {
  t.strictSame(refuse(`routing: { overrideAllow: ["10.0.0.0/8", "x", "::1/129", "127.0.0.1/33", "10.0.0.0/"] }\n${BLUE}`), [
    'routing.overrideAllow[1]: not a CIDR ("x")',
    'routing.overrideAllow[2]: not a CIDR ("::1/129")',
    'routing.overrideAllow[3]: not a CIDR ("127.0.0.1/33")',
    'routing.overrideAllow[4]: not a CIDR ("10.0.0.0/")',
  ]);
  t.strictSame(refuse(`routing: { overrideAllow: "10.0.0.0/8" }\n${BLUE}`), ['routing.overrideAllow: expected array']);
  // Scalars become strings (as `version: 1.5` does), so a number is reported as what it is not.
  t.strictSame(refuse(`routing: { overrideAllow: ["10.0.0.0/8", 7] }\n${BLUE}`), ['routing.overrideAllow[1]: not a CIDR ("7")']);
  t.strictSame(refuse(`routing: { overrideAllow: ["10.0.0.0/8", [1]] }\n${BLUE}`), ['routing.overrideAllow[1]: expected string']);
});

t.test('names: a cookie name and header names must be tokens', async (t) => {
  t.equal(parseConfigText(`routing: { stickyCookie: switchyard-pool, overrideHeader: X-Pool }\n${BLUE}`, {}).routing.stickyCookie, 'switchyard-pool');
  t.strictSame(refuse(`routing: { stickyCookie: "a b", overrideHeader: "x:pool", poolHeader: "x pool" }\n${BLUE}`), [
    'routing.stickyCookie: not a valid cookie name ("a b")',
    'routing.overrideHeader: not a valid header name ("x:pool")',
    'routing.poolHeader: not a valid header name ("x pool")',
  ]);
  t.strictSame(refuse(`routing: { stickyCookie: "a;b" }\n${BLUE}`), ['routing.stickyCookie: not a valid cookie name ("a;b")']);
  t.strictSame(refuse(`routing: { stickyCookie: "a=b" }\n${BLUE}`), ['routing.stickyCookie: not a valid cookie name ("a=b")']);
});

t.test('a reload keeps the routing keys until a restart, compared by value', async (t) => {
  const text = (allow: string) => `routing: { overrideHeader: x-pool, overrideAllow: ${allow} }\n${BLUE}`;
  const running = parseConfigText(text('["10.0.0.0/8"]'), {});
  t.strictSame(planReload(running, parseConfigText(text('["10.0.0.0/8"]'), {}), { blue: 100 }).ignored, [], 'same list: nothing to report');
  t.strictSame(planReload(running, parseConfigText(text('["127.0.0.0/8"]'), {}), { blue: 100 }).ignored, ['routing.overrideAllow']);
});
