import { Controller, Get, Header, Post, UseGuards } from '@nestjs/common';
import { OperatorOnly, Public } from '../access/access';
import { AccessGuard } from '../access/access.guard';
import { SigningKeys } from '../signing/signing-keys';
import { ManagementDocs } from './management-docs';
import { Operation } from './operation';

/** Operator-only operations, and the API's own description. */
@Controller('auth/admin/v1')
@UseGuards(AccessGuard)
export class OperatorController {
  constructor(
    private readonly signingKeys: SigningKeys,
    private readonly docs: ManagementDocs,
  ) {}

  /** Makes a new current access-token signing key; the previous one stays in the JWKS. */
  @Post('signing-keys')
  @OperatorOnly()
  @Operation('Rotate the access-token signing key (the previous key stays in the JWKS)')
  async rotateSigningKey(): Promise<{ kid: string }> {
    return { kid: await this.signingKeys.rotateSigningKey() };
  }

  @Get('openapi.json')
  @Public()
  @Header('Cache-Control', 'public, max-age=300')
  @Operation('This document (OpenAPI 3.1); a browsable UI is at /auth/admin/docs')
  openApi(): Record<string, unknown> {
    return this.docs.document;
  }
}
