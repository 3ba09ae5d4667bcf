import { z } from 'zod';
import { DomainError, ErrorCode } from '@borealis/contracts';

const name = z.string().trim().min(1).max(256);

export const CreateTenantRequest = z.object({ name });
export const CreateProjectRequest = z.object({ name });
export const CreateApplicationRequest = z.object({ name });
export const SetActiveRequest = z.object({ isActive: z.boolean() });
export const CreateServiceAccountRequest = z.object({});

/** The body as `schema` describes it, or `invalid_argument` naming each bad field. An absent body is `{}`. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) fields[issue.path.map(String).join('.') || '(body)'] ??= issue.message;
  throw new DomainError(ErrorCode.InvalidArgument, `invalid request body: ${Object.keys(fields).join(', ')}`, { fields });
}
