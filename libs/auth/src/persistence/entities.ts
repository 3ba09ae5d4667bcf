import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** An organization. Tenant names are unique. */
@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** A project of a tenant: the unit app servers authenticate as and send for. */
@Entity('projects')
export class ProjectEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'tenant_id', type: 'text' })
  tenantId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'is_active', type: 'boolean' })
  isActive!: boolean;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** The one OAuth2 client of a project; app servers authenticate as it with `private_key_jwt`. */
@Entity('service_accounts')
export class ServiceAccountEntity {
  @PrimaryColumn({ name: 'client_id', type: 'text' })
  clientId!: string;

  @Column({ name: 'project_id', type: 'text' })
  projectId!: string;

  @Column({ type: 'text', array: true })
  scopes!: string[];

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** A public key of a service account. The private half was handed out once and is not kept. */
@Entity('service_account_keys')
export class ServiceAccountKeyEntity {
  @PrimaryColumn({ type: 'text' })
  kid!: string;

  @Column({ name: 'client_id', type: 'text' })
  clientId!: string;

  @Column({ name: 'public_key_pem', type: 'text' })
  publicKeyPem!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt!: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}

/** An application of a project (Aurora `applicationId`), the thing devices register for. */
@Entity('applications')
export class ApplicationEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'project_id', type: 'text' })
  projectId!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ name: 'is_active', type: 'boolean' })
  isActive!: boolean;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}

/** auth's own access-token signing keys; the highest `seq` is the current one. */
@Entity('signing_keys')
export class SigningKeyEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  seq!: string;

  @Column({ type: 'text' })
  kid!: string;

  @Column({ name: 'private_key_pem', type: 'text' })
  privateKeyPem!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}

/** Registry events written in the same transaction as the change they describe, relayed in `seq` order. */
@Entity('registry_outbox')
export class RegistryOutboxEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  seq!: string;

  @Column({ type: 'jsonb' })
  payload!: unknown;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'published_at', type: 'timestamptz', nullable: true })
  publishedAt!: Date | null;
}

export const AUTH_ENTITIES = [
  TenantEntity,
  ProjectEntity,
  ServiceAccountEntity,
  ServiceAccountKeyEntity,
  ApplicationEntity,
  SigningKeyEntity,
  RegistryOutboxEntity,
];
