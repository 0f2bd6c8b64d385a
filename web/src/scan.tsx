// The scanner at /scan, for the phone at the door: the rear camera read by the browser's BarcodeDetector, or by a
// WebAssembly build of ZXing where the browser has none; each code goes to POST /v1/scans, and the answer is shown big,
// green or red, with a sound. Manual entry, the last scans and the day's check-ins. Signed in with a scanner's key
// (the dashboard's "Sign a phone in" link carries it in the URL fragment) or a signed-in person's session.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Actions } from '../../src/client/actions.gen.js';
import './styles.css';

type Scan = Actions['scan_barcode']['output'];
interface Entry {
  at: string;
  code: string;
  result: Scan['result'];
  name: string;
}

const KEY = 'passslot.scanKey';
const today = () => new Date().toISOString().slice(0, 10);

/** The scanner's credential: the key from the sign-in link (then kept on this device), or the session's CSRF token. */
async function credential(): Promise<{ headers: Record<string, string> } | undefined> {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('key');
  if (fromLink) {
    localStorage.setItem(KEY, fromLink);
    history.replaceState(null, '', '/scan');
  }
  const key = localStorage.getItem(KEY);
  if (key) return { headers: { Authorization: `Bearer ${key}` } };
  const res = await fetch('/app-session', { credentials: 'same-origin' });
  if (!res.ok) return undefined;
  const s = (await res.json()) as { csrf: string };
  return { headers: { 'X-CSRF-Token': s.csrf } };
}

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}
const FORMATS = ['qr_code', 'pdf417', 'aztec', 'code_128'];

/** The browser's BarcodeDetector when it reads our formats, else ZXing compiled to WebAssembly (served here). */
async function detector(): Promise<{ detector: Detector; native: boolean }> {
  const native = (
    globalThis as {
      BarcodeDetector?: { new (o: object): Detector; getSupportedFormats?: () => Promise<string[]> };
    }
  ).BarcodeDetector;
  if (native) {
    const supported = (await native.getSupportedFormats?.()) ?? [];
    if (FORMATS.every((f) => supported.includes(f)))
      return { detector: new native({ formats: FORMATS }), native: true };
  }
  const [{ BarcodeDetector, prepareZXingModule }, wasm] = await Promise.all([
    import('barcode-detector/ponyfill'),
    import('zxing-wasm/reader/zxing_reader.wasm?url'),
  ]);
  prepareZXingModule({
    overrides: {
      locateFile: (path: string, prefix: string) => (path.endsWith('.wasm') ? wasm.default : prefix + path),
    },
  });
  return {
    detector: new BarcodeDetector({ formats: FORMATS as never }) as unknown as Detector,
    native: false,
  };
}

/** One audio context for the page's life (browsers allow only a few, and a door scanner beeps all day). */
let audio: AudioContext | undefined;

function beep(ok: boolean) {
  try {
    audio ??= new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = ok ? 880 : 220;
    osc.type = ok ? 'sine' : 'square';
    gain.gain.value = 0.2;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + (ok ? 0.15 : 0.45));
    navigator.vibrate?.(ok ? 80 : [200, 100, 200]);
  } catch {
    // no sound on this device
  }
}

const TONE: Record<Scan['result'], 'good' | 'warn' | 'bad'> = {
  valid: 'good',
  redeemed: 'good',
  already_redeemed: 'warn',
  revoked: 'bad',
  expired: 'bad',
  not_yet_valid: 'bad',
  unknown: 'bad',
  forged: 'bad',
};
const HEADLINE: Record<Scan['result'], string> = {
  valid: 'Valid',
  redeemed: 'Welcome: checked in',
  already_redeemed: 'Already checked in',
  revoked: 'Revoked',
  expired: 'Expired',
  not_yet_valid: 'Not valid yet',
  unknown: 'Unknown pass',
  forged: 'Forged code',
};

function Scanner() {
  const [auth, setAuth] = useState<{ headers: Record<string, string> } | null>();
  const [keyInput, setKeyInput] = useState('');
  const [result, setResult] = useState<Scan>();
  const [error, setError] = useState<string>();
  const [manual, setManual] = useState('');
  const [camera, setCamera] = useState<string>('starting');
  const [entries, setEntries] = useState<Entry[]>(
    () => JSON.parse(localStorage.getItem('passslot.scans') ?? '[]') as Entry[],
  );
  const [count, setCount] = useState(() => Number(localStorage.getItem(`passslot.checkins.${today()}`) ?? 0));
  const video = useRef<HTMLVideoElement>(null);
  const paused = useRef(false);
  const clearing = useRef<ReturnType<typeof setTimeout>>();
  const last = useRef<{ code: string; at: number }>();

  useEffect(() => {
    credential().then(
      (c) => setAuth(c ?? null),
      () => setAuth(null),
    );
  }, []);

  const submit = async (code: string) => {
    if (!auth) return;
    paused.current = true;
    setError(undefined);
    try {
      const res = await fetch('/v1/scans', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...auth.headers },
        body: JSON.stringify({ barcode: code }),
      });
      if (res.status === 401) {
        localStorage.removeItem(KEY);
        setAuth(null);
        return;
      }
      const body = (await res.json()) as Scan & { message: string };
      if (!res.ok) throw new Error(body.message);
      setResult(body);
      beep(TONE[body.result] === 'good');
      // a good answer clears itself for the next person; a bad one waits for the door person's tap
      if (TONE[body.result] === 'good') {
        clearTimeout(clearing.current);
        clearing.current = setTimeout(() => {
          setResult(undefined);
          paused.current = false;
        }, 3000);
      }
      const entry: Entry = {
        at: new Date().toISOString(),
        code,
        result: body.result,
        name: body.pass?.name ?? '',
      };
      const next = [entry, ...entries].slice(0, 20);
      setEntries(next);
      localStorage.setItem('passslot.scans', JSON.stringify(next));
      if (body.result === 'redeemed') {
        const n = count + 1;
        setCount(n);
        localStorage.setItem(`passslot.checkins.${today()}`, String(n));
      }
    } catch (err) {
      setError((err as Error).message);
      beep(false);
    }
  };

  /** Ready for the next person: the same code may be read again. */
  const next = () => {
    clearTimeout(clearing.current);
    setResult(undefined);
    setError(undefined);
    last.current = undefined;
    paused.current = false;
  };

  // the camera loop: a frame every 150 ms while no answer is on screen; a code just read is not read again for 4 s
  useEffect(() => {
    if (!auth) return;
    let stopped = false;
    let stream: MediaStream | undefined;
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: { ideal: 'environment' } },
          audio: false,
        });
      } catch (err) {
        setCamera(`no camera: ${(err as Error).message}. Type the code below.`);
        return;
      }
      const v = video.current!;
      v.srcObject = stream;
      await v.play();
      const { detector: d, native } = await detector();
      setCamera(native ? 'camera on (built-in reader)' : 'camera on');
      while (!stopped) {
        await new Promise((r) => setTimeout(r, 150));
        if (paused.current || v.readyState < 2) continue;
        let codes: { rawValue: string }[] = [];
        try {
          codes = await d.detect(v);
        } catch {
          continue;
        }
        const code = codes[0]?.rawValue;
        if (!code || paused.current) continue;
        if (last.current && last.current.code === code && Date.now() - last.current.at < 4000) continue;
        last.current = { code, at: Date.now() };
        await submit(code);
      }
    })().catch((err: unknown) => setCamera(`camera failed: ${(err as Error).message}`));
    return () => {
      stopped = true;
      for (const t of stream?.getTracks() ?? []) t.stop();
    };
  }, [auth]);

  if (auth === undefined) return <p class="loading">Starting…</p>;
  if (auth === null)
    return (
      <main class="scan-signin">
        <h1>Passslot scanner</h1>
        <p>
          Open the sign-in link from the dashboard (Integrations → Scanners → Sign a phone in), or paste the
          scanner’s key, or <a href="/login?next=/scan">sign in</a>.
        </p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            localStorage.setItem(KEY, keyInput.trim());
            credential().then((c) => setAuth(c ?? null));
          }}
        >
          <label for="key">Scanner key</label>
          <input
            id="key"
            value={keyInput}
            onInput={(e) => setKeyInput((e.target as HTMLInputElement).value)}
            autocomplete="off"
          />
          <button type="submit" class="primary">
            Sign in
          </button>
        </form>
      </main>
    );

  const tone = result ? TONE[result.result] : undefined;
  return (
    <main class="scan">
      <h1 class="visually-hidden">Passslot scanner</h1>
      <div class="viewfinder">
        <video ref={video} muted playsInline aria-label="Camera" />
        <p class="camera-state">{camera}</p>
      </div>
      {result && (
        <section class={`verdict ${tone}`} role="alert" data-testid="verdict" data-result={result.result}>
          <h2>{HEADLINE[result.result]}</h2>
          <p>{result.message}</p>
          {result.pass && (
            <dl>
              <dt>Pass</dt>
              <dd>{result.pass.name}</dd>
              {result.pass.fields.map((f) => (
                <>
                  <dt>{f.label}</dt>
                  <dd>{f.value}</dd>
                </>
              ))}
            </dl>
          )}
          {result.lastRedemption && (
            <p>
              Checked in {new Date(result.lastRedemption.at).toLocaleString()}
              {result.lastRedemption.scanner ? ` by scanner ${result.lastRedemption.scanner}` : ''}
            </p>
          )}
          <button type="button" class="primary big" onClick={next}>
            Scan next
          </button>
        </section>
      )}
      {error && (
        <p class="verdict bad" role="alert">
          {error}{' '}
          <button type="button" class="plain" onClick={next}>
            Retry
          </button>
        </p>
      )}
      <form
        class="manual"
        onSubmit={(e) => {
          e.preventDefault();
          if (manual.trim()) void submit(manual.trim());
          setManual('');
        }}
      >
        <label for="manual">Type a code</label>
        <input
          id="manual"
          value={manual}
          onInput={(e) => setManual((e.target as HTMLInputElement).value)}
          autocomplete="off"
        />
        <button type="submit">Check</button>
      </form>
      <p class="count" data-testid="checkins">
        Checked in today on this device: <strong>{count}</strong>
      </p>
      <section aria-labelledby="recent">
        <h2 id="recent">Last scans</h2>
        <ol class="recent">
          {entries.map((e) => (
            <li key={e.at} class={TONE[e.result]}>
              <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> {HEADLINE[e.result]} {e.name}
            </li>
          ))}
        </ol>
      </section>
      <button
        type="button"
        class="plain"
        onClick={() => {
          localStorage.removeItem(KEY);
          setAuth(null);
        }}
      >
        Sign this device out
      </button>
    </main>
  );
}

render(<Scanner />, document.getElementById('scan')!);
