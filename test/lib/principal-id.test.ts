import { describe, expect, it } from 'vitest';
import { uuid } from '../../src/lib/crypto.js';
import { clientIdOfPrincipalId, externalPrincipalId, RESERVED_PROVIDER_NAMES, serviceAccountPrincipalId } from '../../src/lib/principal-id.js';

describe('principal ids', () => {
  it('service account ids are sa:<client_id>, and give the client_id back', () => {
    expect(serviceAccountPrincipalId('sa_0123456789abcdef01234567')).toBe('sa:sa_0123456789abcdef01234567');
    expect(clientIdOfPrincipalId('sa:sa_0123456789abcdef01234567')).toBe('sa_0123456789abcdef01234567');
    expect(clientIdOfPrincipalId(uuid())).toBeUndefined();
    expect(clientIdOfPrincipalId('corp:sa_0123456789abcdef01234567')).toBeUndefined();
  });

  it('external ids are <provider>:<subject>; a reserved provider name is refused', () => {
    expect(externalPrincipalId('corp', 'alice')).toBe('corp:alice');
    expect(RESERVED_PROVIDER_NAMES).toEqual(['sa', 'unknown']);
    for (const name of RESERVED_PROVIDER_NAMES) expect(() => externalPrincipalId(name, 'x')).toThrow(/reserved/);
  });

  it('no allowed provider name and subject gives the id of a service account or a user', () => {
    const clientId = 'sa_0123456789abcdef01234567';
    const userId = uuid();
    const subjects = [clientId, `sa:${clientId}`, userId, '', ':', 'sa', `unknown:${userId}`];
    for (const provider of ['s', 'sa-', 'ssa', 'sa0', 'a', 'corp', 'unknown-idp', '0']) {
      for (const subject of subjects) {
        const id = externalPrincipalId(provider, subject);
        expect(id).not.toBe(serviceAccountPrincipalId(clientId));
        expect(clientIdOfPrincipalId(id)).toBeUndefined();
        expect(id).not.toBe(userId);
        expect(id.startsWith('unknown:')).toBe(false);
      }
    }
  });
});
