// What a credential may do: the scopes of app keys and OAuth grants, and the roles of people, which cap the scopes
// they (and the agents acting for them) may hold.

export const SCOPES = [
  'passes:read',
  'passes:write',
  'templates:read',
  'templates:write',
  'passtypes:read',
  'passtypes:write',
  'scanners:read',
  'scanners:write',
  'scans:write',
  'audit:read',
  'events:read',
  'webhooks:read',
  'webhooks:write',
  'integrations:read',
  'integrations:write',
  '*',
] as const;
export type Scope = (typeof SCOPES)[number];

export const ROLES = ['owner', 'admin', 'developer', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a role may grant (to an OAuth client, or a key of theirs): owners and admins everything, including app keys
 * and people (`*`); developers every named scope; viewers the read scopes.
 */
export function scopesOfRole(role: Role): Scope[] {
  if (role === 'owner' || role === 'admin') return [...SCOPES];
  const named = SCOPES.filter((s) => s !== '*');
  return role === 'developer' ? named : named.filter((s) => s.endsWith(':read'));
}

export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);
