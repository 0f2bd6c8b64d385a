// The registry: every action Passslot has. Edges (REST, CLI, later MCP) look actions up here.
import { adminActions } from './admin.js';
import { bulkActions } from './bulk.js';
import { imageActions } from './images.js';
import { passActions } from './passes.js';
import type { Action } from './registry.js';
import { templateActions } from './templates.js';

export const actions: readonly Action[] = [
  ...passActions,
  ...templateActions,
  ...imageActions,
  ...bulkActions,
  ...adminActions,
] as unknown as Action[];

export const actionsByName: ReadonlyMap<string, Action> = new Map(actions.map((a) => [a.name, a]));
