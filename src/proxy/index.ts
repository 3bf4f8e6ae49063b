/** What other layers may use from the proxy. */
export { ServerRegistry, validateRuntimeServer, type ServerSource, type RegistryChange, type RuntimeServerValidation } from './registry.js';
export { UpstreamManager, type UpstreamStatus, type UpstreamState, type DiscoveredCatalog } from './upstream-manager.js';
export { type UpstreamCredentials, forwardableHeaders, NEVER_FORWARDED } from './credentials.js';
