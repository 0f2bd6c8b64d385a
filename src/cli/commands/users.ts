// passslot users create: the operator adds a person to an account with a role (the CLI edge of create_user).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getAccount } from '../../actions/accounts.js';
import { createUser } from '../../actions/users.js';
import { ROLES } from '../../store/users.js';
import { type Output, UsageError } from '../io.js';
import { runForOperator } from '../run-action.js';
import { withApp } from './service.js';

export const usersHelp = `passslot users create EMAIL --account NAME --role ROLE [--password-stdin] [--json]

Adds a person to an account with a role: ${ROLES.join(', ')}. A new user needs a password: with --password-stdin
it is read from standard input (the first line), else one is generated and shown once. Passwords have at least 10
characters. A user who exists already
joins the account, or takes the new role there. People sign in at /login and can let agents act for them (OAuth).
`;

export async function usersCommand(args: string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      role: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  if (sub !== 'create') throw new UsageError(usersHelp);
  const email = positionals[0];
  if (!email || positionals.length > 1) throw new UsageError('give exactly one EMAIL');
  if (!values.account) throw new UsageError('--account NAME is required');
  if (!values.role) throw new UsageError(`--role is required: one of ${ROLES.join(', ')}`);
  const stdinPassword = values['password-stdin'] ? readFileSync(0, 'utf8').split(/\r?\n/)[0] : undefined;
  if (values['password-stdin'] && !stdinPassword) throw new UsageError('no password on standard input');
  const accountName = values.account;
  return withApp(async (app) => {
    const account = await runForOperator(app, getAccount, 0, { name: accountName });
    // a new user without --password-stdin gets a generated password (an existing user keeps theirs)
    const proposed = stdinPassword ?? randomBytes(12).toString('base64url');
    const out = await runForOperator(app, createUser, account.id, {
      email,
      role: values.role,
      password: proposed,
    });
    const generated = out.created && !stdinPassword ? proposed : undefined;
    if (values.json) io.out(JSON.stringify({ ...out, ...(generated ? { password: generated } : {}) }));
    else
      io.out(
        `${out.email} is ${out.role} of "${accountName}"${out.created ? ' (new user)' : ''}` +
          (generated ? `; password, shown once: ${generated}` : '') +
          `\nsign in at ${app.config.publicUrl}/login`,
      );
    return 0;
  });
}
