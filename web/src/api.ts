// The web app's one way to the service: an action by name over POST /v1/actions/:name, typed from the registry
// (src/client/actions.gen.ts is generated from the actions' TypeBox schemas), with the session cookie and its CSRF
// token as the credential. No business logic lives in the browser: every screen calls the actions the API runs.
import type { ActionName, Actions } from '../../src/client/actions.gen.js';

export interface FieldError {
  field: string;
  reasons: string[];
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly errors: FieldError[],
  ) {
    super(message);
  }
  /** The reasons given for one field (and the fields under it). */
  reasonsFor(field: string): string[] {
    return this.errors
      .filter((e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`))
      .flatMap((e) => e.reasons);
  }
}

export interface Account {
  id: number;
  name: string;
  role: 'owner' | 'admin' | 'developer' | 'viewer';
  /** What the role allows (`*`: everything). */
  scopes: string[];
}

export interface SessionInfo {
  email: string;
  csrf: string;
  accounts: Account[];
  publicUrl: string;
}

let session: SessionInfo | undefined;
let accountId: number | undefined;

/** Who is signed in; undefined when nobody is (the app then sends them to /login). */
export async function loadSession(): Promise<SessionInfo | undefined> {
  const res = await fetch('/app-session', { credentials: 'same-origin' });
  if (res.status === 401) return undefined;
  if (!res.ok) throw new ApiError(`the service answered ${res.status}`, res.status, 'unavailable', []);
  session = (await res.json()) as SessionInfo;
  const kept = Number(localStorage.getItem('passslot.account'));
  accountId = session.accounts.find((a) => a.id === kept)?.id ?? session.accounts[0]?.id;
  return session;
}

export const currentAccount = (): Account | undefined => session?.accounts.find((a) => a.id === accountId);

/** Whether the person's role in the current account allows `scope` (the screens hide what it does not). */
export const may = (scope: string): boolean => {
  const scopes = currentAccount()?.scopes ?? [];
  return scopes.includes('*') || scopes.includes(scope);
};

export function chooseAccount(id: number): void {
  accountId = id;
  localStorage.setItem('passslot.account', String(id));
}

/** Where a person signs in and comes back to the page they were on. */
export const signInUrl = (): string =>
  `/login?next=${encodeURIComponent(location.pathname + location.search)}`;

async function send(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (session) headers['X-CSRF-Token'] = session.csrf;
  if (accountId !== undefined) headers['X-Passslot-Account'] = String(accountId);
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers,
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  if (res.status === 401) {
    location.assign(signInUrl());
    throw new ApiError('signed out', 401, 'unauthorized', []);
  }
  if (!res.ok) {
    const err = (await res.json().catch(() => ({}))) as {
      message?: string;
      code?: string;
      errors?: FieldError[];
    };
    throw new ApiError(
      err.message ?? `HTTP ${res.status}`,
      res.status,
      err.code ?? 'error',
      err.errors ?? [],
    );
  }
  return res;
}

/** Runs an action and returns its output. */
export async function call<N extends ActionName>(
  name: N,
  input: Actions[N]['input'],
  signal?: AbortSignal,
): Promise<Actions[N]['output']> {
  const res = await send(`/v1/actions/${name}`, input, signal);
  return (await res.json()) as Actions[N]['output'];
}

/** Runs an action that answers a file (download_pass, get_template_image, ...), as a Blob. */
export async function callBlob<N extends ActionName>(name: N, input: Actions[N]['input']): Promise<Blob> {
  return (await send(`/v1/actions/${name}`, input)).blob();
}

/** Runs an action that answers a file, and saves it. */
export async function download<N extends ActionName>(name: N, input: Actions[N]['input'], filename: string) {
  const url = URL.createObjectURL(await callBlob(name, input));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
