// passslot audit verify: checks each account's hash chain of execution records and names the first broken record.
import { parseArgs } from 'node:util';
import { getAccount, listAccounts } from '../../actions/accounts.js';
import { verifyAuditLog } from '../../actions/audit.js';
import { CommandError, type Output, UsageError } from '../io.js';
import { runForOperator } from '../run-action.js';
import { withApp } from './service.js';

export const auditHelp = `passslot audit verify [--account NAME] [--json]

Checks the audit trail: every execution record carries the SHA-256 of the record before it in its account, so a
record changed, removed or inserted after it was written breaks the chain. Checks every account, or the one named;
exits 1 naming the first broken record of each broken account. Export a trail with GET /v1/audit/export.
`;

export async function auditCommand(args: string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: { account: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (sub !== 'verify') throw new UsageError(auditHelp);
  return withApp(async (app) => {
    const accounts = values.account
      ? [await runForOperator(app, getAccount, 0, { name: values.account })]
      : await runForOperator(app, listAccounts, 0, {});
    const results = [];
    for (const account of accounts)
      results.push({ account: account.name, ...(await runForOperator(app, verifyAuditLog, account.id, {})) });
    if (values.json) io.out(JSON.stringify(results));
    else
      for (const r of results)
        io.out(
          r.ok
            ? `${r.account}: ${r.records} records, the chain holds`
            : `${r.account}: BROKEN at record ${r.broken!.seq} (id ${r.broken!.id}): ${r.broken!.reason}; ${r.records} records before it hold`,
        );
    const broken = results.filter((r) => !r.ok);
    if (broken.length)
      throw new CommandError(`the audit trail of ${broken.map((b) => b.account).join(', ')} is broken`);
    return 0;
  });
}
