/**
 * A real RFC 7662 introspection endpoint for tests, on 127.0.0.1:0. The test
 * decides the answer per token; the server records every request (its Basic
 * credentials and form body) so tests can assert what was sent and how often.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';

export interface IntrospectionAnswer {
  status?: number;
  body?: unknown;
  /** Never answer (timeout tests). */
  hang?: boolean;
}

export interface IntrospectionRequest {
  authorization: string | undefined;
  contentType: string | undefined;
  form: Record<string, string>;
}

export interface IntrospectionServer {
  url: string;
  requests: IntrospectionRequest[];
  /** Answer for a token; default `{active: false}`. */
  answer: (token: string) => IntrospectionAnswer;
  close(): Promise<void>;
}

export async function startIntrospectionServer(path = '/oauth2/introspect'): Promise<IntrospectionServer> {
  const hanging = new Set<() => void>();
  const state: IntrospectionServer = {
    url: '',
    requests: [],
    answer: () => ({ body: { active: false } }),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(raw));
      state.requests.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], form });
      if (req.method !== 'POST' || req.url !== path) {
        res.writeHead(404).end();
        return;
      }
      const a = state.answer(form.token ?? '');
      if (a.hang) {
        hanging.add(() => res.destroy());
        return;
      }
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(a.body ?? { active: false }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}${path}`;
  state.close = async () => {
    for (const h of hanging) h();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}
