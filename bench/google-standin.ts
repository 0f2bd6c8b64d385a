// The Google Wallet stand-in of the Google benchmark, in a child process of its own so that its CPU is measured apart
// from the service's. Listens on PORT and prints "listening"; over IPC it takes {type: 'account'} (a service account
// that may use an issuer), answers {type: 'stats'} with its counts (inserts, patches, messages, tokens, and the times
// of the first and last write) and starts its counts afresh (keeping what it holds) on {type: 'reset'}.
import { GoogleStandin } from '../src/dev/google-standin.js';

const standin = new GoogleStandin();
standin.record = false;
await standin.start({ port: Number(process.env.PORT) });

export type GoogleStandinMessage =
  | { type: 'account'; clientEmail: string; publicKeyPem: string; issuerIds: string[] }
  | { type: 'stats' }
  | { type: 'reset' };

export interface GoogleStandinStats {
  type: 'stats';
  tokens: number;
  inserts: number;
  patches: number;
  messages: number;
  /** performance-clock ms of the first and last write since the last reset */
  first: number;
  last: number;
}

process.on('message', (m: GoogleStandinMessage) => {
  if (m.type === 'account') standin.addAccount(m.clientEmail, m.publicKeyPem, m.issuerIds);
  if (m.type === 'reset') {
    standin.resetCounts();
    process.send?.({ type: 'reset' });
  }
  if (m.type === 'stats') process.send?.({ type: 'stats', ...standin.counts } satisfies GoogleStandinStats);
});
process.stdout.write('listening\n');
