/**
 * A backing service that cannot be reached, or that dropped the connection,
 * is a 503 with Retry-After (retry, not a bug); every other unknown error a
 * plain 500. Neither carries the internal message to the client.
 */
import { describe, expect, it } from 'vitest';
import { isBackendUnavailable, toGatewayError, toProblem } from '../src/errors/index.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isBackendUnavailable / toGatewayError', () => {
  const unavailable: [string, Error][] = [
    ['connection refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['connection reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['host not found', withCode('getaddrinfo ENOTFOUND db', 'ENOTFOUND')],
    ['server terminated the backend (57P01)', withCode('terminating connection due to administrator command', '57P01')],
    ['server starting up (57P03)', withCode('the database system is starting up', '57P03')],
    ['connection exception class 08', withCode('connection failure', '08006')],
    ['too many connections', withCode('sorry, too many clients already', '53300')],
    ['database closed to connections', withCode('database "x" is not currently accepting connections', '55000')],
    ['pg: connection ended', new Error('Connection terminated unexpectedly')],
    ['pg: dead client reused', new Error('Client has encountered a connection error and is not queryable')],
    ['pg pool: connect timeout', new Error('timeout exceeded when trying to connect')],
    ['SQLite busy after its timeout', withCode('database is locked', 'SQLITE_BUSY')],
    ['wrapped in a cause', new Error('query failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') })],
  ];
  it.each(unavailable)('%s → 503 service_unavailable with Retry-After', (_, e) => {
    expect(isBackendUnavailable(e)).toBe(true);
    const g = toGatewayError(e);
    expect(g.status).toBe(503);
    expect(g.code).toBe('service_unavailable');
    expect(g.headers['Retry-After']).toBe('1');
    expect(g.internal).toBe(e);
    expect(JSON.stringify(toProblem(g))).not.toContain(e.message);
  });

  const bugs: [string, unknown][] = [
    ['syntax error (42601)', withCode('syntax error at or near "selct"', '42601')],
    ['unique violation (23505)', withCode('duplicate key value violates unique constraint', '23505')],
    ['55000 for another reason', withCode('cannot execute in a read-only transaction state', '55000')],
    ['SQLite constraint', withCode('UNIQUE constraint failed: users.email', 'SQLITE_CONSTRAINT_UNIQUE')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['not an Error', 'boom'],
  ];
  it.each(bugs)('%s → 500 internal_error', (_, e) => {
    expect(isBackendUnavailable(e)).toBe(false);
    const g = toGatewayError(e);
    expect(g.status).toBe(500);
    expect(g.code).toBe('internal_error');
    expect(g.headers['Retry-After']).toBeUndefined();
  });
});
