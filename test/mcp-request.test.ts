/**
 * HttpProxyRequest: the proxy's view of one /mcp request. Its "client gone"
 * signal is made on first use only, aborts when the client goes away before
 * the response is finished, and never after a normal completion. It must stay
 * a class with the getter on its prototype: a per-request accessor (an object
 * literal with `get signal()`) gives every request its own hidden class and
 * keeps whole requests alive into V8's old generation.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpProxyRequest } from '../src/http/mcp-handler.js';
import { type Principal } from '../src/auth/principal.js';

const caller = { id: 'user:1', type: 'user' } as unknown as Principal;

/** One real request; `onRequest` gets the server side, the client side is handed back. */
async function exchange(onRequest: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(onRequest);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const client = request({ host: '127.0.0.1', port, method: 'POST', path: '/mcp/x' });
  client.on('error', () => {});
  client.end('{}');
  return { server, client };
}

describe('HttpProxyRequest', () => {
  const servers: import('node:http').Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('carries the request fields and keeps `signal` on the prototype (no per-request accessor)', () => {
    const res = { closed: false, once() {} } as unknown as ServerResponse;
    const body = Buffer.from('{}');
    const p = new HttpProxyRequest('demo', caller, { accept: 'application/json' }, body, '127.0.0.1', res);
    expect([p.server, p.caller, p.headers, p.body, p.ip]).toEqual(['demo', caller, { accept: 'application/json' }, body, '127.0.0.1']);
    expect(Object.getOwnPropertyDescriptor(p, 'signal')).toBeUndefined();
    expect(typeof Object.getOwnPropertyDescriptor(HttpProxyRequest.prototype, 'signal')?.get).toBe('function');
    // two requests share one hidden-class shape: same own keys, in the same order
    const q = new HttpProxyRequest('other', caller, {}, null, null, res);
    expect(Object.keys(q)).toEqual(Object.keys(p));
  });

  it('aborts its signal when the client goes away before the response is finished', async () => {
    let preq: HttpProxyRequest | undefined;
    const aborted = new Promise<boolean>((resolve) => {
      void exchange((req, res) => {
        preq = new HttpProxyRequest('demo', caller, req.headers, null, null, res);
        const s = preq.signal;
        expect(s.aborted).toBe(false);
        s.addEventListener('abort', () => resolve(true));
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': open\n\n');
      }).then(({ server, client }) => {
        servers.push(server);
        client.on('response', (r) => r.once('data', () => client.destroy()));
      });
    });
    expect(await aborted).toBe(true);
    expect(preq!.signal).toBe(preq!.signal); // made once
  });

  it('does not abort after a normal completion; a signal first asked for once the response has closed is aborted at once', async () => {
    const done = new Promise<{ afterFinish: boolean; late: boolean }>((resolve) => {
      void exchange((req, res) => {
        const p = new HttpProxyRequest('demo', caller, req.headers, null, null, res);
        const s = p.signal;
        res.on('close', () => {
          setImmediate(() => {
            const late = new HttpProxyRequest('demo', caller, req.headers, null, null, res);
            resolve({ afterFinish: s.aborted, late: late.signal.aborted });
          });
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
      }).then(({ server, client }) => {
        servers.push(server);
        client.on('response', (r) => r.resume());
      });
    });
    const r = await done;
    expect(r.afterFinish).toBe(false);
    expect(r.late).toBe(true);
  });
});
