// Turns config.hatchet into the SDK's client config, refusing a missing or malformed token up front with one clear
// line (a BootError: retrying cannot fix it). Messages never contain the token, only what is wrong with it.
import type { HatchetConfig } from '../../config/types.js';

/** The subset of the SDK's ClientConfig we set explicitly (the SDK would otherwise also read HATCHET_CLIENT_* env). */
export interface HatchetClientSettings {
  token: string;
  host_port: string;
  api_url: string;
  tls_config: { tls_strategy: 'tls' | 'mtls' | 'none' };
  namespace: string;
  tenant_id: string;
}

/** The claims we rely on; hatchet-admin puts the engine's addresses into every token it mints. */
export interface TokenClaims {
  sub: string;
  exp: number | null;
  serverUrl: string | null;
  grpcBroadcastAddress: string | null;
}

export class HatchetConfigError extends Error {
  override name = 'HatchetConfigError';
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new HatchetConfigError(`HATCHET_CLIENT_TOKEN is malformed: its ${what} is not base64url JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HatchetConfigError(`HATCHET_CLIENT_TOKEN is malformed: its ${what} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function optionalString(claims: Record<string, unknown>, key: string): string | null {
  const v = claims[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

/** Parse and check a Hatchet API token (a JWT) without verifying its signature (the server does that). */
export function parseToken(token: string | null, now: number = Date.now()): TokenClaims {
  if (token === null || token.trim() === '') {
    throw new HatchetConfigError('HATCHET_CLIENT_TOKEN is not set (create one with `hatchet-admin token create`)');
  }
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw new HatchetConfigError('HATCHET_CLIENT_TOKEN is malformed: expected a JWT (three base64url parts)');
  }
  const header = decodeSegment(parts[0] as string, 'header');
  if (typeof header.alg !== 'string') {
    throw new HatchetConfigError('HATCHET_CLIENT_TOKEN is malformed: the JWT header has no "alg"');
  }
  const claims = decodeSegment(parts[1] as string, 'payload');
  const sub = optionalString(claims, 'sub');
  if (sub === null) {
    throw new HatchetConfigError('HATCHET_CLIENT_TOKEN is malformed: no tenant id in its "sub" claim');
  }
  const exp = typeof claims.exp === 'number' ? claims.exp : null;
  if (exp !== null && exp * 1000 <= now) {
    throw new HatchetConfigError(`HATCHET_CLIENT_TOKEN expired at ${new Date(exp * 1000).toISOString()}`);
  }
  return {
    sub,
    exp,
    serverUrl: optionalString(claims, 'server_url'),
    grpcBroadcastAddress: optionalString(claims, 'grpc_broadcast_address'),
  };
}

function checkHostPort(hostPort: string): string {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})$/.exec(hostPort);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new HatchetConfigError(`HATCHET_CLIENT_HOST_PORT must be host:port, got "${hostPort}"`);
  }
  return hostPort;
}

function checkUrl(url: string, name: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HatchetConfigError(`${name} must be an http(s) URL, got "${url}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new HatchetConfigError(`${name} must be an http(s) URL, got "${url}"`);
  }
  return url.replace(/\/+$/, '');
}

/**
 * Explicit settings beat the addresses inside the token (as in the SDK). The namespace gets the SDK's trailing
 * underscore and lower case, so names we compute match the names the SDK registers.
 */
export function clientSettings(cfg: HatchetConfig, now?: number): HatchetClientSettings {
  const claims = parseToken(cfg.token, now);
  const hostPort = cfg.hostPort ?? claims.grpcBroadcastAddress;
  if (hostPort === null) {
    throw new HatchetConfigError('HATCHET_CLIENT_HOST_PORT is not set and the token names no grpc_broadcast_address');
  }
  const apiUrl = cfg.apiUrl ?? claims.serverUrl;
  if (apiUrl === null) {
    throw new HatchetConfigError('HATCHET_CLIENT_API_URL is not set and the token names no server_url');
  }
  return {
    token: (cfg.token as string).trim(),
    host_port: checkHostPort(hostPort),
    api_url: checkUrl(apiUrl, 'HATCHET_CLIENT_API_URL'),
    tls_config: { tls_strategy: cfg.tlsStrategy ?? 'tls' },
    namespace: normalizeNamespace(cfg.namespace),
    tenant_id: claims.sub,
  };
}

export function normalizeNamespace(ns: string | null): string {
  if (ns === null || ns === '') return '';
  const lower = ns.toLowerCase();
  return lower.endsWith('_') ? lower : `${lower}_`;
}
