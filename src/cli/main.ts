// The `passslot` command: dispatches to the subcommands. Exit status 0 on success, 1 on a failure the command
// reports (a pass with errors, an unreadable file), 2 on a usage mistake.
import { auditCommand, auditHelp } from './commands/audit.js';
import { backupCommand, backupHelp, restoreCommand } from './commands/backup.js';
import { buildCommand, buildHelp } from './commands/build.js';
import { certsCommand, certsHelp } from './commands/certs.js';
import { devCommand, devHelp } from './commands/dev.js';
import { doctorCommand, doctorHelp } from './commands/doctor.js';
import { importCommand, importHelp } from './commands/import.js';
import { masterKeyCommand, masterKeyHelp } from './commands/master-key.js';
import { mcpCommand, mcpHelp } from './commands/mcp.js';
import { passesCommand, passesHelp } from './commands/passes.js';
import {
  accountsCommand,
  initCommand,
  keysCommand,
  migrateCommand,
  serveCommand,
  serviceHelp,
} from './commands/service.js';
import { usersCommand, usersHelp } from './commands/users.js';
import { CommandError, type Output, stdio, UsageError } from './io.js';

interface Command {
  summary: string;
  help: string;
  run(args: string[], io: Output): number | Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the service (what npm start does)', help: serviceHelp, run: serveCommand },
  init: {
    summary: 'first-start set-up without serving; --json for scripts',
    help: serviceHelp,
    run: initCommand,
  },
  migrate: { summary: 'bring the database schema up to date', help: serviceHelp, run: migrateCommand },
  accounts: { summary: 'create an account (accounts create NAME)', help: serviceHelp, run: accountsCommand },
  keys: { summary: 'create, list, rotate and revoke app keys', help: serviceHelp, run: keysCommand },
  audit: {
    summary: "verify the audit trail's hash chain (audit verify)",
    help: auditHelp,
    run: auditCommand,
  },
  backup: {
    summary: 'copy the SQLite database of a running Passslot, consistently (backup FILE)',
    help: backupHelp,
    run: backupCommand,
  },
  restore: {
    summary: 'put a backup in place in an empty data directory (restore FILE)',
    help: backupHelp,
    run: restoreCommand,
  },
  'rotate-master-key': {
    summary: 'seal every secret at rest under a new master key, without downtime',
    help: masterKeyHelp,
    run: masterKeyCommand,
  },
  users: {
    summary: 'add a person to an account with a role (users create)',
    help: usersHelp,
    run: usersCommand,
  },
  import: {
    summary: 'issue passes from a CSV on the Passslot at PASSSLOT_URL (import FILE --template ID)',
    help: importHelp,
    run: (args, io) => importCommand(args, io),
  },
  mcp: {
    summary: 'an MCP server on stdio with the tools of the Passslot at PASSSLOT_URL',
    help: mcpHelp,
    run: mcpCommand,
  },
  passes: {
    summary: 'update many passes from a CSV, on the Passslot at PASSSLOT_URL (passes update --csv FILE)',
    help: passesHelp,
    run: passesCommand,
  },
  build: { summary: 'build a signed .pkpass from a template directory', help: buildHelp, run: buildCommand },
  doctor: { summary: 'diagnose any .pkpass: why will it not open?', help: doctorHelp, run: doctorCommand },
  certs: {
    summary: 'create a development pass type identity (certs dev)',
    help: certsHelp,
    run: certsCommand,
  },
  dev: {
    summary: 'local APNs stand-in and simulated iPhone (dev apns, dev device)',
    help: devHelp,
    run: devCommand,
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `Passslot: Apple Wallet passes, self-hosted.

usage: passslot <command> [options]   (passslot help <command> for details)

${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}
`;
}

export async function main(argv: string[], io: Output = stdio): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0] ? COMMANDS[args[0]] : undefined;
    io.out(topic ? topic.help : usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`passslot: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`passslot ${name}: ${(err as Error).message}\n\n${command.help}`);
      return 2;
    }
    if (err instanceof CommandError) {
      io.err(`passslot ${name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
