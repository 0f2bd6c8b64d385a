// The registry: every action Passslot has. Edges (REST, CLI, later MCP) look actions up here.
import { accountActions } from './accounts.js';
import { auditActions } from './audit.js';
import { bulkActions } from './bulk.js';
import { eventActions } from './events.js';
import { formActions } from './forms.js';
import { googleActions } from './google.js';
import { imageActions } from './images.js';
import { importActions } from './imports.js';
import { integrationActions } from './integrations.js';
import { keyActions } from './keys.js';
import { linkActions } from './links.js';
import { messageActions } from './messages.js';
import { passActions } from './passes.js';
import { passTypeActions } from './passtypes.js';
import { pushActions } from './pushes.js';
import type { Action } from './registry.js';
import { scannerActions } from './scanners.js';
import { scanActions } from './scans.js';
import { statsActions } from './stats.js';
import { stripeActions } from './stripe.js';
import { templateLocalizationActions } from './template-localizations.js';
import { templateMessageActions } from './template-messages.js';
import { templateActions } from './templates.js';
import { userActions } from './users.js';
import { walletActions } from './wallet.js';
import { webhookActions } from './webhooks.js';

export const actions: readonly Action[] = [
  ...passActions,
  ...messageActions,
  ...templateActions,
  ...statsActions,
  ...formActions,
  ...templateMessageActions,
  ...templateLocalizationActions,
  ...importActions,
  ...imageActions,
  ...bulkActions,
  ...passTypeActions,
  ...scannerActions,
  ...scanActions,
  ...keyActions,
  ...googleActions,
  ...auditActions,
  ...pushActions,
  ...eventActions,
  ...webhookActions,
  ...integrationActions,
  ...stripeActions,
  ...accountActions,
  ...userActions,
  ...walletActions,
  ...linkActions,
] as unknown as Action[];

export const actionsByName: ReadonlyMap<string, Action> = new Map(actions.map((a) => [a.name, a]));
