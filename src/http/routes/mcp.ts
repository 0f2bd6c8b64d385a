// MCP over Streamable HTTP at /mcp (PUBLIC_URL + /mcp). A client's initialize opens a session (Mcp-Session-Id)
// bound to the credential that opened it, so the server can ask the user (elicitation) and stream progress; sessions live
// in this process and end when the client deletes them or after 30 idle minutes. Authentication and rate limits are
// the API's (plugins/auth.ts), on every request.
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../app.js';
import { confirmationOf } from '../../mcp/confirm.js';
import { mcpServer } from '../../mcp/server.js';
import { callTool, readerFor, toolsFor } from '../../mcp/tools.js';
import type { KeyGrant } from '../../store/keys.js';

const IDLE_MS = 30 * 60_000;
const MAX_SESSIONS = 10_000;

interface Session {
  transport: StreamableHTTPServerTransport;
  /** The credential that opened it (an app key, or an OAuth grant whatever token of it is presented). */
  credential: string;
  seen: number;
}

function sessionServer(app: App, grant: KeyGrant) {
  return mcpServer({
    list: async () => toolsFor(grant) as Tool[],
    call: async (name, args, progress) =>
      (await callTool(app, grant, name, args, randomUUID(), progress)) as CallToolResult,
    confirmation: (name, args) => confirmationOf(name, args, readerFor(app, grant)),
  });
}

export async function mcpRoutes(api: FastifyInstance, app: App): Promise<void> {
  const sessions = new Map<string, Session>();
  const sweep = setInterval(() => {
    const idle = Date.now() - IDLE_MS;
    for (const [id, s] of sessions)
      if (s.seen < idle) void s.transport.close().finally(() => sessions.delete(id));
  }, 60_000).unref();
  api.addHook('onClose', async () => {
    clearInterval(sweep);
    await Promise.all([...sessions.values()].map((s) => s.transport.close()));
    sessions.clear();
  });

  const unknownSession = (reply: FastifyReply) =>
    reply
      .status(404)
      .type('application/json; charset=utf-8')
      .send({ message: 'no such MCP session (it ended or expired): initialize again', code: 'not_found' });

  /** The session a request names, when it is the requesting key's. */
  const sessionOf = (req: FastifyRequest): Session | undefined | 'unknown' => {
    const id = req.headers['mcp-session-id'];
    if (typeof id !== 'string') return undefined;
    const session = sessions.get(id);
    if (!session || session.credential !== req.grant!.credential) return 'unknown';
    session.seen = Date.now();
    return session;
  };

  api.post('/mcp', { schema: { hide: true } }, async (req, reply) => {
    let session = sessionOf(req);
    if (session === 'unknown') return unknownSession(reply);
    if (!session) {
      // a new session: the SDK answers anything but initialize without a session with a 400
      if (sessions.size >= MAX_SESSIONS) {
        const oldest = [...sessions.entries()].sort((a, b) => a[1].seen - b[1].seen)[0]!;
        sessions.delete(oldest[0]);
        void oldest[1].transport.close();
      }
      const grant = req.grant!;
      const server = sessionServer(app, grant);
      const created: Session = {
        credential: grant.credential,
        seen: Date.now(),
        transport: new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => void sessions.set(id, created),
          onsessionclosed: (id) => void sessions.delete(id),
        }),
      };
      created.transport.onclose = () => void server.close();
      await server.connect(created.transport);
      session = created;
    }
    reply.hijack();
    await session.transport.handleRequest(req.raw, reply.raw, req.body);
  });

  // GET opens the session's stream of server messages; DELETE ends the session
  for (const method of ['GET', 'DELETE'] as const)
    api.route({
      method,
      url: '/mcp',
      schema: { hide: true },
      handler: async (req, reply) => {
        const session = sessionOf(req);
        if (session === 'unknown') return unknownSession(reply);
        if (!session)
          return reply
            .status(405)
            .header('Allow', 'POST')
            .type('application/json; charset=utf-8')
            .send({ message: `${method} /mcp needs the Mcp-Session-Id of a session`, code: 'bad_request' });
        reply.hijack();
        await session.transport.handleRequest(req.raw, reply.raw);
      },
    });
}
