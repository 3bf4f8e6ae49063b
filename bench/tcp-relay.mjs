// The "byte relay": a raw TCP pass-through (net.Socket pipe, one upstream
// connection per client connection) that never parses HTTP. It measures what
// one more Node process in the path costs on this machine before any HTTP is
// spoken: socket reads and writes and their wake-ups. A gateway cannot be
// cheaper than this, and must also parse HTTP on both sides (the null proxy).
// Usage: node bench/tcp-relay.mjs <targetOrigin> [port] → prints "READY <port>".
import { connect, createServer } from 'node:net';

const target = new URL(process.argv[2]);
const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
