/**
 * `portcullis servers list|get <name>|tools <name>` — the servers of the
 * config file plus those defined at runtime in the configured store.
 *
 * `tools` discovers: it connects to the upstream itself (remote servers must
 * be reachable from where the CLI runs; stdio servers are spawned by the CLI
 * for the duration of the discovery) with the server's configured headers —
 * never with a user's stored credentials. Status (up/down, sessions) lives in
 * a running gateway; ask it with `GET /api/v1/servers`.
 */
import { type Command } from 'commander';
import { type Config } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { createLogger } from '../lib/logger.js';
import { LocalBus } from '../lib/bus.js';
import { ServerRegistry, UpstreamManager } from '../proxy/index.js';
import { serverDefinition, serverSummary } from '../proxy/server-view.js';
import { type Store } from '../store/index.js';
import { reportError, table } from './admin-context.js';
import { output, withStore } from './common.js';

async function withRegistry(cmd: Command, fn: (registry: ServerRegistry, config: Config, store: Store) => Promise<void>): Promise<void> {
  try {
    await withStore(cmd, async (store, config) => {
      const logger = createLogger(config.logging.level === 'silent' ? 'silent' : 'warn', process.stderr);
      const registry = await ServerRegistry.create(config, store, new LocalBus(), logger);
      try {
        await fn(registry, config, store);
      } finally {
        registry.close();
      }
    });
  } catch (e) {
    reportError(cmd, e);
  }
}

function lookup(registry: ServerRegistry, name: string) {
  const def = registry.get(name);
  if (!def) throw new GatewayError('unknown_server', { detail: `No MCP server named ${name}` });
  return def;
}

const describe = (registry: ServerRegistry, config: Config, name: string) => {
  const def = lookup(registry, name);
  return { ...serverSummary(def, registry.source(name)!, config.server.public_url), ...serverDefinition(def) };
};

export function registerServers(program: Command): void {
  const servers = program.command('servers').description('MCP servers behind the gateway (config file + runtime-defined in the store)');

  servers
    .command('list')
    .description('list servers')
    .action(async (_o, cmd: Command) => {
      await withRegistry(cmd, async (registry, config) => {
        const list = registry.list().map((d) => describe(registry, config, d.name));
        output(cmd, list, () =>
          table(
            ['NAME', 'SOURCE', 'TRANSPORT', 'TARGET', 'DESCRIPTION'],
            list.map((s) => [s.name, s.source, s.transport, 'url' in s ? String(s.url) : [String(s.command), ...(s.args ?? [])].join(' '), s.description ?? '']),
          ),
        );
      });
    });

  servers
    .command('get')
    .description('show one server (header and env names only, never values)')
    .argument('<name>', 'server name')
    .action(async (name: string, _o, cmd: Command) => {
      await withRegistry(cmd, async (registry, config) => {
        const s = describe(registry, config, name);
        output(cmd, s, () =>
          Object.entries(s)
            .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') || '-' : (v ?? '-')}`)
            .join('\n'),
        );
      });
    });

  servers
    .command('tools')
    .description('discover the tools a server offers (connects to it, or spawns it for stdio servers)')
    .argument('<name>', 'server name')
    .action(async (name: string, _o, cmd: Command) => {
      await withRegistry(cmd, async (registry, config) => {
        lookup(registry, name);
        const logger = createLogger(config.logging.level === 'silent' ? 'silent' : 'warn', process.stderr);
        const upstreams = new UpstreamManager({ registry, childBaseEnv: config.childBaseEnv, logger, credentials: () => null });
        try {
          const catalog = await upstreams.discover(name, null);
          output(cmd, { server: name, tools: catalog.tools }, () =>
            table(
              ['TOOL', 'DESCRIPTION'],
              catalog.tools.map((t) => [t.name, (t.description ?? '').split('\n')[0]]),
            ),
          );
        } finally {
          await upstreams.close();
        }
      });
    });
}
