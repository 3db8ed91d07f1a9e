import t from 'tap';
import { Router } from '../../src/routing/router.js';

const blue = { name: 'blue' };
const green = { name: 'green' };

t.test('empty router picks nothing', async (t) => {
  const router = new Router<{ name: string }>();
  t.equal(router.next(), undefined);
  t.equal(router.pool('blue'), undefined);
});

t.test('routes by weight and rebuilds on apply', async (t) => {
  const router = new Router<{ name: string }>();
  router.apply({ blue: 100, green: 0 }, [blue, green]);
  for (let i = 0; i < 10; i++) t.equal(router.next(), blue);
  t.equal(router.pool('green'), green);
  t.equal(router.pool('purple'), undefined);

  router.apply({ blue: 0, green: 100 }, [blue, green]);
  t.equal(router.next(), green, 'the very next pick after apply follows the new weights');

  router.apply({ blue: 90, green: 10 }, [blue, green]);
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const name = router.next()!.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  t.same(Object.fromEntries(counts), { blue: 900, green: 100 });
});

t.test('pools missing from weights get 0; weights for unknown pools are ignored', async (t) => {
  const router = new Router<{ name: string }>();
  router.apply({ green: 100, ghost: 100 }, [blue, green]);
  for (let i = 0; i < 10; i++) t.equal(router.next(), green);
  router.apply({ blue: 0, green: 0 }, [blue, green]);
  t.equal(router.next(), undefined);
  router.apply({ blue: 100 }, [green]);
  t.equal(router.next(), undefined, 'only pools passed to apply are routable');
  t.equal(router.pool('blue'), undefined);
});
