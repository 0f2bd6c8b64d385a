// The "Save to Google Wallet" link: https://pay.google.com/gp/v/save/<JWT>, the JWT signed RS256 with the issuer's
// service account key (iss: its client email, aud: "google", typ: "savetowallet", origins: where the button may
// show, payload: the objects, or only their ids once they are inserted through the REST API).
import { createPrivateKey, sign } from 'node:crypto';
import type { JsonObject } from '../engine/index.js';

export const SAVE_URL = 'https://pay.google.com/gp/v/save/';

export interface ServiceAccount {
  clientEmail: string;
  privateKeyPem: string;
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT signed RS256 with the service account's key. */
export function signJwt(account: ServiceAccount, claims: JsonObject): string {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}`;
  const signature = sign('RSA-SHA256', Buffer.from(input), createPrivateKey(account.privateKeyPem));
  return `${input}.${signature.toString('base64url')}`;
}

/** The save link of objects (`payload`: e.g. {"loyaltyObjects": [{"id", "classId"}]}). */
export function saveLink(account: ServiceAccount, origins: string[], payload: JsonObject, now: Date): string {
  const jwt = signJwt(account, {
    iss: account.clientEmail,
    aud: 'google',
    typ: 'savetowallet',
    iat: Math.floor(now.getTime() / 1000),
    origins,
    payload,
  });
  return `${SAVE_URL}${jwt}`;
}
