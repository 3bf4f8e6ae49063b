import { type Command } from 'commander';
import { table, withAdmin } from './admin-context.js';
import { output } from './common.js';

/** `portcullis oauth clients list|delete` — clients of the authorization server (SPEC §10). */
export function registerOAuth(program: Command): void {
  const oauth = program.command('oauth').description('the OAuth authorization server for MCP clients (acts on the configured store)');
  const clients = oauth.command('clients').description('OAuth clients: pre-registered, dynamically registered, and metadata-document clients people authorized');

  clients
    .command('list')
    .description('list OAuth clients (never their secrets)')
    .action(async (_o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const list = await ctx.oauth.listClients();
        output(cmd, list, () =>
          table(
            ['CLIENT_ID', 'NAME', 'SOURCE', 'AUTH', 'AUTHORIZATIONS', 'REDIRECT_URIS'],
            list.map((c) => [c.client_id, c.client_name ?? '-', c.source, c.token_endpoint_auth_method, String(c.authorizations), c.redirect_uris.join(' ') || '-']),
          ),
        );
      });
    });

  clients
    .command('delete <client_id>')
    .description('delete a registered client, or end every authorization of a metadata-document client; all its tokens stop working')
    .action(async (clientId: string, _o, cmd: Command) => {
      await withAdmin(cmd, async (ctx) => {
        const r = await ctx.oauth.deleteClient(ctx.caller, clientId);
        output(cmd, { deleted: clientId, source: r.source, revoked_authorizations: r.revoked }, () => `deleted OAuth client ${clientId} (${r.source}); ${r.revoked} authorization(s) ended`);
      });
    });
}
