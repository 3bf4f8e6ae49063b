/**
 * Secrets of the authorization server, generated on first start and kept in
 * the store so every replica uses the same ones (never a default secret):
 *
 * - the HS256 key of the access tokens it issues (verified by the gateway only);
 * - the keys that sign its cookies (interaction and its own session);
 * - an ES256 key for its keystore (the engine needs one; nothing the gateway
 *   issues is signed with it unless a client asks for an ID token);
 * - the key CSRF tokens of browser sessions are derived with.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { randomToken } from '../lib/crypto.js';
import { type Store } from '../store/index.js';

export interface AuthorizationServerKeys {
  /** base64url, 32 bytes. */
  accessTokenSecret: string;
  cookieKeys: string[];
  /** Private JWK (ES256). */
  providerJwk: JWK;
  /** 32 bytes. */
  csrfKey: Buffer;
}

async function makeEs256Jwk(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return JSON.stringify({ ...jwk, alg: 'ES256', use: 'sig', kid: `es-${randomToken(8)}` });
}

export async function loadKeys(store: Store): Promise<AuthorizationServerKeys> {
  const accessTokenSecret = await store.settings.getOrInit('oauth_access_token_secret', () => randomToken(32));
  const cookieKey = await store.settings.getOrInit('oauth_cookie_key', () => randomToken(32));
  // generateKeyPair is async, getOrInit takes a value: make one, keep whichever is stored first.
  const candidate = (await store.settings.get('oauth_provider_jwk')) ?? (await makeEs256Jwk());
  const providerJwk = JSON.parse(await store.settings.getOrInit('oauth_provider_jwk', () => candidate)) as JWK;
  const csrfKey = Buffer.from(await store.settings.getOrInit('browser_csrf_key', () => randomToken(32)), 'base64url');
  return { accessTokenSecret, cookieKeys: [cookieKey], providerJwk, csrfKey };
}
