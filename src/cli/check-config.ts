import { type Command } from 'commander';
import { type Config, type ConfigSummary } from '../config/index.js';

function human(s: ConfigSummary): string {
  const lines = [
    `config OK: ${s.config_file ?? '(no file; defaults and environment)'}`,
    `  listen       ${s.server.host}:${s.server.port}${s.server.tls ? ' (TLS)' : ''}  public_url ${s.server.public_url}`,
    `  storage      ${s.storage.url}`,
    `  redis        ${s.redis ? s.redis.url : '(none; single replica)'}`,
    `  registration ${s.auth.registration}; signing ${s.auth.signing}`,
    `  providers    ${s.auth.providers.length ? s.auth.providers.map((p) => `${p.name} (${p.type})`).join(', ') : '(none)'}`,
    `  servers      ${s.servers.length ? s.servers.map((v) => `${v.name} (${v.kind})`).join(', ') : '(none)'}`,
    `  groups       ${s.groups.length ? s.groups.join(', ') : '(none)'}`,
    `  roles        ${s.roles.length ? s.roles.map((r) => r.name).join(', ') : '(built-in only)'}`,
  ];
  for (const w of s.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

/**
 * `portcullis check-config`: load the config exactly as `serve` would; print
 * every problem with its path (exit 1) or a short summary (exit 0).
 */
export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('validate the config (global --config or $PORTCULLIS_CONFIG) and summarize it')
    .action(async (_opts, cmd: Command) => {
      // Loaded on demand, like every command's heavy parts: a remote command should not pay for them.
      const [{ ConfigError, summarizeConfig }, { configFrom, describeError }] = await Promise.all([import('../config/index.js'), import('./common.js')]);
      const json = !!(cmd.optsWithGlobals() as { json?: boolean }).json;
      let problems: string[];
      let config: Config | undefined;
      try {
        config = configFrom(cmd);
        problems = [];
      } catch (e) {
        problems = e instanceof ConfigError ? e.problems : [describeError(e)];
      }
      if (problems.length || !config) {
        if (json) process.stdout.write(JSON.stringify({ ok: false, problems }, null, 2) + '\n');
        else process.stderr.write(`portcullis: invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p}\n`).join('')}`);
        process.exitCode = 1;
        return;
      }
      const summary = summarizeConfig(config);
      process.stdout.write((json ? JSON.stringify(summary, null, 2) : human(summary)) + '\n');
    });
}
