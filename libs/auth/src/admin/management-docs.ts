import { Inject, Injectable, type Type } from '@nestjs/common';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { MANAGEMENT_CONTROLLERS, openApiDocument, routesOf } from './management-routes';

/** The management API's OpenAPI document, built once from the controllers' own metadata. */
@Injectable()
export class ManagementDocs {
  readonly document: Record<string, unknown>;

  constructor(@Inject(MANAGEMENT_CONTROLLERS) controllers: Type[], @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'issuer'>) {
    this.document = openApiDocument(routesOf(controllers), new URL(options.issuer).origin);
  }
}
