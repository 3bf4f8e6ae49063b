import { describe, expect, it } from 'vitest';
import { bearerToken } from '../src/auth/authenticate.js';

describe('bearerToken', () => {
  it('takes the token after a case-insensitive Bearer scheme, trimming surrounding spaces', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('BEARER   abc  ')).toBe('abc');
  });
  it('refuses other schemes, a missing token and whitespace inside the token', () => {
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer ')).toBeUndefined();
    expect(bearerToken('Bearerabc')).toBeUndefined();
    expect(bearerToken('Bearer abc def')).toBeUndefined();
    expect(bearerToken('Token abc')).toBeUndefined();
  });
});
