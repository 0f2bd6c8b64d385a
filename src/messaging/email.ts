// Email delivery: a pass sent over SMTP (nodemailer; STARTTLS when the server offers it) with the .pkpass attached
// and its link in the text and HTML bodies. Runs as a durable job: while SMTP is down it is retried, never lost.
import nodemailer, { type Transporter } from 'nodemailer';
import type { App } from '../app.js';
import { PKPASS_MIME } from '../engine/index.js';
import { passLink } from '../events/payloads.js';
import { escapeHtml } from '../html.js';
import { currentPkpass } from '../render/current.js';
import { ParkJobError, PermanentJobError } from '../store/jobs.js';
import type { JobRow } from '../store/schema.js';

export interface EmailJob {
  passId: number;
  email: string;
}

export function createMailer(app: App): { send(job: JobRow): Promise<void>; close(): void } {
  let transport: Transporter | undefined;
  return {
    async send(job) {
      if (!app.config.smtpUrl)
        throw new ParkJobError('PASSSLOT_SMTP_URL is not set; the email waits until it is');
      transport ??= nodemailer.createTransport(app.config.smtpUrl);
      const { passId, email } = JSON.parse(job.payload) as EmailJob;
      const pass = await app.db.selectFrom('passes').selectAll().where('id', '=', passId).executeTakeFirst();
      if (!pass || pass.deletedAt)
        throw new PermanentJobError('the pass was deleted before the email was sent');
      const passType = await app.db
        .selectFrom('passTypes')
        .selectAll()
        .where('id', '=', pass.passTypeId)
        .executeTakeFirstOrThrow();
      const template = await app.db
        .selectFrom('templates')
        .select('name')
        .where('id', '=', pass.templateId)
        .executeTakeFirstOrThrow();
      const pkpass = await currentPkpass(app, pass, passType);
      const url = passLink(app.config.publicUrl, pass);
      await transport.sendMail({
        from: app.config.smtpFrom,
        to: email,
        subject: `Your pass: ${template.name}`,
        text: `Your ${template.name} is ready.\n\nAdd it to Apple Wallet: ${url}\n\nThe pass is also attached to this email.\n`,
        html:
          `<p>Your ${escapeHtml(template.name)} is ready.</p>` +
          `<p><a href="${escapeHtml(url)}">Add it to Apple Wallet</a></p><p>The pass is also attached to this email.</p>`,
        attachments: [
          { filename: `${pass.serialNumber}.pkpass`, content: Buffer.from(pkpass), contentType: PKPASS_MIME },
        ],
      });
    },
    close() {
      transport?.close();
    },
  };
}
