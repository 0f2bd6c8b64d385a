// The MCP server: tools/list and tools/call over any transport, answered by whoever knows the tools (this process's
// registry for a credential, or, for `passslot mcp` on stdio, the Passslot at PASSSLOT_URL through an MCP client).
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool as SdkTool,
} from '@modelcontextprotocol/sdk/types.js';
import { AppError } from '../errors.js';

export const SERVER_INFO = { name: 'passslot', version: '0.1.0' };

export interface ToolSource {
  list(): Promise<SdkTool[]>;
  call(name: string, args: Record<string, unknown> | undefined): Promise<CallToolResult>;
}

/** A server answering tools/list and tools/call from `source`; an unknown tool is a protocol error (-32602). */
export function mcpServer(source: ToolSource): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions:
      'Passslot issues and updates Apple Wallet passes. Start with list_pass_templates to find a template, ' +
      'create_pass to issue a pass, get_pass_details to inspect one, update_pass to change its values.',
  });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await source.list() }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    try {
      return await source.call(request.params.name, request.params.arguments);
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_found')
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
      throw err;
    }
  });
  return server;
}
