import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';

/**
 * Admits requests carrying `Authorization: Bearer <adminToken>`. Both sides are hashed first, so
 * the comparison is constant-time whatever the lengths.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'adminToken'>) {
    this.expected = sha256(options.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    const { authorization } = context.switchToHttp().getRequest<{ headers: IncomingHttpHeaders }>().headers;
    const token = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    if (token === undefined || !timingSafeEqual(sha256(token), this.expected)) {
      throw new DomainError(ErrorCode.Unauthenticated, 'the admin API needs Authorization: Bearer <operator admin token>');
    }
    return true;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
