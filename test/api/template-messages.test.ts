// What passes say when they are sent: the template's email subject, text and HTML (values escaped, the QR code of
// the pass page as an inline image) and SMS text, or the defaults; checked at a real SMTP server and the Twilio
// stand-in.
import jsQRModule from 'jsqr';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioStandin, type TwilioStandin } from '../../src/dev/twilio-standin.js';
import { createMemberPass, memberValues, startServer, TEST_DB, type TestServer } from './harness.js';
import { closeSmtps, type Smtp, startSmtp } from './smtp.js';

type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const loaded = jsQRModule as unknown as Decode | { default: Decode };
const jsQR: Decode = typeof loaded === 'function' ? loaded : loaded.default;

let s: TestServer;
let smtp: Smtp;
let twilio: TwilioStandin;

async function sendAndReceive(path: string, email: string) {
  const before = smtp.received.length;
  expect((await s.api(s.alpha.appKey, `${path}/email`, { method: 'POST', json: { email } })).status).toBe(
    200,
  );
  await s.workers.drain();
  expect(smtp.received.length).toBe(before + 1);
  return smtp.received.at(-1)!.mail;
}

describe(`template messages on ${TEST_DB}`, () => {
  beforeAll(async () => {
    smtp = await startSmtp();
    twilio = await startTwilioStandin();
    s = await startServer({
      env: { PASSSLOT_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, PASSSLOT_WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
    const tw = await s.api(s.alpha.appKey, '/v1/integrations', {
      method: 'POST',
      json: {
        type: 'twilio',
        credentials: { accountSid: twilio.accountSid, authToken: twilio.authToken },
        settings: { from: '+15005550006', baseUrl: twilio.url },
      },
    });
    expect(tw.status).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
    await twilio?.close();
    await closeSmtps();
  });

  it('sends the default email with the link and the QR code of the pass page inside it', async () => {
    const p = await createMemberPass(s, s.alpha);
    const mail = await sendAndReceive(p.path, 'qr@example.com');
    expect(mail.subject).toBe('Your pass: Member Card');
    expect(mail.text).toContain(p.url);
    // (mailparser turns the cid: reference into the image itself)
    expect(mail.html as string).toMatch(
      /<img src="[^"]+" width="200" height="200" alt="QR code of your pass">/,
    );
    const qr = mail.attachments.find((a) => a.cid === 'qr@passslot')!;
    const { data, info } = await sharp(qr.content).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(jsQR(new Uint8ClampedArray(data), info.width, info.height)?.data).toBe(p.url);
    expect(mail.attachments.some((a) => a.filename?.endsWith('.pkpass'))).toBe(true);
  });

  it("sends the template's own messages with the pass's values, escaped in HTML", async () => {
    const set = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/messages`, {
      method: 'PUT',
      json: {
        email: {
          subject: 'Welcome, ${firstName}',
          text: 'Hi ${firstName}, your card: ${passUrl}',
          html: '<h1>Hi ${firstName}</h1><a href="${passUrl}">Your card</a>${qrCode}',
        },
        sms: 'Hi ${firstName}! Card: ${passUrl}',
      },
    });
    expect(set.status).toBe(200);
    const p = await createMemberPass(
      s,
      s.alpha,
      memberValues({ firstName: '<Ada & co>' }),
      '?phone=%2B15558675310',
    );
    const mail = await sendAndReceive(p.path, 'own@example.com');
    expect(mail.subject).toBe('Welcome, <Ada & co>');
    expect(mail.text).toBe(`Hi <Ada & co>, your card: ${p.url}`);
    expect(mail.html as string).toContain('<h1>Hi &lt;Ada &amp; co&gt;</h1>');
    const before = twilio.messages.length;
    expect((await s.api(s.alpha.appKey, `${p.path}/sms`, { method: 'POST', json: {} })).status).toBe(202);
    await s.workers.drain();
    expect(twilio.messages.length).toBe(before + 1);
    expect(twilio.messages.at(-1)!.body).toBe(`Hi <Ada & co>! Card: ${p.url}`);
    // a placeholder the template does not have is refused where it is
    const bad = await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/messages`, {
      method: 'PUT',
      json: { email: { subject: 'Hi ${nickname}' } },
    });
    expect((await bad.json()).errors[0]).toMatchObject({ field: 'email.subject' });
    const read = await (await s.api(s.alpha.appKey, `/v1/templates/${s.alpha.templateId}/messages`)).json();
    expect(read.messages.sms).toBe('Hi ${firstName}! Card: ${passUrl}');
    expect(read.defaults.subject).toBe('Your pass: ${templateName}');
  });
});
