import { SetMetadata } from '@nestjs/common';
import type { z } from 'zod';

/** What the OpenAPI document says about a management route. */
export interface OperationDoc {
  summary: string;
  body?: z.ZodType;
  query?: Record<string, string>;
}

export const OPERATION_DOC = 'borealis:auth:operation';

export const Operation = (summary: string, extra: Omit<OperationDoc, 'summary'> = {}) => SetMetadata(OPERATION_DOC, { summary, ...extra } satisfies OperationDoc);
