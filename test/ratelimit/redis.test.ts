import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLimiterFactory, redisLimiterFactory, RateLimits, type LimiterFactory } from '../../src/ratelimit/index.js';
import { testConfig } from '../helpers/app.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { REDIS_URL } from '../helpers/db.js';

const prefix = `pcl_test_${randomBytes(5).toString('hex')}:`;

describe('Redis-backed limits are shared by every replica', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    const config = {
      redis: { url: REDIS_URL, key_prefix: prefix },
      rate_limits: { per_ip: { requests: 3, per: '1h' }, global: { requests: 1000, per: '1h' } },
      auth: { login_throttle: { per_account: { requests: 2, per: '15m' }, per_ip: { requests: 100, per: '15m' } } },
    };
    // two replicas of one deployment: one store, one Redis
    a = await startTestApp({ config });
    b = await startTestApp({ config, db: a.db });
    await Promise.all([a.app.services.redis!.ready(), b.app.services.redis!.ready()]);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('a per-IP budget spent across two replicas is refused on both', async () => {
    const me = (t: TestApp) => t.inject({ method: 'GET', url: '/api/v1/auth/me', remoteAddress: '192.0.2.33' });
    expect((await me(a)).statusCode).toBe(401);
    expect((await me(b)).statusCode).toBe(401);
    const third = await me(a);
    expect(third.statusCode).toBe(401);
    expect(third.headers['ratelimit-remaining']).toBe('0');
    const refused = await me(b);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe('rate_limited');
    expect((await me(a)).statusCode).toBe(429);
    // The counters live in Redis under the configured prefix.
    expect(await redis.keys(`${prefix}rl:rl_ip:*`)).toEqual([`${prefix}rl:rl_ip:192.0.2.33`]);
    const global = await redis.get(`${prefix}rl:rl_global:all`);
    expect(Number(global)).toBeGreaterThanOrEqual(5);
  });

  it('login throttling runs on the same store: failures on one replica throttle the account on the other', async () => {
    const login = (t: TestApp) =>
      t.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: '192.0.2.44', payload: { email: 'victim@example.com', password: 'wrong-password' } });
    expect((await login(a)).statusCode).toBe(401);
    expect((await login(b)).statusCode).toBe(401);
    const throttled = await login(a);
    expect(throttled.statusCode).toBe(429);
    expect(throttled.json().code).toBe('login_throttled');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login(b)).statusCode).toBe(429);
    expect(await redis.keys(`${prefix}rl:login_acct:*`)).toHaveLength(1);
    await a.app.services.audit.flush();
    const hits = await a.store.audit.query({ actions: ['rate_limit.hit'], limit: 10 });
    expect(hits.some((h) => h.detail?.dimension === 'login_account' && h.ip === '192.0.2.44')).toBe(true);
    expect((await a.app.services.metrics.render()).body).toMatch(/^portcullis_rate_limited_total\{dimension="login"\} 1$/m);
  });
});

describe('login throttling uses the app limiter factory', () => {
  it('every limiter (request limits and login throttle) comes from the one factory', async () => {
    const made: string[] = [];
    const spy: LimiterFactory = (o) => {
      made.push(o.keyPrefix);
      return memoryLimiterFactory(o);
    };
    const t = await startTestApp({ config: { rate_limits: { per_ip: { requests: 10, per: '1m' }, per_group: { eng: { requests: 5, per: '1m' } } } }, deps: { limiterFactory: spy } });
    try {
      expect(made.sort()).toEqual(['login_acct', 'login_ip', 'oauth_client_acct', 'oauth_client_ip', 'rl_group_eng', 'rl_ip', 'rl_token']);
      expect(t.app.services.limiterFactory).toBe(spy);
    } finally {
      await t.close();
    }
  });
});

describe('Redis outage', () => {
  it('limits keep working per replica (in-memory insurance) and requests are neither blocked nor failed', async () => {
    // Nothing listens on port 1: the client never becomes ready.
    const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      const errors: unknown[] = [];
      const limits = new RateLimits(testConfig({ rate_limits: { per_ip: { requests: 2, per: '1m' } } }).rate_limits, redisLimiterFactory(down, prefix), {
        onError: (e) => errors.push(e),
      });
      const t0 = Date.now();
      expect(await limits.checkAnonymous('192.0.2.9')).toMatchObject({ dimension: 'ip', remaining: 1 });
      expect(await limits.checkAnonymous('192.0.2.9')).toMatchObject({ remaining: 0 });
      await expect(limits.checkAnonymous('192.0.2.9')).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
      expect(Date.now() - t0).toBeLessThan(500);
      expect(errors).toEqual([]);
    } finally {
      down.disconnect();
    }
  });
});
