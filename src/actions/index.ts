// The registry: every action Passslot has. Edges (REST, CLI, later MCP) look actions up here.
import { accountActions } from './accounts.js';
import { adminActions } from './admin.js';
import { bulkActions } from './bulk.js';
import { eventActions } from './events.js';
import { imageActions } from './images.js';
import { integrationActions } from './integrations.js';
import { passActions } from './passes.js';
import type { Action } from './registry.js';
import { templateActions } from './templates.js';
import { webhookActions } from './webhooks.js';

export const actions: readonly Action[] = [
  ...passActions,
  ...templateActions,
  ...imageActions,
  ...bulkActions,
  ...adminActions,
  ...eventActions,
  ...webhookActions,
  ...integrationActions,
  ...accountActions,
] as unknown as Action[];

export const actionsByName: ReadonlyMap<string, Action> = new Map(actions.map((a) => [a.name, a]));
