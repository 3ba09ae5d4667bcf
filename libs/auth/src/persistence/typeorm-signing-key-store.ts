import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { SigningKeyStore, type StoredSigningKey } from '../signing/signing-keys';
import { AUTH_CONNECTION, AdvisoryLock } from './database';
import { SigningKeyEntity } from './entities';

@Injectable()
export class TypeOrmSigningKeyStore extends SigningKeyStore {
  constructor(@InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource) {
    super();
  }

  async newest(count: number): Promise<StoredSigningKey[]> {
    const rows = await this.dataSource.getRepository(SigningKeyEntity).find({ order: { seq: 'DESC' }, take: count });
    return rows.map(({ kid, privateKeyPem, createdAt }) => ({ kid, privateKeyPem, createdAt }));
  }

  async add(key: StoredSigningKey, onlyIfNone: boolean): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      if (onlyIfNone) {
        await em.query('SELECT pg_advisory_xact_lock($1)', [AdvisoryLock.signingKeys]);
        if (await em.getRepository(SigningKeyEntity).exists()) return;
      }
      await em.getRepository(SigningKeyEntity).insert(key);
    });
  }
}
