export { loadConfig, ConfigError, formatZodIssues, formatPath, ENV_OVERRIDES, NOT_SUPPORTED, type Config, type LoadOptions } from './load.js';
export * from './schema.js';
export { configWarnings, configNotices, findExecutable, isLoopbackHost, MIN_SECRET_LENGTH, type KnownAtRuntime } from './warnings.js';
export { summarizeConfig, redactUrl, type ConfigSummary } from './summary.js';
export { STARTER_CONFIG } from './starter.js';
export { cliEnvironment, type CliEnvironment } from './cli-env.js';
