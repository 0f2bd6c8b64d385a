// The MCP server: tools/list and tools/call over any transport, answered by whoever knows the tools (this process's
// registry for a credential, or, for `passslot mcp` on stdio, the Passslot at PASSSLOT_URL through an MCP client).
// Before a destructive call it asks the user to confirm when the client can be asked (elicitation), and it forwards
// the progress of long work when the call carries a progress token.
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

/** Reports the progress of a call: how far, of how much, and what is happening. */
export type Progress = (progress: number, total: number | undefined, message?: string) => Promise<void>;

export interface ToolSource {
  list(): Promise<SdkTool[]>;
  call(name: string, args: Record<string, unknown> | undefined, progress?: Progress): Promise<CallToolResult>;
  /** The question to put to the user before this call, or undefined when it needs none. */
  confirmation(name: string, args: Record<string, unknown> | undefined): Promise<string | undefined>;
}

const CONFIRM_SCHEMA = {
  type: 'object' as const,
  properties: { confirm: { type: 'boolean' as const, title: 'Go ahead', default: false } },
  required: ['confirm'],
};

/** A server answering tools/list and tools/call from `source`; an unknown tool is a protocol error (-32602). */
export function mcpServer(source: ToolSource): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions:
      'Passslot issues and updates Apple Wallet passes. Start with list_pass_templates to find a template, ' +
      'create_pass to issue a pass, get_pass_details to inspect one, update_pass to change its values.',
  });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await source.list() }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args } = request.params;
    try {
      if (server.getClientCapabilities()?.elicitation) {
        const question = await source.confirmation(name, args);
        if (question) {
          const answer = await server.elicitInput(
            { mode: 'form', message: question, requestedSchema: CONFIRM_SCHEMA },
            { relatedRequestId: extra.requestId },
          );
          if (answer.action !== 'accept' || answer.content?.confirm !== true) {
            const why = answer.action === 'accept' ? 'did not confirm' : `${answer.action}d`;
            return {
              content: [{ type: 'text', text: `Not done: the user ${why} (${question}). Nothing changed.` }],
              isError: true,
            };
          }
        }
      }
      const token = extra._meta?.progressToken;
      const progress: Progress | undefined =
        token === undefined
          ? undefined
          : (done, total, message) =>
              extra.sendNotification({
                method: 'notifications/progress',
                params: { progressToken: token, progress: done, total, message },
              });
      return await source.call(name, args, progress);
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_found')
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
      throw err;
    }
  });
  return server;
}
