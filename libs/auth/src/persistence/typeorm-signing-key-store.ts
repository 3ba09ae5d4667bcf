import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { SigningKeyCipher } from '../signing/signing-key-cipher';
import { SigningKeyStore, type StoredSigningKey } from '../signing/signing-keys';
import { AUTH_CONNECTION, AdvisoryLock } from './database';
import { SigningKeyEntity } from './entities';

/** Signing keys in auth's database, sealed: the database never sees a private key in clear. */
@Injectable()
export class TypeOrmSigningKeyStore extends SigningKeyStore {
  constructor(
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    private readonly cipher: SigningKeyCipher,
  ) {
    super();
  }

  async newest(count: number): Promise<StoredSigningKey[]> {
    const rows = await this.dataSource.getRepository(SigningKeyEntity).find({ order: { seq: 'DESC' }, take: count });
    return rows.map(({ kid, sealedPrivateKey, createdAt }) => ({ kid, privateKeyPem: this.cipher.open(kid, sealedPrivateKey), createdAt }));
  }

  async add(key: StoredSigningKey, onlyIfNone: boolean): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      if (onlyIfNone) {
        await em.query('SELECT pg_advisory_xact_lock($1)', [AdvisoryLock.signingKeys]);
        if (await em.getRepository(SigningKeyEntity).exists()) return;
      }
      await em.getRepository(SigningKeyEntity).insert({ kid: key.kid, sealedPrivateKey: this.cipher.seal(key.kid, key.privateKeyPem), createdAt: key.createdAt });
    });
  }
}
