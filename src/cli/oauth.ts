import { type Command } from 'commander';
import { type ClientView } from '../oauth/management.js';
import { withClient } from './context.js';
import { cell, col, output, renderTable, type Column } from './output.js';

const CLIENT_COLUMNS: Column<ClientView>[] = [
  col('CLIENT_ID', 'client_id', (c) => c.client_id),
  col('NAME', 'client_name', (c) => cell.text(c.client_name)),
  col('SOURCE', 'source', (c) => c.source),
  col('AUTH', 'token_endpoint_auth_method', (c) => c.token_endpoint_auth_method),
  col('AUTHORIZATIONS', 'authorizations', (c) => String(c.authorizations)),
  col('REDIRECT_URIS', 'redirect_uris', (c) => cell.list(c.redirect_uris)),
  col('CREATED', 'created_at', (c) => cell.text(c.created_at)),
];

/** `portcullis oauth clients list|delete` — clients of the authorization server (SPEC §10), local store or --url. */
export function registerOAuth(program: Command): void {
  const oauth = program.command('oauth').description('the OAuth authorization server for MCP clients (the configured store, or a running gateway with --url)');
  const clients = oauth.command('clients').description('OAuth clients: pre-registered, dynamically registered, and metadata-document clients people authorized');

  clients
    .command('list')
    .description('list OAuth clients (never their secrets)')
    .action(async (_o, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const list = await client.oauthClients.list();
        output(cmd, list, () => renderTable(CLIENT_COLUMNS, list));
      });
    });

  clients
    .command('delete <client_id>')
    .description('delete a registered client, or end every authorization of a metadata-document client; all its tokens stop working')
    .action(async (clientId: string, _o, cmd: Command) => {
      await withClient(
        cmd,
        async (client) => {
          await client.oauthClients.delete(clientId);
          output(cmd, { deleted: clientId }, () => `deleted OAuth client ${clientId}; every token it held has ended`);
        },
        { changes: true },
      );
    });
}
