// Asking the user before a call that cannot be undone (MCP elicitation): the question names what would change.
/** Reads a tool's structured answer, or undefined when it cannot (a missing scope, an unknown pass). */
export type ToolReader = (
  name: string,
  args: Record<string, unknown>,
) => Promise<Record<string, unknown> | undefined>;

/** What the question about one pass names (from get_pass_details). */
interface PassSummary {
  serialNumber: string;
  template: { name: string };
  owner: { email: string | null; userId: string | null; externalId: string | null };
  devices: unknown[];
}

const holderOf = (owner: { email: string | null; userId: string | null; externalId: string | null }) =>
  owner.email ?? owner.userId ?? owner.externalId ?? 'no recorded holder';

/**
 * What the user is asked before a call that cannot be undone: deleting or revoking a pass (named, with its holder and
 * the devices that hold it), or changing many passes at once (how many). Undefined for every other call.
 */
export async function confirmationOf(
  name: string,
  args: Record<string, unknown> | undefined,
  read: ToolReader,
): Promise<string | undefined> {
  const a = args ?? {};
  if (name === 'delete_pass' || name === 'revoke_pass') {
    const verb = name === 'delete_pass' ? 'Delete' : 'Revoke';
    const ref = { passTypeIdentifier: a.passTypeIdentifier, serialNumber: a.serialNumber };
    const pass = (await read('get_pass_details', ref)) as PassSummary | undefined;
    if (!pass) return `${verb} the pass ${String(a.serialNumber)}? It stops working on every phone.`;
    return (
      `${verb} the pass ${pass.serialNumber} (${pass.template.name}) held by ${holderOf(pass.owner)}? It stops ` +
      `working on the ${pass.devices.length} device(s) it is installed on.`
    );
  }
  if (name === 'update_passes_of_template') {
    const filter = (a.filter ?? {}) as Record<string, unknown>;
    const query = {
      templateId: a.templateId,
      status: filter.status,
      email: filter.email,
      userId: filter.userId,
      externalId: filter.externalId,
      limit: 1000,
    };
    let count = 0;
    let cursor: string | undefined;
    do {
      const page = (await read('get_passes', { ...query, ...(cursor ? { cursor } : {}) })) as
        | { passes: unknown[]; nextCursor: string | null }
        | undefined;
      if (!page) return `Change the values of the passes of template ${String(a.templateId)}?`;
      count += page.passes.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor && count < 100_000);
    const changed = Object.keys((a.values ?? {}) as object).join(', ');
    const upTo = filter.values ? 'up to ' : '';
    return `Change ${changed} on ${upTo}${count} pass(es) of template ${String(a.templateId)}? Each is pushed to its phones.`;
  }
  return undefined;
}
