// MCP over Streamable HTTP at /mcp (PUBLIC_URL + /mcp), stateless: every POST gets its own server and transport, with
// the tools the request's credential may call. Authentication and rate limits are the API's (plugins/auth.ts).
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance } from 'fastify';
import type { App } from '../../app.js';
import { mcpServer } from '../../mcp/server.js';
import { callTool, toolsFor } from '../../mcp/tools.js';

export async function mcpRoutes(api: FastifyInstance, app: App): Promise<void> {
  api.post('/mcp', { schema: { hide: true } }, async (req, reply) => {
    const grant = req.grant!;
    const server = mcpServer({
      list: async () => toolsFor(grant) as Tool[],
      call: async (name, args) => (await callTool(app, grant, name, args, req.id)) as CallToolResult,
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    reply.hijack();
    await transport.handleRequest(req.raw, reply.raw, req.body);
  });
  // stateless: no server-to-client stream and no session to end
  for (const method of ['GET', 'DELETE'] as const)
    api.route({
      method,
      url: '/mcp',
      schema: { hide: true },
      handler: (_req, reply) =>
        reply
          .status(405)
          .header('Allow', 'POST')
          .type('application/json; charset=utf-8')
          .send({ message: 'MCP over Streamable HTTP here is stateless: POST only', code: 'bad_request' }),
    });
}
