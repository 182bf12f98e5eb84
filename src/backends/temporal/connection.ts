// Connection options from the compiled config (address, namespace, TLS files, API key), shared by the worker's
// NativeConnection and the client's Connection. Secrets (key file contents, API key) never reach a log line.
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/worker';
import type { TemporalConfig } from '../../config/types.js';
import { BootError } from '../contract.js';

export interface ConnectionSettings {
  address: string;
  tls: TLSConfig | undefined;
  apiKey: string | undefined;
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    // The path is config, not a secret; the file's content is never logged.
    throw new BootError(
      `temporal TLS ${what} not readable at ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/** Reads the TLS files now, so a bad path is a BootError at start, not a retry loop of failed connects. */
export function connectionSettings(cfg: TemporalConfig): ConnectionSettings {
  const { tls } = cfg;
  const wantsTls =
    tls.enabled || tls.clientCertPath !== null || tls.serverCaCertPath !== null || tls.serverName !== null;
  if ((tls.clientCertPath === null) !== (tls.clientKeyPath === null)) {
    throw new BootError('temporal TLS needs both a client certificate and a client key, or neither');
  }
  let tlsConfig: TLSConfig | undefined;
  if (wantsTls) {
    tlsConfig = {};
    if (tls.serverName !== null) tlsConfig.serverNameOverride = tls.serverName;
    if (tls.serverCaCertPath !== null) tlsConfig.serverRootCACertificate = readPem('server CA', tls.serverCaCertPath);
    if (tls.clientCertPath !== null && tls.clientKeyPath !== null) {
      tlsConfig.clientCertPair = {
        crt: readPem('client certificate', tls.clientCertPath),
        key: readPem('client key', tls.clientKeyPath),
      };
    }
  }
  // With an API key and no explicit TLS settings the SDK turns TLS on by itself (Temporal Cloud).
  return { address: cfg.address, tls: tlsConfig, apiKey: cfg.apiKey ?? undefined };
}

/** Log-safe description of the connection: no key material, no API key. */
export function describeConnection(cfg: TemporalConfig): Record<string, unknown> {
  return {
    address: cfg.address,
    namespace: cfg.namespace,
    tls: cfg.tls.enabled || cfg.tls.clientCertPath !== null || cfg.tls.serverCaCertPath !== null,
    mtls: cfg.tls.clientCertPath !== null,
    apiKey: cfg.apiKey ? 'set' : 'unset',
  };
}
