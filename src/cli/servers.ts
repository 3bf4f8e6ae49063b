/**
 * `portcullis servers list|get|tools|start|stop` — the servers of the config
 * file plus those defined at runtime, from the configured store or from a
 * running gateway (--url).
 *
 * Locally, `tools` discovers by itself: it connects to the upstream (remote
 * servers must be reachable from where the CLI runs; stdio servers are
 * spawned for the duration of the discovery) with the server's configured
 * headers — never with a user's stored credentials. Status, start and stop
 * belong to a running gateway: give --url.
 */
import { type Command } from 'commander';
import { type ServerView, type ToolsView } from './client/admin-client.js';
import { withClient } from './context.js';
import { cell, col, output, renderTable, table, type Column } from './output.js';

const str = (v: unknown) => (v === undefined || v === null ? '-' : Array.isArray(v) ? cell.list(v as string[]) : String(v));
const status = (s: ServerView) => (s.status ? `${s.status.state}${s.status.sessions ? ` (${s.status.sessions} sessions)` : ''}` : '-');

export const SERVER_COLUMNS: Column<ServerView>[] = [
  col('NAME', 'name', (s) => s.name),
  col('SOURCE', 'source', (s) => s.source),
  col('TRANSPORT', 'transport', (s) => s.transport),
  col('TARGET', ['url', 'command', 'args'], (s) => (s.url !== undefined ? s.url : s.command !== undefined ? [s.command, ...(s.args ?? [])].join(' ') : '-')),
  col('STATUS', 'status', status),
  col('HEADERS/ENV', ['headers', 'env'], (s) => str(s.headers ?? s.env)),
  col('TIMEOUT', ['timeout_ms', 'idle_timeout_ms'], (s) => (s.timeout_ms === undefined ? '-' : `${s.timeout_ms}ms${s.idle_timeout_ms !== undefined ? ` idle ${s.idle_timeout_ms}ms` : ''}`)),
  col('LIMIT', ['connections', 'max_processes'], (s) => str(s.connections ?? s.max_processes)),
  col('CWD', 'cwd', (s) => str(s.cwd)),
  col('ENDPOINT', 'endpoint', (s) => s.endpoint),
  col('DESCRIPTION', 'description', (s) => cell.text(s.description)),
];

/** Tools: name, access and first description line (--json has the schemas). */
const toolsTable = (v: ToolsView) =>
  table(
    ['TOOL', 'ACCESS', 'DESCRIPTION'],
    v.tools.map((t) => [t.name, t.access ?? '-', (t.description ?? '').split('\n')[0]]),
  );

export function registerServers(program: Command): void {
  const servers = program.command('servers').description('MCP servers behind the gateway (config file + runtime-defined; the configured store or a running gateway with --url)');

  servers
    .command('list')
    .description('list servers')
    .action(async (_o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.servers.list();
        output(cmd, list, () => renderTable(SERVER_COLUMNS, list));
      });
    });

  servers
    .command('get')
    .description('show one server (header and env names only, never values)')
    .argument('<name>', 'server name')
    .action(async (name: string, _o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const s = await client.servers.get(name);
        output(cmd, s, () =>
          Object.entries(s)
            .map(([k, v]) => `${k}: ${k === 'status' ? status(s) : str(v)}`)
            .join('\n'),
        );
      });
    });

  servers
    .command('tools')
    .description('the tools a server offers (locally: connects to it, or spawns it for stdio servers)')
    .argument('<name>', 'server name')
    .action(async (name: string, _o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const v = await client.servers.tools(name);
        output(cmd, v, () => toolsTable(v));
      });
    });

  for (const op of ['start', 'stop'] as const)
    servers
      .command(op)
      .description(`${op} a stdio server on a running gateway (--url; needs servers:operate)`)
      .argument('<name>', 'server name')
      .action(async (name: string, _o, cmd: Command) => {
        await withClient(cmd, async (client) => {
          const r = await client.servers[op](name);
          output(cmd, r, () => `${op === 'start' ? 'started' : 'stopped'} ${r.name}: ${str((r.status as { state?: string } | null)?.state)}`);
        });
      });
}
