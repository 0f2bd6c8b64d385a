// Which device a user agent is, and which language the page speaks.
import { describe, expect, it } from 'vitest';
import { deviceClassOf, languageOf } from '../../src/http/pass-page.js';

describe('pass page', () => {
  it('tells devices apart by their user agent', () => {
    const cases: [string | undefined, string][] = [
      ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148', 'ios'],
      ['Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148', 'ios'],
      ['Passbook/1.0 CFNetwork/1568.100.1 Darwin/24.0.0', 'wallet'],
      [
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.0 Safari/605.1.15',
        'mac',
      ],
      [
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
        'desktop',
      ],
      [
        'Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36',
        'android',
      ],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36', 'desktop'],
      ['curl/8.5.0', 'other'],
      [undefined, 'other'],
    ];
    for (const [ua, expected] of cases) expect(deviceClassOf(ua), ua).toBe(expected);
  });

  it('picks the most wanted language it has, by q-value', () => {
    expect(languageOf('fr-CH, fr;q=0.9, en;q=0.8')).toBe('fr');
    expect(languageOf('ja, es;q=0.5, de;q=0.7')).toBe('de');
    expect(languageOf('en;q=0.1, es')).toBe('es');
    expect(languageOf('de;q=0, en')).toBe('en');
    expect(languageOf('zz')).toBe('en');
    expect(languageOf(undefined)).toBe('en');
    // a template's languages: exact tag first, else by language; they come before the page's own words
    const template = ['it', 'pt-BR', 'zh-Hans'];
    expect(languageOf('it-CH, de;q=0.5', template)).toBe('it');
    expect(languageOf('pt-PT', template)).toBe('pt-BR');
    expect(languageOf('zh-hans', template)).toBe('zh-Hans');
    expect(languageOf('de, it;q=0.9', template)).toBe('de');
    expect(languageOf('ja', template)).toBe('en');
  });
});
