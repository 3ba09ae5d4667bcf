/** A service account as the token endpoint sees it. */
export interface ClientRecord {
  clientId: string;
  projectId: string;
  scopes: readonly string[];
  projectActive: boolean;
}

export interface ClientKeyRecord {
  kid: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** Lookup of OAuth2 clients (service accounts) and their public keys. */
export abstract class ClientDirectory {
  abstract findClient(clientId: string): Promise<ClientRecord | null>;
  /** The key `kid` of this client only: another account's key is not found. */
  abstract findKey(clientId: string, kid: string): Promise<ClientKeyRecord | null>;
  /** This client's keys that are neither revoked nor expired at `nowMs`, newest first, at most `limit`. */
  abstract activeKeys(clientId: string, nowMs: number, limit: number): Promise<ClientKeyRecord[]>;
}
