import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ClientDirectory, type ClientKeyRecord, type ClientRecord } from '../token/client-directory';
import { AUTH_CONNECTION } from './database';
import { ServiceAccountKeyEntity } from './entities';

@Injectable()
export class TypeOrmClientDirectory extends ClientDirectory {
  constructor(@InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource) {
    super();
  }

  async findClient(clientId: string): Promise<ClientRecord | null> {
    const rows: { client_id: string; project_id: string; scopes: string[]; is_active: boolean }[] = await this.dataSource.query(
      `SELECT sa.client_id, sa.project_id, sa.scopes, p.is_active
         FROM service_accounts sa JOIN projects p ON p.id = sa.project_id
        WHERE sa.client_id = $1`,
      [clientId],
    );
    const row = rows[0];
    return row ? { clientId: row.client_id, projectId: row.project_id, scopes: row.scopes, projectActive: row.is_active } : null;
  }

  async findKey(clientId: string, kid: string): Promise<ClientKeyRecord | null> {
    const key = await this.dataSource.getRepository(ServiceAccountKeyEntity).findOneBy({ clientId, kid });
    return key && { kid: key.kid, publicKeyPem: key.publicKeyPem, expiresAt: key.expiresAt, revokedAt: key.revokedAt };
  }

  async activeKeys(clientId: string, nowMs: number, limit: number): Promise<ClientKeyRecord[]> {
    const rows: { kid: string; public_key_pem: string; expires_at: Date | null }[] = await this.dataSource.query(
      `SELECT kid, public_key_pem, expires_at
         FROM service_account_keys
        WHERE client_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
        ORDER BY created_at DESC
        LIMIT $3`,
      [clientId, new Date(nowMs), limit],
    );
    return rows.map((r) => ({ kid: r.kid, publicKeyPem: r.public_key_pem, expiresAt: r.expires_at, revokedAt: null }));
  }
}
