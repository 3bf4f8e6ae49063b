/**
 * The remote AdminClient: an HTTP client of a running gateway's /api/v1
 * (undici). The gateway applies its own rules (permissions, scopes, no
 * escalation) to the credential; the CLI only maps answers to exit codes:
 * 401 → 3, 403 → 4, 422 → 2, 404/409 → 1, unreachable → 5. An expired
 * access token from a login file is renewed with its refresh token once.
 * The token is never printed.
 */
import { request, type Dispatcher } from 'undici';
import { CliError, EXIT, exitForStatus } from '../exit.js';
import { type AdminClient } from './admin-client.js';
import { type TokenSource } from './token-file.js';

const TIMEOUT_MS = 120_000;

interface Problem {
  code?: string;
  title?: string;
  detail?: string;
  errors?: { field: string; message: string }[];
}

export class RemoteApi {
  constructor(
    readonly url: string,
    private readonly source: TokenSource | null,
  ) {}

  /** One call; resolves to the JSON answer (undefined for 204). */
  async call<T>(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<T> {
    let r = await this.send(method, path, body, opts.auth !== false);
    if (r.status === 401 && (r.body as Problem | undefined)?.code === 'token_expired' && (await this.renew())) r = await this.send(method, path, body, true);
    if (r.status >= 400) throw this.failure(r.status, r.body as Problem | undefined);
    return r.body as T;
  }

  private async send(method: string, path: string, body: unknown, auth: boolean): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (auth) {
      if (!this.source) throw new CliError(`not signed in to ${this.url}: run portcullis login --url ${this.url}, or give --token-file or PORTCULLIS_TOKEN`, EXIT.unauthenticated, 'unauthenticated');
      headers.authorization = `Bearer ${this.source.token()}`;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await request(this.url + path, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
    } catch (e) {
      const code = (e as { code?: string }).code ?? (e as Error).name;
      throw new CliError(`cannot reach ${this.url} (${code})`, EXIT.unreachable, 'unreachable');
    }
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.statusCode < 400 && text && parsed === undefined)
      throw new CliError(`${this.url} answered ${res.statusCode} with something that is not JSON: is it a Portcullis gateway?`, EXIT.failure, 'bad_answer');
    return { status: res.statusCode, body: parsed };
  }

  /** Renew an expired access token with the file's refresh token (once per call). */
  private async renew(): Promise<boolean> {
    const refresh = this.source?.refreshToken();
    if (!refresh) return false;
    const r = await this.send('POST', '/api/v1/auth/refresh', { refresh_token: refresh }, false);
    if (r.status !== 200) return false;
    this.source!.renewed(r.body as { token: string; refresh_token: string; expires_at: string });
    return true;
  }

  private failure(status: number, p: Problem | undefined): CliError {
    const exit = exitForStatus(status, p?.code);
    let message = p?.detail ?? p?.title ?? `${this.url} answered ${status}`;
    if (status === 401) message = `${message} (at ${this.url}; sign in again with portcullis login --url ${this.url})`;
    if (status >= 500) message = `${this.url} answered ${status}${p?.code ? ` (${p.code})` : ''}`;
    return new CliError(message, exit, p?.code ?? `http_${status}`, (p?.errors ?? []).map((f) => `${f.field}: ${f.message}`));
  }
}

const seg = encodeURIComponent;

export function openRemoteClient(url: string, source: TokenSource | null): AdminClient {
  const api = new RemoteApi(url, source);
  const get = <T>(path: string) => api.call<T>('GET', path);
  return {
    mode: 'remote',
    target: url,
    users: {
      list: async () => (await get<{ users: never[] }>('/api/v1/users?limit=1000')).users,
      get: (ref) => get(`/api/v1/users/${seg(ref)}`),
      create: (body) => api.call('POST', '/api/v1/users', body),
      update: (id, body) => api.call('PUT', `/api/v1/users/${seg(id)}`, body),
      delete: (id) => api.call('DELETE', `/api/v1/users/${seg(id)}`),
    },
    tokens: {
      create: (userId, body) => api.call('POST', '/api/v1/auth/tokens', userId === null ? body : { ...body, user_id: userId }),
      list: async (userId) => {
        if (userId !== undefined) return (await get<{ tokens: never[] }>(`/api/v1/auth/tokens?user_id=${seg(userId)}`)).tokens;
        try {
          return (await get<{ tokens: never[] }>('/api/v1/auth/tokens?all=true')).tokens;
        } catch (e) {
          // Without tokens:manage-all: the caller's own tokens.
          if (e instanceof CliError && e.exit === EXIT.forbidden) return (await get<{ tokens: never[] }>('/api/v1/auth/tokens')).tokens;
          throw e;
        }
      },
      revoke: (id) => api.call('DELETE', `/api/v1/auth/tokens/${seg(id)}`),
    },
    groups: {
      list: async () => (await get<{ groups: never[] }>('/api/v1/groups')).groups,
      import: (doc) => api.call('POST', '/api/v1/groups/import', doc),
    },
    serviceAccounts: {
      list: async () => (await get<{ service_accounts: never[] }>('/api/v1/service-accounts')).service_accounts,
      // By client_id or name, like the local store (the API's path takes client_ids only).
      get: async (ref) => {
        const all = (await get<{ service_accounts: { client_id: string; name: string }[] }>('/api/v1/service-accounts')).service_accounts;
        const a = all.find((x) => x.client_id === ref) ?? all.find((x) => x.name === ref);
        if (!a) throw new CliError('No such service account', EXIT.failure, 'not_found');
        return a as never;
      },
      create: (body) => api.call('POST', '/api/v1/service-accounts', body),
      update: (id, body) => api.call('PUT', `/api/v1/service-accounts/${seg(id)}`, body),
      delete: (id) => api.call('DELETE', `/api/v1/service-accounts/${seg(id)}`),
      rotateSecret: (id) => api.call('POST', `/api/v1/service-accounts/${seg(id)}/rotate-secret`),
    },
    servers: {
      list: async () => (await get<{ servers: never[] }>('/api/v1/servers')).servers,
      get: (name) => get(`/api/v1/servers/${seg(name)}`),
      tools: (name) => get(`/api/v1/servers/${seg(name)}/tools`),
      start: (name) => api.call('POST', `/api/v1/servers/${seg(name)}/start`),
      stop: (name) => api.call('POST', `/api/v1/servers/${seg(name)}/stop`),
    },
    roles: {
      list: async () => (await get<{ roles: never[] }>('/api/v1/roles')).roles,
      get: (name) => get(`/api/v1/roles/${seg(name)}`),
      create: (body) => api.call('POST', '/api/v1/roles', body),
      update: (name, body) => api.call('PUT', `/api/v1/roles/${seg(name)}`, body),
      delete: (name) => api.call('DELETE', `/api/v1/roles/${seg(name)}`),
    },
    oauthClients: {
      list: async () => (await get<{ clients: never[] }>('/api/v1/oauth/clients')).clients,
      delete: (id) => api.call('DELETE', `/api/v1/oauth/clients/${seg(id)}`),
    },
    // The gateway applied the change and announced it to its replicas itself.
    afterChange: async () => null,
    close: async () => undefined,
  };
}
