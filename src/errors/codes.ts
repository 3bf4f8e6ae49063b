/**
 * The registry of every error code the gateway returns. `docs/errors.md` lists
 * the same codes; a test keeps the two in sync. Codes are stable API: never
 * rename one, add a new one instead.
 */
export const ERROR_CODES = {
  // 400
  bad_request: { status: 400, title: 'Bad Request', doc: 'The request is malformed (e.g. not JSON where JSON is required).' },
  duplicate_authorization: { status: 400, title: 'Bad Request', doc: 'More than one `Authorization` header was sent.' },
  parse_error: { status: 400, title: 'Bad Request', doc: 'The MCP request body is not valid JSON (JSON-RPC -32700).' },
  invalid_jsonrpc: { status: 400, title: 'Bad Request', doc: 'The MCP request body is JSON but not a valid JSON-RPC message (JSON-RPC -32600).' },
  // 401
  unauthenticated: { status: 401, title: 'Unauthorized', doc: 'No credentials were presented.' },
  invalid_token: { status: 401, title: 'Unauthorized', doc: 'The presented token is malformed, has a bad signature, is unknown, revoked or rotated out.' },
  token_expired: { status: 401, title: 'Unauthorized', doc: 'The presented token has expired.' },
  invalid_credentials: { status: 401, title: 'Unauthorized', doc: 'Login failed: unknown user or wrong password (deliberately indistinguishable).' },
  credentials_in_query: { status: 401, title: 'Unauthorized', doc: 'A credential was sent in the query string; send it in a header instead.' },
  user_disabled: { status: 401, title: 'Unauthorized', doc: 'The principal behind the credential is disabled or no longer exists.' },
  refresh_token_reused: { status: 401, title: 'Unauthorized', doc: 'An already-used refresh token was presented; its whole family has been revoked.' },
  invalid_client: { status: 401, title: 'Unauthorized', doc: 'OAuth client authentication failed (RFC 6749).' },
  // 403
  forbidden: { status: 403, title: 'Forbidden', doc: "The caller's role does not allow this operation." },
  insufficient_scope: { status: 403, title: 'Forbidden', doc: "The token's scopes do not allow this operation." },
  origin_not_allowed: { status: 403, title: 'Forbidden', doc: 'The `Origin` header is present and not in `server.allowed_origins`.' },
  csrf_failed: { status: 403, title: 'Forbidden', doc: 'A state-changing request authenticated by a browser session lacks a valid CSRF token (`X-CSRF-Token` header, or the form field on the sign-in pages).' },
  password_login_disabled: { status: 403, title: 'Forbidden', doc: 'Sign-in with email and password is turned off (`auth.password_login: false`); sign in through a login provider.' },
  registration_closed: { status: 403, title: 'Forbidden', doc: 'Self-registration is disabled by `auth.registration`.' },
  scope_not_grantable: { status: 403, title: 'Forbidden', doc: "The requested token scopes, servers, rate limit or expiry exceed what the caller may grant (the `admin` scope needs an admin; a scoped credential grants at most its own rights)." },
  token_widening: { status: 403, title: 'Forbidden', doc: "A PATCH tried to widen an API token (add scopes or servers, raise or remove its rate limit as a non-admin); tokens can only be narrowed." },
  last_admin: { status: 409, title: 'Conflict', doc: 'The change would leave the gateway without an enabled admin.' },
  // 404
  not_found: { status: 404, title: 'Not Found', doc: 'The resource does not exist or the caller may not see it.' },
  unknown_server: { status: 404, title: 'Not Found', doc: 'No MCP server of that name is configured (or visible to the caller).' },
  session_not_found: { status: 404, title: 'Not Found', doc: 'The `Mcp-Session-Id` is unknown, expired, or belongs to another principal.' },
  // 405
  method_not_allowed: { status: 405, title: 'Method Not Allowed', doc: 'The HTTP method is not supported on this path (e.g. GET when the upstream offers no stream).' },
  // 406 / 415
  not_acceptable: { status: 406, title: 'Not Acceptable', doc: 'The `Accept` header does not allow any representation the endpoint produces.' },
  unsupported_media_type: { status: 415, title: 'Unsupported Media Type', doc: 'The request body has a content type the endpoint does not accept.' },
  // 408
  request_timeout: { status: 408, title: 'Request Timeout', doc: 'The request head or body did not arrive within `server.timeouts` (`headers`, `request`); the connection is closed.' },
  // 409
  conflict: { status: 409, title: 'Conflict', doc: 'The resource already exists or is in a conflicting state.' },
  role_in_use: { status: 409, title: 'Conflict', doc: 'The role is held by at least one user and cannot be deleted; give them another role first.' },
  read_only: { status: 409, title: 'Conflict', doc: 'The resource is defined in the config file and cannot be changed through the API.' },
  encryption_key_missing: { status: 409, title: 'Conflict', doc: 'Per-user upstream credentials cannot be stored: no `credentials.encryption_key` (or `PORTCULLIS_ENCRYPTION_KEY`) is configured.' },
  // 413
  payload_too_large: { status: 413, title: 'Payload Too Large', doc: 'The body exceeds `server.body_limit`.' },
  batch_too_large: { status: 413, title: 'Payload Too Large', doc: 'The JSON-RPC batch has more messages than `server.max_batch`, or more than the audit queue can take right now (every message is audited or refused); nothing was forwarded.' },
  // 431
  headers_too_large: { status: 431, title: 'Request Header Fields Too Large', doc: 'The request head is larger than the server accepts (16 KiB); the connection is closed.' },
  // 422
  validation_failed: { status: 422, title: 'Unprocessable Content', doc: 'The body failed validation; `errors[]` names each offending field.' },
  // 429
  rate_limited: { status: 429, title: 'Too Many Requests', doc: 'A rate limit was hit; see `Retry-After` and `RateLimit-*` headers.' },
  too_many_sessions: { status: 429, title: 'Too Many Requests', doc: 'The principal holds `limits.per_principal.sessions` open MCP sessions; end one (DELETE) before opening another.' },
  too_many_processes: { status: 429, title: 'Too Many Requests', doc: 'The principal runs `limits.per_principal.stdio_processes` stdio processes on this replica; end a stdio session first.' },
  too_many_streams: { status: 429, title: 'Too Many Requests', doc: 'The principal has `limits.per_principal.event_streams` event streams open on this replica; close one first.' },
  login_throttled: { status: 429, title: 'Too Many Requests', doc: 'Too many failed logins for this account or address; see `Retry-After`.' },
  // 5xx
  internal_error: { status: 500, title: 'Internal Server Error', doc: 'An unexpected error; details are in the server log only.' },
  upstream_unavailable: { status: 502, title: 'Bad Gateway', doc: 'The upstream MCP server could not be reached or failed.' },
  service_unavailable: { status: 503, title: 'Service Unavailable', doc: 'The gateway is not ready (store unreachable or shutting down) or a capacity limit was reached.' },
  upstream_timeout: { status: 504, title: 'Gateway Timeout', doc: 'The upstream MCP server did not answer within the server `timeout`.' },
} as const satisfies Record<string, { status: number; title: string; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
