// QR codes of pass links, drawn on the server (pages show them without JavaScript; emails and printouts embed them).
import QRCode from 'qrcode';

const OPTIONS = { errorCorrectionLevel: 'M', margin: 2 } as const;

export async function qrSvg(text: string): Promise<string> {
  return (await QRCode.toString(text, { ...OPTIONS, type: 'svg' })).trim();
}

export function qrPng(text: string, width = 512): Promise<Buffer> {
  return QRCode.toBuffer(text, { ...OPTIONS, type: 'png', width });
}
