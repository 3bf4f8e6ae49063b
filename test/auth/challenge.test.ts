/**
 * The WWW-Authenticate challenges (RFC 6750 §3, RFC 9728 §5.1), built in one
 * module: a request that presented nothing gets the bare challenge, a
 * refused credential adds error="invalid_token".
 */
import { describe, expect, it } from 'vitest';
import { apiChallenge, clientBasicChallenge, insufficientScopeChallenge, mcpChallenge } from '../../src/auth/challenge.js';

const RM = 'https://gw.example/.well-known/oauth-protected-resource/mcp/demo';

describe('WWW-Authenticate challenges', () => {
  it('the management API', () => {
    expect(apiChallenge('unauthenticated')).toBe('Bearer realm="portcullis"');
    for (const code of ['invalid_token', 'token_expired', 'user_disabled', 'credentials_in_query']) expect(apiChallenge(code)).toBe('Bearer realm="portcullis", error="invalid_token"');
  });

  it('an MCP endpoint names its resource metadata', () => {
    expect(mcpChallenge(RM, 'unauthenticated')).toBe(`Bearer resource_metadata="${RM}"`);
    expect(mcpChallenge(RM, 'token_expired')).toBe(`Bearer resource_metadata="${RM}", error="invalid_token"`);
  });

  it('insufficient scope, with the MCP resource metadata when given', () => {
    expect(insufficientScopeChallenge('api:write')).toBe('Bearer error="insufficient_scope", scope="api:write"');
    expect(insufficientScopeChallenge('mcp:execute', RM)).toBe(`Bearer error="insufficient_scope", scope="mcp:execute", resource_metadata="${RM}"`);
  });

  it('the OAuth token endpoint asks a client for HTTP Basic', () => {
    expect(clientBasicChallenge()).toBe('Basic realm="portcullis", charset="UTF-8"');
  });

  it('quotes what it interpolates', () => {
    expect(mcpChallenge('https://gw.example/x"y\\z', 'unauthenticated')).toBe('Bearer resource_metadata="https://gw.example/x\\"y\\\\z"');
  });
});
