// Email delivery: a pass sent over SMTP (nodemailer; STARTTLS when the server offers it) with the .pkpass attached
// and its link and QR code in the text and HTML bodies (the template's messages, or the defaults). Runs as a durable job: while SMTP is down it is retried, never lost.
import nodemailer, { type Transporter } from 'nodemailer';
import type { App } from '../app.js';
import { PKPASS_MIME } from '../engine/index.js';
import { currentPkpass } from '../render/current.js';
import { qrPng } from '../render/qr.js';
import { ParkJobError } from '../store/jobs.js';
import type { ChannelSender } from './messages.js';
import { emailOf, QR_CID } from './templates.js';

export function createMailer(app: App): ChannelSender {
  let transport: Transporter | undefined;
  return {
    async send({ message, pass, passType, templateName, templateMessages, url, googleUrl }) {
      if (!app.config.smtpUrl)
        throw new ParkJobError('PASSSLOT_SMTP_URL is not set; the email waits until it is');
      transport ??= nodemailer.createTransport(app.config.smtpUrl);
      const pkpass = await currentPkpass(app, pass, passType);
      const body = emailOf(
        { name: templateName, messages: templateMessages },
        JSON.parse(pass.values) as Record<string, unknown>,
        url,
        googleUrl,
      );
      try {
        await transport.sendMail({
          from: app.config.smtpFrom,
          to: message.recipient,
          ...body,
          attachments: [
            {
              filename: `${pass.serialNumber}.pkpass`,
              content: Buffer.from(pkpass),
              contentType: PKPASS_MIME,
            },
            // the QR code of the pass page, shown inside the HTML where it says ${qrCode}
            ...(body.html.includes(`cid:${QR_CID}`)
              ? [
                  {
                    filename: 'pass-qr.png',
                    content: await qrPng(url, 400),
                    cid: QR_CID,
                    contentType: 'image/png',
                  },
                ]
              : []),
          ],
        });
      } catch (err) {
        // a 5xx reply (no such mailbox, refused) will not change by asking again; anything else is retried
        const code = (err as { responseCode?: number }).responseCode;
        if (code !== undefined && code >= 500 && code < 600)
          return { kind: 'refused', code: `smtp_${code}`, message: (err as Error).message };
        throw err;
      }
      return { kind: 'sent' };
    },
    close() {
      transport?.close();
    },
  };
}
