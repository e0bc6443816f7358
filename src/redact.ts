/**
 * Secrets never leave the process: URLs are shown with their password replaced, and every line
 * the CLI prints passes through a scrubber that knows the configured passwords.
 */

const mask = '***';

/** Returns the URL with any password (and a token-looking username without password) masked. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw.replace(/\/\/([^:/@\s]*):([^@\s]*)@/g, `//$1:${mask}@`);
  }
  if (url.password !== '') url.password = mask;
  for (const key of [...url.searchParams.keys()]) {
    if (/pass|secret|token|key/i.test(key)) url.searchParams.set(key, mask);
  }
  return url.toString().replace(encodeURIComponent(mask), mask).replaceAll('%2A%2A%2A', mask);
}

/** The password parts of the given URLs, raw and decoded, for scrubbing free text. */
export function secretsInUrls(urls: readonly (string | undefined)[]): string[] {
  const secrets = new Set<string>();
  for (const raw of urls) {
    if (raw === undefined) continue;
    try {
      const url = new URL(raw);
      if (url.password !== '') {
        secrets.add(url.password);
        secrets.add(decodeURIComponent(url.password));
      }
      for (const [key, value] of url.searchParams) {
        if (/pass|secret|token|key/i.test(key) && value !== '') secrets.add(value);
      }
    } catch {
      const match = /\/\/[^:/@\s]*:([^@\s]+)@/.exec(raw);
      if (match?.[1] !== undefined) secrets.add(match[1]);
    }
  }
  // Very short secrets would mangle ordinary text; they are still masked inside URLs.
  return [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

export interface Scrubber {
  (text: string): string;
}

/** Builds a function that masks every known secret, and any inline URL password, in text. */
export function createScrubber(secrets: readonly string[]): Scrubber {
  return (text: string): string => {
    let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):([^@\s/]+)@/gi, `$1:${mask}@`);
    for (const secret of secrets) out = out.split(secret).join(mask);
    return out;
  };
}
