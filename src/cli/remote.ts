// What the commands that drive a running Passslot (passslot mcp, passslot passes) share: where it is and the app key,
// from PASSSLOT_URL and PASSSLOT_API_KEY, or a message the user can act on.
import { ConfigError, loadClientConfig } from '../config.js';
import { CommandError } from './io.js';

export function remoteConfig(env: NodeJS.ProcessEnv = process.env): { url: string; apiKey: string } {
  let config: ReturnType<typeof loadClientConfig>;
  try {
    config = loadClientConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
  if (!config.apiKey)
    throw new CommandError('PASSSLOT_API_KEY is not set: give the app key to drive Passslot with');
  return { url: config.url, apiKey: config.apiKey };
}
