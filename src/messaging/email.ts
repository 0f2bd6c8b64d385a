// Email delivery: a pass sent over SMTP (nodemailer; STARTTLS when the server offers it) with the .pkpass attached
// and its link in the text and HTML bodies. Runs as a durable job: while SMTP is down it is retried, never lost.
import nodemailer, { type Transporter } from 'nodemailer';
import type { App } from '../app.js';
import { PKPASS_MIME } from '../engine/index.js';
import { escapeHtml } from '../html.js';
import { currentPkpass } from '../render/current.js';
import { ParkJobError } from '../store/jobs.js';
import type { ChannelSender } from './messages.js';

export function createMailer(app: App): ChannelSender {
  let transport: Transporter | undefined;
  return {
    async send({ message, pass, passType, templateName, url }) {
      if (!app.config.smtpUrl)
        throw new ParkJobError('PASSSLOT_SMTP_URL is not set; the email waits until it is');
      transport ??= nodemailer.createTransport(app.config.smtpUrl);
      const pkpass = await currentPkpass(app, pass, passType);
      try {
        await transport.sendMail({
          from: app.config.smtpFrom,
          to: message.recipient,
          subject: `Your pass: ${templateName}`,
          text: `Your ${templateName} is ready.\n\nAdd it to Apple Wallet: ${url}\n\nThe pass is also attached to this email.\n`,
          html:
            `<p>Your ${escapeHtml(templateName)} is ready.</p>` +
            `<p><a href="${escapeHtml(url)}">Add it to Apple Wallet</a></p><p>The pass is also attached to this email.</p>`,
          attachments: [
            {
              filename: `${pass.serialNumber}.pkpass`,
              content: Buffer.from(pkpass),
              contentType: PKPASS_MIME,
            },
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
