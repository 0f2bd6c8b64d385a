// passslot mcp: an MCP server on stdio for agents on this machine, with the tools of the Passslot at PASSSLOT_URL
// (its /mcp endpoint, driven with PASSSLOT_API_KEY): the same tools as over HTTP, the work done by that server.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { confirmationOf, type ToolReader } from '../../mcp/confirm.js';
import { mcpServer, SERVER_INFO } from '../../mcp/server.js';
import { CommandError, type Output } from '../io.js';
import { remoteConfig } from '../remote.js';

export const mcpHelp = `passslot mcp    an MCP server on stdio, for an agent on this machine

The tools are those of the Passslot at PASSSLOT_URL (default http://127.0.0.1:3000), reached at its /mcp endpoint
with the app key in PASSSLOT_API_KEY; each tool is an action, and the key's scopes decide which are listed.
A client configuration: {"command": "npx", "args": ["passslot", "mcp"], "env": {"PASSSLOT_URL": "...",
"PASSSLOT_API_KEY": "psk_..."}}. Nothing but MCP is written to stdout.
`;

export async function mcpCommand(_args: string[], io: Output): Promise<number> {
  const config = remoteConfig();
  const remote = new Client({ name: `${SERVER_INFO.name}-stdio`, version: SERVER_INFO.version });
  try {
    await remote.connect(
      new StreamableHTTPClientTransport(new URL('/mcp', `${config.url}/`), {
        requestInit: { headers: { authorization: `Bearer ${config.apiKey}` } },
      }),
    );
  } catch (err) {
    throw new CommandError(`cannot reach ${config.url}/mcp: ${(err as Error).message}`);
  }
  // questions to the user are asked here, where the conversation with the client is; the remote server is not asked
  const read: ToolReader = async (name, args) => {
    const result = await remote.callTool({ name, arguments: args });
    return result.isError ? undefined : (result.structuredContent as Record<string, unknown> | undefined);
  };
  const server = mcpServer({
    list: async () => (await remote.listTools()).tools,
    call: async (name, args, progress) =>
      (await remote.callTool(
        { name, arguments: args },
        undefined,
        progress
          ? {
              onprogress: (p) => void progress(p.progress, p.total, p.message),
              resetTimeoutOnProgress: true,
              timeout: 120_000,
            }
          : undefined,
      )) as CallToolResult,
    confirmation: (name, args) => confirmationOf(name, args, read),
  });
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  await server.connect(new StdioServerTransport());
  process.stdin.once('end', () => void server.close()); // the client went away
  io.err(`passslot mcp: serving the tools of ${config.url} on stdio`);
  await closed;
  await remote.close();
  return 0;
}
