import { z } from 'zod';
import { DomainError, ErrorCode } from '@borealis/contracts';

const name = z.string().trim().min(1).max(256);

export const CreateTenantRequest = z.object({ name });
export const CreateProjectRequest = z.object({ name });
export const CreateApplicationRequest = z.object({ name });
export const SetActiveRequest = z.object({ isActive: z.boolean() });

/**
 * The body (or, with `what`, the query) as `schema` describes it, or `invalid_argument` naming
 * each bad field. An absent body is `{}`.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what = 'request body'): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) fields[issue.path.map(String).join('.') || '(body)'] ??= issue.message;
  throw new DomainError(ErrorCode.InvalidArgument, `invalid ${what}: ${Object.keys(fields).join(', ')}`, { fields });
}

/** The largest audit seq there can be: the column is a PostgreSQL bigint (int8). */
const INT8_MAX = 2n ** 63n - 1n;
const SEQ = /^\d{1,19}$/;
export const AuditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  // Compared in SQL with the bigint column: a larger number would fail there (500), not here (400).
  before: z
    .string()
    .regex(SEQ, 'must be the seq of an audit entry (digits)')
    // zod runs this even when the pattern failed: BigInt only sees digits.
    .refine((v) => !SEQ.test(v) || BigInt(v) <= INT8_MAX, `must be at most ${INT8_MAX}`)
    .optional(),
});

const role = z.enum(['owner', 'admin', 'developer', 'viewer']);
const email = z.string().trim().max(254).email();
/** RFC 3339 with an offset, e.g. 2026-01-31T00:00:00Z. */
const instant = z.iso.datetime({ offset: true }).transform((v) => new Date(v));

export const SignUpRequest = z.object({
  email,
  password: z.string().min(12, 'at least 12 characters').max(256),
  /** The token of a pending invitation for `email`: required where sign-up is by invitation, and accepted with the sign-up. */
  invitation: z.string().min(1).max(256).optional(),
});
export const LoginRequest = z.object({ email: z.string().max(254), password: z.string().max(256) });
export const CreateKeyRequest = z.object({ expiresAt: instant.optional() });
export const UploadKeyRequest = z.object({ publicKeyPem: z.string().min(1).max(16_384), expiresAt: instant.optional() });
export const ExpireKeyRequest = z.object({ expiresAt: instant });
export const InviteRequest = z.object({ email, role });
export const AcceptInvitationRequest = z.object({ token: z.string().min(1).max(256) });
export const SetRoleRequest = z.object({ role });
export const OperatorSessionRequest = z.object({ token: z.string().min(1).max(512) });
