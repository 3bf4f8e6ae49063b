import { describe, expect, it } from 'vitest';
import { mapGroups, mapRole, mapScopes, readClaim } from '../../src/auth/providers/claims.js';

describe('claim mapping', () => {
  it('reads dotted paths into nested objects (Keycloak realm_access.roles)', () => {
    expect(readClaim({ realm_access: { roles: ['a', 'b'] } }, 'realm_access.roles')).toEqual(['a', 'b']);
  });

  it('finds a client id containing dots (resource_access.<client>.roles)', () => {
    const claims = { resource_access: { 'my.app': { roles: ['operator'] }, account: { roles: ['x'] } } };
    expect(readClaim(claims, 'resource_access.my.app.roles')).toEqual(['operator']);
  });

  it('tries the whole key first (Auth0 namespaced claims)', () => {
    const claims = { 'https://example.com/roles': ['admin'], https: { '//example': { 'com/roles': ['nope'] } } };
    expect(readClaim(claims, 'https://example.com/roles')).toEqual(['admin']);
  });

  it('never follows inherited properties', () => {
    expect(readClaim({}, '__proto__')).toBeUndefined();
    expect(readClaim({}, 'constructor.name')).toBeUndefined();
    expect(readClaim({ a: 'x' }, 'a.length')).toBeUndefined();
  });

  it('maps roles: role_map first, built-in names, highest wins, else default', () => {
    expect(mapRole(['offline_access', 'viewer', 'operator'], {}, 'user')).toBe('operator');
    expect(mapRole(['idp-admins'], { 'idp-admins': 'admin' }, 'user')).toBe('admin');
    expect(mapRole(['admin'], { admin: 'viewer' }, 'user')).toBe('viewer');
    expect(mapRole(['something-else'], {}, 'viewer')).toBe('viewer');
    expect(mapRole([], {}, 'user')).toBe('user');
  });

  it('groups claim may be a string or an array; non-strings are dropped', () => {
    expect(mapGroups('eng')).toEqual(['eng']);
    expect(mapGroups(['a', 1, 'b', 'a', null])).toEqual(['a', 'b']);
    expect(mapGroups({ nope: true })).toEqual([]);
  });

  it('maps scope/scp onto Portcullis scopes; no Portcullis scope means unrestricted', () => {
    expect(mapScopes({ scope: 'openid mcp:read' })).toEqual(['mcp:read']);
    expect(mapScopes({ scp: ['api:write'] })?.sort()).toEqual(['api:read', 'api:write']);
    expect(mapScopes({ scp: 'mcp:execute' })?.sort()).toEqual(['mcp:execute', 'mcp:read']);
    expect(mapScopes({ scope: 'openid profile' })).toBeNull();
    expect(mapScopes({})).toBeNull();
  });
});
