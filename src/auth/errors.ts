import { GatewayError } from '../errors/index.js';

/** 401 for a credential that was presented but is not acceptable. */
export const invalidToken = (detail = 'The access token is invalid', internal?: unknown) =>
  new GatewayError('invalid_token', { detail, internal });
export const tokenExpired = () => new GatewayError('token_expired', { detail: 'The access token has expired' });
export const principalDisabled = () => new GatewayError('user_disabled', { detail: 'The account is disabled or no longer exists' });
export const unauthenticated = () => new GatewayError('unauthenticated', { detail: 'Authentication required' });
