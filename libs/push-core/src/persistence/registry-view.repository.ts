import { Injectable } from '@nestjs/common';
import type { Sql } from './push-db';

export interface ProjectView {
  id: string;
  isActive: boolean;
  updatedAtMs: number;
}

export interface ApplicationView extends ProjectView {
  projectId: string;
  /** SHA-256 (hex) of the secret devices must present to register; null: none required. */
  registrationSecretHash: string | null;
}

/** push-core's copy of auth's registry: only what validation needs. */
@Injectable()
export class RegistryViewRepository {
  /** Applies each entry unless the stored one is newer (the topic may replay older states). */
  async upsertProjects(sql: Sql, projects: readonly ProjectView[]): Promise<void> {
    if (projects.length === 0) return;
    await sql(
      `INSERT INTO registry_projects (id, is_active, updated_at_ms)
       SELECT * FROM unnest($1::text[], $2::boolean[], $3::bigint[])
       ON CONFLICT (id) DO UPDATE SET is_active = EXCLUDED.is_active, updated_at_ms = EXCLUDED.updated_at_ms
         WHERE registry_projects.updated_at_ms <= EXCLUDED.updated_at_ms`,
      [projects.map((p) => p.id), projects.map((p) => p.isActive), projects.map((p) => p.updatedAtMs)],
    );
  }

  async upsertApplications(sql: Sql, applications: readonly ApplicationView[]): Promise<void> {
    if (applications.length === 0) return;
    await sql(
      `INSERT INTO registry_applications (id, project_id, is_active, updated_at_ms, registration_secret_hash)
       SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bigint[], $5::text[])
       ON CONFLICT (id) DO UPDATE
         SET project_id = EXCLUDED.project_id, is_active = EXCLUDED.is_active, updated_at_ms = EXCLUDED.updated_at_ms,
             registration_secret_hash = EXCLUDED.registration_secret_hash
         WHERE registry_applications.updated_at_ms <= EXCLUDED.updated_at_ms`,
      [
        applications.map((a) => a.id),
        applications.map((a) => a.projectId),
        applications.map((a) => a.isActive),
        applications.map((a) => a.updatedAtMs),
        applications.map((a) => a.registrationSecretHash),
      ],
    );
  }

  /** Whether each known project is active; unknown projects are missing from the map. */
  async projectsActive(sql: Sql, projectIds: readonly string[]): Promise<Map<string, boolean>> {
    const rows = await sql<{ id: string; is_active: boolean }>(`SELECT id, is_active FROM registry_projects WHERE id = ANY($1)`, [projectIds]);
    return new Map(rows.map((r) => [r.id, r.is_active]));
  }

  /** Whether each application is active, keyed by `applicationKey`; only those in the given projects. */
  async applicationsActive(sql: Sql, refs: readonly { projectId: string; applicationId: string }[]): Promise<Map<string, boolean>> {
    if (refs.length === 0) return new Map();
    const rows = await sql<{ project_id: string; id: string; is_active: boolean }>(
      `SELECT a.project_id, a.id, a.is_active
         FROM registry_applications a
         JOIN unnest($1::text[], $2::text[]) AS ref(project_id, id) ON ref.project_id = a.project_id AND ref.id = a.id`,
      [refs.map((r) => r.projectId), refs.map((r) => r.applicationId)],
    );
    return new Map(rows.map((r) => [applicationKey(r.project_id, r.id), r.is_active]));
  }

  /** An application with its project's state (undefined when the project is not in the view). */
  async application(
    sql: Sql,
    applicationId: string,
  ): Promise<{ projectId: string; isActive: boolean; projectActive: boolean | undefined; registrationSecretHash: string | null } | undefined> {
    const [row] = await sql<{ project_id: string; is_active: boolean; project_active: boolean | null; registration_secret_hash: string | null }>(
      `SELECT a.project_id, a.is_active, p.is_active AS project_active, a.registration_secret_hash
         FROM registry_applications a LEFT JOIN registry_projects p ON p.id = a.project_id
        WHERE a.id = $1`,
      [applicationId],
    );
    return row && { projectId: row.project_id, isActive: row.is_active, projectActive: row.project_active ?? undefined, registrationSecretHash: row.registration_secret_hash };
  }
}

export function applicationKey(projectId: string, applicationId: string): string {
  return `${projectId}\n${applicationId}`;
}
