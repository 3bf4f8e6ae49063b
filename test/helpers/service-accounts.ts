import { bearer, type TestApp } from './app.js';

export interface CreatedServiceAccount {
  client_id: string;
  client_secret: string;
  name: string;
  groups: string[];
  description: string;
}

/** Create a service account through the API as `adminToken`. */
export async function createServiceAccount(t: TestApp, adminToken: string, body: { name: string; groups?: string[]; description?: string }): Promise<CreatedServiceAccount> {
  const r = await t.inject({ method: 'POST', url: '/api/v1/service-accounts', headers: bearer(adminToken), payload: body });
  if (r.statusCode !== 201) throw new Error(`create service account failed: ${r.statusCode} ${r.body}`);
  return r.json();
}

export const basicAuth = (id: string, secret: string) => ({
  authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64'),
});

/** POST /oauth/token with a form body. */
export function tokenRequest(t: Pick<TestApp, 'inject'>, form: Record<string, string>, headers: Record<string, string> = {}) {
  return t.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(form).toString(),
  });
}

/** A client_credentials access token for the account (client_secret_basic). */
export async function clientCredentialsToken(t: Pick<TestApp, 'inject'>, id: string, secret: string, scope?: string): Promise<string> {
  const r = await tokenRequest(t, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, basicAuth(id, secret));
  if (r.statusCode !== 200) throw new Error(`token request failed: ${r.statusCode} ${r.body}`);
  return r.json().access_token;
}
