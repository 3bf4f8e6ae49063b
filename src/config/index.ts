export { loadConfig, ConfigError, formatZodIssues, formatPath, ENV_OVERRIDES, type Config, type LoadOptions } from './load.js';
export * from './schema.js';
