/**
 * Secrets never leave the process: URLs are shown with their password replaced, and every line
 * the CLI prints passes through a scrubber that knows the configured passwords.
 */

const mask = '***';

/** A URL taken apart by hand, for what `new URL` cannot parse (see splitUrl). */
export interface UrlParts {
  /** `redis://` */
  scheme: string;
  /** Before the first ":" of the credentials; '' without credentials. */
  user: string;
  /** After it, undefined without one. */
  password: string | undefined;
  /** What follows the credentials: the hosts. */
  hosts: string;
  /** The path, query and fragment, from the first "/", "?" or "#". */
  tail: string;
}

/**
 * What `new URL` cannot parse (a Redis Cluster's `redis://:pw@h1:7000,h2:7001`), taken apart by
 * hand: the authority ends at the path, query or fragment, the credentials at its last "@" (a
 * password may contain "@"), the password after the first ":" of them.
 */
export function splitUrl(raw: string): UrlParts | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw);
  if (scheme === null) return undefined;
  const rest = raw.slice(scheme[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  return {
    scheme: scheme[0],
    user: colon === -1 ? userinfo : userinfo.slice(0, colon),
    password: colon === -1 ? undefined : userinfo.slice(colon + 1),
    hosts: at === -1 ? authority : authority.slice(at + 1),
    tail: end === -1 ? '' : rest.slice(end),
  };
}

const secretParameter = /([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)([^&#]*)/gi;

/** Returns the URL with any password (and a token-looking username without password) masked. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    const parts = splitUrl(raw);
    const masked =
      parts === undefined || parts.password === undefined
        ? raw
        : `${parts.scheme}${parts.user}:${mask}@${parts.hosts}${parts.tail}`;
    return masked.replace(secretParameter, `$1${mask}`);
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
      const password = splitUrl(raw)?.password;
      if (password !== undefined && password !== '') {
        secrets.add(password);
        try {
          secrets.add(decodeURIComponent(password));
        } catch {
          // not percent-encoded
        }
      }
      for (const match of raw.matchAll(secretParameter)) if (match[2] !== undefined && match[2] !== '') secrets.add(match[2]);
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
