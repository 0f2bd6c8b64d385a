// The signatures of inbound hooks against published vectors: Twilio's own examples (the URL, parameters, auth token
// and X-Twilio-Signature of its security docs' samples) and Stripe's (the stripe package's header for a fixed
// timestamp), and the stripe package's own signer for what Stripe does on a secret roll.
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import {
  STRIPE_TOLERANCE_SECONDS,
  stripeSignatureProblem,
  twilioSignature,
  twilioSignatureValid,
} from '../../src/auth/hook-signatures.js';

describe("Twilio's X-Twilio-Signature", () => {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = (caller: string) => ({
    CallSid: 'CA1234567890ABCDE',
    Caller: caller,
    Digits: '1234',
    From: caller,
    To: '+18005551212',
  });

  it("matches the signatures of Twilio's published examples", () => {
    expect(twilioSignature(url, params('+14158675309'), '12345')).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(twilioSignature(url, params('+14158675310'), '12345')).toBe('GvWf1cFY/Q7PnoempGyD5oXAezc=');
  });

  it('refuses another token, another URL, a changed parameter, or no signature', () => {
    const sig = 'GvWf1cFY/Q7PnoempGyD5oXAezc=';
    expect(twilioSignatureValid(url, params('+14158675310'), sig, '12345')).toBe(true);
    expect(twilioSignatureValid(url, params('+14158675310'), sig, '12346')).toBe(false);
    expect(twilioSignatureValid(`${url}&x=1`, params('+14158675310'), sig, '12345')).toBe(false);
    expect(twilioSignatureValid(url, params('+14158675309'), sig, '12345')).toBe(false);
    expect(twilioSignatureValid(url, params('+14158675310'), undefined, '12345')).toBe(false);
  });
});

describe("Stripe's Stripe-Signature", () => {
  const payload = '{"id":"evt_test_webhook","object":"event"}';
  const secret = 'whsec_test_secret';
  const header = 't=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990';
  const at = 1_700_000_000_000;
  const stripe = new Stripe('sk_test_passslot');

  it('accepts the published vector within five minutes, and refuses it after', () => {
    expect(stripeSignatureProblem(payload, header, secret, at)).toBeUndefined();
    expect(
      stripeSignatureProblem(payload, header, secret, at + STRIPE_TOLERANCE_SECONDS * 1000),
    ).toBeUndefined();
    expect(
      stripeSignatureProblem(payload, header, secret, at + (STRIPE_TOLERANCE_SECONDS + 1) * 1000),
    ).toMatch(/more than 300 seconds old/);
  });

  it("agrees with the stripe package's signer, whose header it is", () => {
    expect(stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: 1_700_000_000 })).toBe(
      header,
    );
    const now = Math.floor(Date.now() / 1000);
    const fresh = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: now });
    expect(stripeSignatureProblem(payload, fresh, secret, Date.now())).toBeUndefined();
  });

  it('refuses another secret, another body, a header without t or v1, and counts only v1', () => {
    expect(stripeSignatureProblem(payload, header, 'whsec_other', at)).toMatch(/no v1 signature/);
    expect(stripeSignatureProblem(`${payload} `, header, secret, at)).toMatch(/no v1 signature/);
    expect(stripeSignatureProblem(payload, undefined, secret, at)).toMatch(/missing/);
    expect(stripeSignatureProblem(payload, 'v1=abc', secret, at)).toMatch(/no timestamp/);
    expect(stripeSignatureProblem(payload, 't=1700000000', secret, at)).toMatch(/no v1/);
    const v0 = header.replace('v1=', 'v0=');
    expect(stripeSignatureProblem(payload, v0, secret, at)).toMatch(/no v1/);
  });

  it('accepts any one matching v1 while a secret is rolled (Stripe signs with both)', () => {
    const old = stripe.webhooks.generateTestHeaderString({
      payload,
      secret: 'whsec_old',
      timestamp: 1_700_000_000,
    });
    const rolled = `${old},${header.split(',')[1]}`;
    expect(stripeSignatureProblem(payload, rolled, secret, at)).toBeUndefined();
    expect(stripeSignatureProblem(payload, old, secret, at)).toMatch(/no v1 signature/);
  });
});
