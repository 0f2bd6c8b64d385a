// The baseline of the wallet benchmark's fan-out: a bare HTTP/2 client (node:http2, no database, no jobs, no logs)
// sending the same pushes to the same APNs stand-in over the same number of connections as the service (one per
// pass type certificate), with as many streams in flight as the stand-in allows. Started with IPC: it waits for
// {tokens, ...} and answers {type: 'done'} once every push was answered.
import http2 from 'node:http2';

export interface BarePushes {
  url: string;
  certificatePem: string;
  privateKeyPem: string;
  caPem: string;
  topic: string;
  tokens: string[];
  /** Streams in flight at once (the stand-in's SETTINGS_MAX_CONCURRENT_STREAMS). */
  concurrency: number;
}

process.on('message', (job: BarePushes) => {
  const session = http2.connect(job.url, { cert: job.certificatePem, key: job.privateKeyPem, ca: job.caPem });
  let next = 0;
  let done = 0;
  let failed = 0;
  const finish = () => {
    session.close();
    process.send?.({ type: 'done', failed });
  };
  const sendOne = () => {
    const token = job.tokens[next++];
    if (token === undefined) return;
    const stream = session.request({
      ':method': 'POST',
      ':path': `/3/device/${token}`,
      'apns-topic': job.topic,
      'content-type': 'application/json',
    });
    stream.on('response', (headers) => {
      if (headers[':status'] !== 200) failed++;
    });
    stream.on('error', () => failed++);
    stream.resume();
    stream.on('close', () => {
      if (++done === job.tokens.length) finish();
      else sendOne();
    });
    stream.end('{}');
  };
  session.once('remoteSettings', () => {
    for (let i = 0; i < job.concurrency; i++) sendOne();
  });
});
console.log('ready');
