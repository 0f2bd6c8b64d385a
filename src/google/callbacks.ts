// Google Wallet's save and delete callbacks, verified as Google signs them (ECv2SigningOnly, the scheme of Google Pay's
// payment tokens without the encryption): Google's root keys (ECDSA P-256, published at a keys URL) sign an
// intermediate key that expires; the intermediate key signs the message. Each signature covers the fields it binds,
// each as a 4-byte little-endian length followed by its UTF-8 bytes: the intermediate key's signature covers the
// sender ("GooglePayPasses"), the protocol version and the signed key; the message's covers the sender, the recipient
// (the issuer id), the protocol version and the signed message. The message says which class and object, the event
// ("save" or "del"), when it stops being valid (expTimeMillis) and a nonce (Google may deliver one twice).
import { createPublicKey, sign as cryptoSign, type KeyObject, verify } from 'node:crypto';
import type { JsonObject } from '../engine/index.js';

export const CALLBACK_SENDER = 'GooglePayPasses';
export const CALLBACK_PROTOCOL = 'ECv2SigningOnly';

/** A key from the keys URL: {"keyValue": base64 DER SubjectPublicKeyInfo, "protocolVersion", "keyExpiration"?}. */
export interface SigningKey {
  keyValue: string;
  protocolVersion: string;
  keyExpiration?: string;
}

/** What Google posts to the callback URL. */
export interface CallbackBody {
  signature: string;
  intermediateSigningKey: { signedKey: string; signatures: string[] };
  protocolVersion: string;
  signedMessage: string;
}

/** The verified message. */
export interface CallbackMessage {
  classId: string;
  objectId: string;
  eventType: 'save' | 'del';
  expTimeMillis: number;
  nonce: string;
}

export class CallbackError extends Error {}

/** The bytes a signature covers: each part as a 4-byte little-endian length and its UTF-8 bytes. */
export function signedBytes(...parts: string[]): Buffer {
  return Buffer.concat(
    parts.flatMap((part) => {
      const bytes = Buffer.from(part, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}

const publicKeyOf = (base64Der: string): KeyObject =>
  createPublicKey({ key: Buffer.from(base64Der, 'base64'), format: 'der', type: 'spki' });

const verifies = (key: KeyObject, data: Buffer, signature: string): boolean => {
  try {
    return verify('sha256', data, key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
};

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Verifies a callback for the issuer `recipientId` with Google's root keys; throws CallbackError saying why not. */
export function verifyCallback(
  body: CallbackBody,
  options: { recipientId: string; rootKeys: SigningKey[]; now: Date },
): CallbackMessage {
  if (body.protocolVersion !== CALLBACK_PROTOCOL)
    throw new CallbackError(`protocolVersion is ${body.protocolVersion}, not ${CALLBACK_PROTOCOL}`);
  const now = options.now.getTime();
  const roots = options.rootKeys
    .filter((k) => k.protocolVersion === CALLBACK_PROTOCOL)
    .filter((k) => !k.keyExpiration || Number(k.keyExpiration) > now)
    .map((k) => publicKeyOf(k.keyValue));
  if (roots.length === 0) throw new CallbackError('no current root signing key');
  const { signedKey, signatures } = body.intermediateSigningKey;
  const keyBytes = signedBytes(CALLBACK_SENDER, CALLBACK_PROTOCOL, signedKey);
  if (!signatures.some((sig) => roots.some((root) => verifies(root, keyBytes, sig))))
    throw new CallbackError('the intermediate signing key is not signed by a root key');
  let intermediate: unknown;
  try {
    intermediate = JSON.parse(signedKey);
  } catch {
    throw new CallbackError('the signed key is not JSON');
  }
  if (!isObject(intermediate) || typeof intermediate.keyValue !== 'string')
    throw new CallbackError('the signed key has no keyValue');
  if (!(Number(intermediate.keyExpiration) > now))
    throw new CallbackError('the intermediate signing key expired');
  const messageBytes = signedBytes(
    CALLBACK_SENDER,
    options.recipientId,
    CALLBACK_PROTOCOL,
    body.signedMessage,
  );
  if (!verifies(publicKeyOf(intermediate.keyValue), messageBytes, body.signature))
    throw new CallbackError('the message signature does not verify');
  let message: unknown;
  try {
    message = JSON.parse(body.signedMessage);
  } catch {
    throw new CallbackError('the signed message is not JSON');
  }
  if (
    !isObject(message) ||
    typeof message.classId !== 'string' ||
    typeof message.objectId !== 'string' ||
    (message.eventType !== 'save' && message.eventType !== 'del') ||
    typeof message.nonce !== 'string'
  )
    throw new CallbackError('the signed message lacks classId, objectId, eventType (save or del) or nonce');
  const expires = Number(message.expTimeMillis);
  if (!(expires > now)) throw new CallbackError('the message expired (expTimeMillis)');
  return {
    classId: message.classId,
    objectId: message.objectId,
    eventType: message.eventType,
    expTimeMillis: expires,
    nonce: message.nonce,
  };
}

/** Signs a callback as Google does (the stand-in and the tests), with a root key and an intermediate key. */
export function signCallback(
  message: CallbackMessage,
  keys: { root: KeyObject; intermediate: KeyObject; intermediateExpiration: number; recipientId: string },
): CallbackBody {
  const der = (key: KeyObject) =>
    (key.type === 'private' ? createPublicKey(key) : key)
      .export({ format: 'der', type: 'spki' })
      .toString('base64');
  const signedKey = JSON.stringify({
    keyValue: der(keys.intermediate),
    keyExpiration: String(keys.intermediateExpiration),
  });
  const signedMessage = JSON.stringify(message);
  return {
    protocolVersion: CALLBACK_PROTOCOL,
    intermediateSigningKey: {
      signedKey,
      signatures: [
        cryptoSign('sha256', signedBytes(CALLBACK_SENDER, CALLBACK_PROTOCOL, signedKey), keys.root).toString(
          'base64',
        ),
      ],
    },
    signedMessage,
    signature: cryptoSign(
      'sha256',
      signedBytes(CALLBACK_SENDER, keys.recipientId, CALLBACK_PROTOCOL, signedMessage),
      keys.intermediate,
    ).toString('base64'),
  };
}
