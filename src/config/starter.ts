/**
 * The commented starter config `portcullis init` writes. It must load cleanly
 * (a test checks it); sections not every deployment needs stay commented out.
 */
export const STARTER_CONFIG = `# Portcullis configuration. Every key, its default and its env override:
# docs/configuration.md.
#
# - Values may reference the environment: \${VAR} or \${VAR:-default}
#   (write $\${ for a literal \${). A missing variable is an error.
# - Durations: 500ms, 60s, 15m, 24h, 30d. Sizes: 4MiB, 512KiB, or bytes.
# - Relative paths are relative to this file's folder.
# - Unknown keys are errors; check with: npx portcullis check-config --config <this file>

server:
  host: 127.0.0.1                  # PORTCULLIS_HOST. Binding 0.0.0.0 without TLS prints a warning.
  port: 8080                       # PORTCULLIS_PORT
  # public_url: https://gateway.example.com   # PORTCULLIS_PUBLIC_URL; default http://<host>:<port>
  allowed_origins: []              # Origin allow-list for /mcp
  body_limit: 4MiB
  # tls:                           # HTTPS (and mTLS with client_auth)
  #   cert_file: server.crt
  #   key_file: server.key
  #   min_version: TLSv1.2
  #   client_auth: none            # none | request | require
  #   client_ca_file: ca.crt

storage:
  url: sqlite:./data/portcullis.db # PORTCULLIS_DATABASE_URL; or postgres://user@host/db

# redis:                           # shared rate limits, revocation, cache invalidation across replicas
#   url: redis://127.0.0.1:6379    # PORTCULLIS_REDIS_URL

auth:
  registration: open               # open | first-user-only | closed. The first user ever becomes admin.
  access_token_ttl: 15m
  refresh_token_ttl: 30d
  # signing:                       # default: HS256 with a secret generated on first start, kept in the store
  #   algorithm: ES256
  #   private_key_file: signing.pem
  login_throttle:                  # failed logins allowed before 429 login_throttled
    per_account: { requests: 5, per: 15m }
    per_ip: { requests: 30, per: 15m }
  password_login: true             # the /login form and the API password login
  browser_sessions: { idle_timeout: 8h, max_age: 7d }   # the /login cookie
  authorization_server:            # OAuth 2.1 for MCP clients (Claude, ChatGPT, VS Code, Cursor): docs/oauth.md
    enabled: true
    dynamic_registration: open     # open | admin | off
    client_id_metadata_documents: { enabled: true, allowed_hosts: [], allow_loopback_http: false }
    clients: []                    # pre-registered: { client_id, client_name, redirect_uris, client_secret_env? }
    authorization_code_ttl: 60s
    consent_ttl: 90d               # a remembered consent is not asked again before this

servers:                           # uncomment and edit; an empty section is fine
#   - name: demo                   # [a-z0-9-]+ ; served at /mcp/demo
#     url: http://127.0.0.1:3001/mcp
#     transport: streamable-http   # streamable-http | sse
#     headers: { X-Upstream-Key: "\${DEMO_KEY}" }
#     timeout: 60s
#   - name: files                  # stdio server spawned by the gateway
#     command: node
#     args: [server.js]
#     env: { ROOT: /srv/files }

groups:                            # defined here = read-only in the API
#   - name: eng
#     description: Engineering
#     grants:
#       - { server: demo, tools: [echo, "read_*"], access_level: execute }

roles:                             # custom roles beside admin, operator, viewer, user (read-only in the API)
#   - name: developer
#     description: reads the audit, starts and stops servers
#     permissions: [servers:read, servers:operate, audit:read]

audit:
  enabled: true
  stdout: false                    # also write audit events as JSON lines on stdout
  retention: 90d

metrics:
  enabled: true
  path: /metrics

logging:
  level: info                      # PORTCULLIS_LOG_LEVEL: fatal | error | warn | info | debug | trace | silent
`;
