export { loadConfig, ConfigError, formatZodIssues, formatPath, ENV_OVERRIDES, NOT_SUPPORTED, type Config, type LoadOptions } from './load.js';
export * from './schema.js';
export { configWarnings, isLoopbackHost } from './warnings.js';
