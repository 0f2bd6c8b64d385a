// passslot rotate-master-key [--retire-previous]: a new master key for the secrets at rest, with no downtime.
import { parseArgs } from 'node:util';
import {
  forgetPreviousKeyFiles,
  keyId,
  readKeyFiles,
  resealSecrets,
  rotateKeyFiles,
} from '../../store/secrets.js';
import { CommandError, type Output, UsageError } from '../io.js';
import { commandConfig, withApp } from './service.js';

export const masterKeyHelp = `passslot rotate-master-key [--retire-previous]

Seals every secret at rest (signing keys, APNs keys, webhook secrets, integration credentials) under a new master key,
while the service runs.

With the key file of the data directory (no PASSSLOT_MASTER_KEY): makes a new master.key, keeps the old one in
master.key.previous (still read, so nothing stops), and seals every secret again under the new key; running processes
pick the new key up by themselves. Once every process has restarted, --retire-previous seals again anything still
under an old key and forgets the old keys.

With PASSSLOT_MASTER_KEY: give every process the new key in PASSSLOT_EXTRA_MASTER_KEYS first, then make it
PASSSLOT_MASTER_KEY with the old one in PASSSLOT_EXTRA_MASTER_KEYS, then run this command, which seals every secret
under PASSSLOT_MASTER_KEY; then remove the old key (docs/deploy.md walks through it).
`;

export async function masterKeyCommand(args: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'retire-previous': { type: 'boolean' } },
  });
  if (positionals.length) throw new UsageError(masterKeyHelp);
  const config = commandConfig();
  const fromFiles = !config.masterKey;
  if (fromFiles && !readKeyFiles(config.dataDir))
    throw new CommandError(`there is no master key in ${config.dataDir} (master.key): nothing to rotate`);
  if (fromFiles && !values['retire-previous']) {
    const ring = rotateKeyFiles(config.dataDir);
    io.out(
      `new master key ${keyId(ring.current)} in ${config.dataDir}/master.key; the old one is still read`,
    );
  }
  // the app reads the keyring as it is now: the new key seals, the old ones open
  const { resealed, left } = await withApp((app) => resealSecrets(app.db, app.secrets));
  io.out(
    `sealed ${resealed} secrets again under the current key${left ? `; ${left} changed meanwhile` : ''}`,
  );
  if (values['retire-previous']) {
    if (left) throw new CommandError('secrets changed while they were sealed again: run the command again');
    if (fromFiles) {
      forgetPreviousKeyFiles(config.dataDir);
      io.out('the previous master keys are forgotten (master.key.previous is empty)');
    } else io.out('every secret is under PASSSLOT_MASTER_KEY: remove PASSSLOT_EXTRA_MASTER_KEYS');
  }
  return 0;
}
